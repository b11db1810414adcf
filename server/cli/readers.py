"""``simattest readers``: the PC/SC readers pcscd knows, card presence and ATR."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hw.transport.pcsc import list_readers
from server.cli.output import add_json_flag, print_json, print_table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "readers",
        help="list PC/SC readers: index, name, card present, ATR",
        description="Readers as pcscd reports them; use 'pcsc:<index>' or 'pcsc:<name glob>' "
        "as --reader in the other commands.",
    )
    add_json_flag(parser)
    parser.set_defaults(func=cmd_readers)


def cmd_readers(args: argparse.Namespace) -> int:
    readers = [reader.to_json() for reader in list_readers()]
    if args.json:
        print_json(readers)
    elif not readers:
        # A note for people, not data: stdout stays empty, as for `modems` with no port.
        print("no PC/SC readers (pcscd is running but reports none)", file=sys.stderr)
    else:
        rows = [
            (r["index"], r["name"], "yes" if r["card_present"] else "no", r["atr"] or "")
            for r in readers
        ]
        print_table(("index", "reader", "card", "ATR"), rows, title="PC/SC readers")
    return 0
