"""``simattest explain [CODE]``: what a verdict's reason code means and what to do next."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from typing import Any

from attest.errors import InputError
from attest.reasons import REASONS, explain
from server.cli.output import add_json_flag, print_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain", help="what a verdict's reason code means, and the next step",
        description="Explain one reason code of a checkout verdict (e.g. CLONED_SIM), or "
                    "list them all.")
    parser.add_argument("code", nargs="?", metavar="CODE",
                        help="a reason code, e.g. ME_SIGNATURE_INVALID (any case); "
                             "without it, every code")
    add_json_flag(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.code is None:
        entries = list(REASONS.values())
    else:
        found = explain(args.code.strip().upper())
        if found is None:
            raise InputError(f"{args.code}: not a reason code; simattest explain lists "
                             f"them all ({', '.join(REASONS)})")
        entries = [found]
    if args.json:
        print_json([r.to_json() for r in entries])
        return 0
    for i, reason in enumerate(entries):
        if i:
            print()
        print(reason_text(reason.code))
    return 0


def reason_text(code: str) -> str:
    """A code with its meaning and next step, as the CLI prints it under a verdict."""
    found = explain(code)
    if found is None:
        return f"{code}\n  (no explanation in this version of simattest)"
    width = min(shutil.get_terminal_size().columns, 100)
    meaning = textwrap.fill(found.meaning, width, initial_indent="  ",
                            subsequent_indent="  ")
    step = textwrap.fill(found.next_step, width, initial_indent="  next: ",
                         subsequent_indent="        ")
    return f"{code}\n{meaning}\n{step}"
