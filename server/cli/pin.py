"""``simattest pin status|verify|change|enable|disable|unblock --reader URI``: the card's
PINs on the bench (PIN1, PIN2 or the universal PIN with ``--pin-ref``; the PUK for
unblock), the attempts left shown before and after each command.

The values are never taken from the command line (where ``ps`` and the shell history
would keep them), never echoed and never logged: each comes from a file given with its
option (``-`` for standard input, one value per line), from its environment variable
(``SIMATTEST_PIN``, ``SIMATTEST_NEW_PIN``, ``SIMATTEST_PUK``), or is asked for on the
terminal without echo (a new PIN twice).  The last attempt of a PIN or PUK is never spent
without ``--force``.

Exit codes: 0 done, 1 the card said no (wrong PIN, blocked, last attempt kept), 2 bad
input, 3 reader error.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from attest.errors import InputError
from attest.textfile import read_text
from hw.pins import REFERENCES, PinCommandFailed, pin_statuses, run_pin_command, status_json
from hw.transport.base import open_transport
from hw.uicc.ts_102_221 import PinStatus
from server.cli.output import add_json_flag, print_json, print_table

PIN_ENV, NEW_PIN_ENV, PUK_ENV = "SIMATTEST_PIN", "SIMATTEST_NEW_PIN", "SIMATTEST_PUK"
_REFS = ("pin1", "pin2", "universal")
_HELP = {
    "verify": "verify the PIN (ask the card whether it is right)",
    "change": "change the PIN (old and new value)",
    "enable": "enable the PIN: the card asks for it again at power-on",
    "disable": "disable the PIN: the card no longer asks for it",
    "unblock": "unblock the PIN with its PUK and set a new PIN",
}


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "pin", help="PIN management: status, verify, change, enable, disable, unblock",
        description="Manage a card's PINs (TS 102 221): attempts left before and after; the "
                    "last attempt is never spent without --force; values from a file, an "
                    f"environment variable ({PIN_ENV}, {NEW_PIN_ENV}, {PUK_ENV}) or asked "
                    "for without echo, never from the command line.")
    sub = group.add_subparsers(dest="pin_command", required=True, metavar="COMMAND")
    status = sub.add_parser("status", help="each PIN: enabled, verified, attempts left (PIN "
                                           "and PUK); spends nothing")
    _add_reader(status)
    add_json_flag(status)
    status.set_defaults(func=_status)
    for action, text in _HELP.items():
        parser = sub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        _add_reader(parser)
        parser.add_argument("--pin-ref", choices=_REFS, default="pin1",
                            help="which PIN: pin1 (default), pin2 or universal (the "
                                 "universal PIN)")
        if action == "unblock":
            _add_value(parser, "--puk-file", "the PUK (8 digits)", PUK_ENV)
        else:
            _add_value(parser, "--pin-file", "the PIN" + (" (current value)" if action ==
                                                         "change" else ""), PIN_ENV)
        if action in ("change", "unblock"):
            _add_value(parser, "--new-pin-file", "the new PIN (4-8 digits)", NEW_PIN_ENV)
        parser.add_argument("--force", action="store_true",
                            help="allow spending the last attempt (a blocked PIN needs the "
                                 "PUK; a blocked PUK makes the card useless)")
        add_json_flag(parser)
        parser.set_defaults(func=_command, action=action)


def _add_reader(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reader", required=True, metavar="URI",
                        help="pcsc:N, pcsc:<glob>, modem:<dev>, sim:<file>")


def _add_value(parser: argparse.ArgumentParser, flag: str, what: str, env: str) -> None:
    parser.add_argument(flag, type=Path, metavar="FILE",
                        help=f"read {what} from FILE ('-': standard input); else ${env}, "
                             "else asked for on the terminal")


def _status(args: argparse.Namespace) -> int:
    with open_transport(args.reader) as transport:
        statuses = pin_statuses(transport)
    if args.json:
        print_json([status_json(s) for s in statuses])
    else:
        print_table(("PIN", "enabled", "verified", "attempts left", "PUK attempts left"),
                    [_status_row(status_json(s)) for s in statuses],
                    title=f"PINs of the card in {args.reader}")
    return 0


def _status_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    def yes_no(value: bool | None) -> str:
        return "?" if value is None else "yes" if value else "no"

    return (doc["pin"], yes_no(doc["enabled"]), yes_no(doc["verified"]),
            "-" if doc["attempts_left"] is None else doc["attempts_left"],
            "no PUK" if doc["puk_attempts_left"] is None else doc["puk_attempts_left"])


class _NothingToDo(Exception):
    """The PIN is already as asked (enabled, disabled): a success, nothing sent."""


class _Values:
    """Where each secret comes from; read once, and only when the command needs it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._stdin_lines: list[str] | None = None

    def _stdin(self) -> str:
        if self._stdin_lines is None:
            self._stdin_lines = sys.stdin.read().splitlines()
        if not self._stdin_lines:
            raise InputError("standard input holds fewer values than the command needs")
        return self._stdin_lines.pop(0).strip()

    def get(self, flag: str, env: str, prompt: str, confirm: bool = False) -> str:
        path: Path | None = getattr(self.args, flag.lstrip("-").replace("-", "_"))
        if path is not None:
            if str(path) == "-":
                return self._stdin()
            lines = read_text(path).splitlines()
            if not lines or not lines[0].strip():
                raise InputError(f"{path}: empty; expected {prompt} on its first line")
            return lines[0].strip()
        if os.environ.get(env):
            return os.environ[env]
        if not sys.stdin.isatty():
            raise InputError(f"give {prompt} with {flag} FILE or ${env} (no terminal to ask "
                             "on)")
        value = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} again: ") != value:
            raise InputError(f"the two entries of {prompt} differ; nothing was sent")
        return value


def _checked(value: str, what: str, low: int, high: int) -> str:
    """Digits of the right length, refused here (no attempt spent, value never shown)."""
    if not (value.isascii() and value.isdigit() and low <= len(value) <= high):
        span = str(low) if low == high else f"{low} to {high}"
        raise InputError(f"{what} must be {span} digits; nothing was sent to the card")
    return value


def _command(args: argparse.Namespace) -> int:
    action: str = args.action
    source = _Values(args)

    def values(status: PinStatus) -> tuple[str, ...]:
        name = status.name
        if (action, status.enabled) in (("enable", True), ("disable", False)):
            raise _NothingToDo(f"{name} is {action}d already; nothing was sent")
        if action == "verify" and status.enabled is False:
            raise _NothingToDo(f"{name} is disabled: the card does not ask for it; nothing "
                               "was sent")
        if action == "change" and status.enabled is False:
            raise InputError(f"{name} is disabled: enable it first (simattest pin enable)")
        if action == "unblock":
            puk = _checked(source.get("--puk-file", PUK_ENV, f"PUK of {name}"), "the PUK",
                           8, 8)
            return puk, _new_pin(source, name)
        pin = _checked(source.get("--pin-file", PIN_ENV, name + (" (current)" if action ==
                                                                "change" else "")),
                       name, 4, 8)
        return (pin, _new_pin(source, name)) if action == "change" else (pin,)

    try:
        with open_transport(args.reader) as transport:
            change = run_pin_command(transport, action, REFERENCES[args.pin_ref],
                                     values=values, force=args.force)
    except _NothingToDo as exc:
        print(exc)
        return 0
    except PinCommandFailed as exc:
        _show(args, action, exc.before, exc.after, done=False)
        raise
    _show(args, action, change.before, change.after, done=True)
    return 0


def _new_pin(source: _Values, name: str) -> str:
    return _checked(source.get("--new-pin-file", NEW_PIN_ENV, f"new {name}", confirm=True),
                    f"the new {name}", 4, 8)


_DONE = {"verify": "verified", "change": "changed", "enable": "enabled",
         "disable": "disabled", "unblock": "unblocked (and set to the new value)"}


def _show(args: argparse.Namespace, action: str, before: PinStatus, after: PinStatus, *,
          done: bool) -> None:
    """The PIN before and after the command (also after a refusal, with its error)."""
    old, new = status_json(before), status_json(after)
    if args.json:
        print_json({"action": action, "done": done, "before": old, "after": new})
        return
    labels = ("enabled", "verified", "attempts left", "PUK attempts left")
    print_table(("", "before", "after"),
                zip(labels, _status_row(old)[1:], _status_row(new)[1:], strict=True),
                title=f"{old['pin']} on {args.reader}")
    if done:
        print(f"{old['pin']} {_DONE[action]}")
