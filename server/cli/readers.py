"""``simattest readers``: the PC/SC readers pcscd knows, card presence and ATR.

``--watch`` follows them as ``pcsc_scan`` does: each reader's state, then one line per
card inserted or removed and reader plugged in or out (``--json``: one JSON object per
line), until Ctrl-C or SIGTERM, which end it with exit 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hw.transport.pcsc import list_readers, watch_readers
from server.cli import output
from server.cli.output import add_json_flag, print_json, print_table
from server.cli.stopsignals import stop_on_sigint_or_sigterm


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "readers",
        help="list PC/SC readers: index, name, card present, ATR",
        description="Readers as pcscd reports them; use 'pcsc:<index>' or 'pcsc:<name glob>' "
        "as --reader in the other commands.",
    )
    parser.add_argument("--watch", action="store_true",
                        help="keep running and print each card insertion and removal (and "
                             "reader plugged in or out) as it happens; Ctrl-C ends it")
    add_json_flag(parser)
    parser.set_defaults(func=cmd_readers)


def cmd_readers(args: argparse.Namespace) -> int:
    if args.watch:
        return _watch(args.json)
    readers = [reader.to_json() for reader in list_readers()]
    if args.json:
        print_json(readers)
    elif not readers:
        # A note for people, not data: stdout stays empty, as for `modems` with no port.
        if not output.quiet():
            print("no PC/SC readers (pcscd is running but reports none)", file=sys.stderr)
    else:
        rows = [
            (r["index"], r["name"], "yes" if r["card_present"] else "no", r["atr"] or "")
            for r in readers
        ]
        print_table(("index", "reader", "card", "ATR"), rows, title="PC/SC readers")
    return 0


def _watch(as_json: bool) -> int:
    stop_on_sigint_or_sigterm()
    try:
        for event in watch_readers():
            doc = event.to_json()
            if as_json:
                print(json.dumps(doc), flush=True)
            else:
                when = event.at.astimezone().strftime("%H:%M:%S")
                print("\t".join((when, event.reader, event.kind, doc["atr"] or "")).rstrip("\t"),
                      flush=True)
    except KeyboardInterrupt:
        return 0  # what ends a watch: not a failure
    return 0
