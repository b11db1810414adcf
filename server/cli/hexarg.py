"""Hex values (and digit strings) on the command line: checked at the edge, bytes inside.

``hex_bytes(name, size)`` is an argparse ``type=``: it turns ``"00ff…"`` into bytes or
raises ``argparse.ArgumentTypeError`` with one line naming the option and the problem,
for example ``--rand: expected 16 bytes (32 hex digits), got 15``. The value itself is
never repeated in the message: it may be a key (K, OP, OPc).

``digits(name)`` is the ``type=`` for an identifier typed as digits (an IMEI, an
ICCID) that goes into a URL path: only ASCII digits pass.

``OneLineErrorParser`` is an argparse parser class (``add_subparsers(parser_class=…)``)
whose usage errors are exactly one line on stderr with exit code 2, without the usage
dump, as the CLI promises for bad input.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from collections.abc import Callable
from typing import NoReturn

_HEX_DIGITS = frozenset(string.hexdigits)


def _sizes_text(sizes: tuple[int, ...]) -> str:
    in_bytes = " or ".join(str(s) for s in sizes)
    in_digits = " or ".join(str(2 * s) for s in sizes)
    return f"{in_bytes} bytes ({in_digits} hex digits)"


def hex_bytes(name: str, size: int | tuple[int, ...] | None) -> Callable[[str], bytes]:
    """An argparse ``type=`` parsing hex into bytes of ``size`` (one size, several, or any).

    Whitespace is ignored, so values can be pasted as the specifications print them
    (TS 35.208 groups of eight digits: ``"23553cbe 9637a89d ..."``); anything else that
    is not a hex digit is an error naming its position in what was typed.
    """
    sizes = (size,) if isinstance(size, int) else size

    def parse(text: str) -> bytes:
        digits = "".join(text.split())
        bad = next(
            (i for i, ch in enumerate(text) if not ch.isspace() and ch not in _HEX_DIGITS), None
        )
        if bad is not None:
            # Position only, never the character: the rest of the value may be a key.
            raise argparse.ArgumentTypeError(
                f"{name}: not hex (character {bad + 1} is not 0-9 or a-f)"
            )
        if len(digits) % 2:
            raise argparse.ArgumentTypeError(f"{name}: odd number of hex digits ({len(digits)})")
        value = bytes.fromhex(digits)
        if sizes is not None and len(value) not in sizes:
            raise argparse.ArgumentTypeError(
                f"{name}: expected {_sizes_text(sizes)}, got {len(value)}"
            )
        return value

    parse.__name__ = f"hex value for {name}"
    return parse


def digits(name: str) -> Callable[[str], str]:
    """An argparse ``type=`` accepting only ASCII decimal digits (the service checks the
    length and the Luhn digit; this keeps anything else out of the request path)."""

    def parse(text: str) -> str:
        if not (text.isascii() and text.isdigit()):
            raise argparse.ArgumentTypeError(f"{name}: expected digits")
        return text

    parse.__name__ = f"digits for {name}"
    return parse


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse parser that reports a usage error as one line and exits 2 (a command
    group given without its subcommand prints its usage instead)."""

    def _missing_subcommand(self, message: str) -> bool:
        groups = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
        return any(message == f"the following arguments are required: {a.metavar or a.dest}"
                   for a in groups)

    # hex_bytes names the option itself; argparse would prefix "argument --x: " (or
    # "argument --k/--ki: ") again.
    _NAMED_TWICE = re.compile(r"^argument (\S+): (\S+): ")

    def error(self, message: str) -> NoReturn:
        if self._missing_subcommand(message):
            # `simattest desk` alone: what it can do, rather than "COMMAND is required".
            self.print_help(sys.stderr)
            self.exit(2)
        named = self._NAMED_TWICE.match(message)
        if named and named.group(2) in named.group(1).split("/"):
            message = message[len(f"argument {named.group(1)}: "):]
        self.exit(2, f"{self.prog}: {message}\n")
