"""The ``simattest`` command: argument parsing and the one place errors become exit codes.

Each command group lives in its own module under ``server/cli/`` with a
``register(subparsers)`` function, listed in ``COMMAND_MODULES`` (one line per group);
commands parse, call one domain function, format through ``server.cli.output``, and
return their exit code.  Every subparser is a ``OneLineErrorParser``: a usage error is
one line on stderr, exit 2.  Exceptions become exit codes here, from their class's
``exit_code`` (``attest.errors``).
Exit codes: 0 success, 1 the card said no, 2 usage or input error, 3 reader/transport error
(130 interrupted, 141 standard output closed early, as after SIGPIPE).

``-v``/``-vv``, ``-q`` and ``--no-color`` are accepted anywhere on the line (every
parser has them); ``--version`` and ``--profiles DIR`` (repeatable) come before the
command. ``--profiles`` puts DIR before the directories of ``SIMATTEST_PROFILES`` for this
command and every process it starts (``serve``'s workers). When extra profile directories
are set, their profiles are checked before the command runs. Bare ``simattest`` prints the
usage.
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
from typing import Any

from attest.errors import SimattestError
from attest.textfile import os_reason
from hw.cardfile import PROFILES_ENV, extra_profile_dirs, load_profiles
from server.cli import output
from server.cli.hexarg import OneLineErrorParser

# One line per command group; each module defines register(subparsers).
COMMAND_MODULES: tuple[str, ...] = (
    "server.cli.modem",
    "server.cli.aka",
    "server.cli.readers",
    "server.cli.sim",
    "server.cli.card",
    "server.cli.pin",
    "server.cli.checkout",
    "server.cli.explain",
    "server.cli.desk",
    "server.cli.idms",
    "server.cli.serve",
    "server.cli.admin",
    "server.cli.pool",
    "server.cli.device",
    "server.cli.pairing",
    "server.cli.audit",
    "server.cli.backup",
    "server.cli.config",
    "server.cli.status",
    "server.cli.cx",
    "server.cli.ims",
    "server.cli.lists",
    "server.cli.completion",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="simattest",
        description="USIM/ISIM card access and handset-SIM attestation for public-safety pools",
    )
    parser.add_argument("--version", action="version", version=f"simattest {_version()}",
                        help="print the version and exit")
    parser.add_argument(
        "--profiles", action="append", default=[], metavar="DIR",
        help=f"a directory of extra card profiles (*.yaml), repeatable; read before those "
             f"in {PROFILES_ENV} (directories separated by {os.pathsep!r})",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineErrorParser
    )
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for depth, each in _all_parsers(parser):
        _add_output_options(each, depth)
    return parser


def _all_parsers(
    parser: argparse.ArgumentParser, depth: int = 0
) -> Iterator[tuple[int, argparse.ArgumentParser]]:
    """Every parser of the tree with its depth (0: ``simattest`` itself), each once."""
    yield depth, parser
    seen: set[int] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if id(child) not in seen:  # an alias names the same parser again
                    seen.add(id(child))
                    yield from _all_parsers(child, depth + 1)


# A subcommand's parser fills a namespace of its own that is then copied over its
# parent's, so each level counts -v into a field of its own and _run adds them up.
_VERBOSE_PREFIX = "verbose_"


def _add_output_options(parser: argparse.ArgumentParser, depth: int) -> None:
    """-v/-q/--no-color on this parser: only the top one has defaults, so a subcommand
    that did not see the option leaves what an earlier level read."""
    unset = argparse.SUPPRESS if depth else None
    group = parser.add_argument_group("output options")
    group.add_argument("-v", "--verbose", action="count", dest=f"{_VERBOSE_PREFIX}{depth}",
                       default=unset if depth else 0,
                       help="say more: -v the steps and the service's HTTP answers, "
                            "-vv also every APDU")
    group.add_argument("-q", "--quiet", action="store_true", default=unset or False,
                       help="only errors on stderr (no warnings or progress)")
    group.add_argument("--no-color", action="store_true", default=unset or False,
                       help="no colours in tables (also when NO_COLOR is set)")


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
    if args.command is None:
        # Bare `simattest`: what it can do, not one line about a missing argument.
        parser.print_help(sys.stderr)
        return 2
    verbose = sum(v for k, v in vars(args).items() if k.startswith(_VERBOSE_PREFIX))
    level = logging.ERROR if args.quiet else logging.WARNING - 10 * min(verbose, 2)
    _log_to_stderr(level)
    output.configure(color=not args.no_color, quiet=args.quiet)
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


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (the tests replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


_LOG_HANDLER = _StderrHandler()
_LOG_HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


def _log_to_stderr(level: int) -> None:
    """Log records at ``level`` and above to standard error. Not ``logging.basicConfig``:
    main may run again in this process (the tests do), with another -v, and other
    handlers may already be there."""
    _LOG_HANDLER.setLevel(level)  # also for loggers with a level of their own (werkzeug's)
    root = logging.getLogger()
    if _LOG_HANDLER not in root.handlers:
        root.addHandler(_LOG_HANDLER)
    root.setLevel(level)


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
