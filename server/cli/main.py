"""The ``simattest`` command: argument parsing and the one place errors become exit codes.

Each command group lives in its own module under ``server/cli/`` with a
``register(subparsers)`` function, listed in ``COMMAND_MODULES`` (one line per group);
commands parse, call one domain function, format through ``server.cli.output``, and
return their exit code.  Every subparser is a ``OneLineErrorParser``: a usage error is
one line on stderr, exit 2.  Exceptions become exit codes here, from their class's
``exit_code`` (``attest.errors``).
Exit codes: 0 success, 1 the card said no, 2 usage or input error, 3 reader/transport error
(130 interrupted, 141 standard output closed early, as after SIGPIPE).

Global options, before the command: ``--version``, ``-v``, and ``--profiles DIR``
(repeatable), which puts DIR before the directories of ``SIMATTEST_PROFILES`` for this
command and every process it starts (``serve``'s workers). When extra profile directories
are set, their profiles are checked before the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence

from attest.errors import SimattestError
from attest.textfile import os_reason
from hw.cardfile import PROFILES_ENV, extra_profile_dirs, load_profiles
from server.cli.hexarg import OneLineErrorParser

# One line per command group; each module defines register(subparsers).
COMMAND_MODULES: tuple[str, ...] = (
    "server.cli.modem",
    "server.cli.aka",
    "server.cli.readers",
    "server.cli.sim",
    "server.cli.card",
    "server.cli.checkout",
    "server.cli.explain",
    "server.cli.desk",
    "server.cli.serve",
    "server.cli.admin",
    "server.cli.pool",
    "server.cli.device",
    "server.cli.pairing",
    "server.cli.audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="simattest",
        description="USIM/ISIM card access and handset-SIM attestation for public-safety pools",
    )
    parser.add_argument("--version", action="version", version=f"simattest {_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: APDUs)")
    parser.add_argument(
        "--profiles", action="append", default=[], metavar="DIR",
        help=f"a directory of extra card profiles (*.yaml), repeatable; read before those "
             f"in {PROFILES_ENV} (directories separated by {os.pathsep!r})",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser
    )
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("simattest")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C may come while the command modules are still being imported (a second or
    # so): that is an interruption too, not a traceback.
    try:
        code = _run(argv)
        # Output piped into e.g. `head` that has exited: found here at the latest.
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("simattest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # As the Python documentation advises for SIGPIPE: send what is still buffered
        # to /dev/null so the flush at exit does not fail again, and report failure
        # the way a process killed by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        with _extra_profiles(args.profiles):
            return int(args.func(args) or 0)
    except SimattestError as exc:
        print(f"simattest: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        raise
    except OSError as exc:
        # Last line of defence: a file problem no command anticipated is still one line.
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"simattest: {where}{os_reason(exc)}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _extra_profiles(dirs: list[str]) -> Iterator[None]:
    """``--profiles``: ``dirs`` before those of ``SIMATTEST_PROFILES``, for the command and
    the processes it starts; then every extra profile is checked. The setting is restored
    afterwards, as ``main`` may run again in this process (the tests do)."""
    saved = os.environ.get(PROFILES_ENV)
    if dirs:
        os.environ[PROFILES_ENV] = os.pathsep.join([*dirs, saved] if saved else dirs)
    try:
        if extra_profile_dirs():
            load_profiles()
        yield
    finally:
        if saved is None:
            os.environ.pop(PROFILES_ENV, None)
        else:
            os.environ[PROFILES_ENV] = saved


if __name__ == "__main__":
    sys.exit(main())
