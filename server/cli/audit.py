"""``simattest audit verify``: walk the hash chain, name the first broken entry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from server.cli.output import add_json_flag, print_fields, print_json
from server.cli.storeargs import add_store_args, open_service


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("audit", help="the audit log")
    sub = group.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify = sub.add_parser(
        "verify", help="verify the hash chain (exit 1 if broken)",
        description="Prints the chain's head (SEQ:HASH). Keep it where the database's "
                    "administrators cannot change it, and give it back later with "
                    "--checkpoint: a history rewritten with recomputed hashes no longer "
                    "matches it.")
    verify.add_argument("--checkpoint", action="append", default=[], metavar="SEQ:HASH",
                        help="a head printed by an earlier 'audit verify' (repeatable)")
    add_store_args(verify)
    add_json_flag(verify)
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from server.core import audit  # the storage stack, only when the command runs
    from server.store.audit_chain import Checkpoint

    checkpoints = [Checkpoint.parse(text) for text in args.checkpoint]
    with open_service(args, create=False) as svc:
        report = audit.verify(svc, checkpoints)
    if args.json:
        print_json(report.to_json())
    elif report.ok:
        print_fields([("entries", report.entries), ("chain", "intact"),
                      ("checkpoints", f"{len(checkpoints)} matched")], title="audit log")
        if report.head is not None:
            # On a line of its own: a table cell would wrap it at the terminal's width.
            print(f"head {report.head.text}")
    elif report.first_broken is None:
        print(f"simattest: {report.reason}", file=sys.stderr)
    else:
        print(f"audit log broken at entry {report.first_broken}: {report.reason} "
              f"({report.entries} entries read)", file=sys.stderr)
    return 0 if report.ok else 1
