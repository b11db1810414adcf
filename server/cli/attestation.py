"""``simattest device attestation show``: decode and verify an Android key attestation
chain (registered under ``simattest device`` by ``server.cli.device``)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from attest.android.report import examine_chain, flatten
from attest.android.roots import TrustStore, google_roots
from attest.android.status import StatusList
from attest.errors import InputError
from attest.textfile import os_reason
from server.cli.output import add_json_flag, print_fields, print_json


def register(device_commands: Any) -> None:
    group = device_commands.add_parser(
        "attestation", help="Android key attestation chains: decode and verify")
    sub = group.add_subparsers(dest="attestation_command", required=True, metavar="COMMAND")
    show = sub.add_parser(
        "show", help="print every field of an attestation chain and whether it verifies "
                     "(exit 0 only when it does)")
    show.add_argument("chain", type=Path, metavar="CHAIN.pem",
                      help="the certificate chain, leaf first (PEM, or DER back to back)")
    show.add_argument("--at", type=_instant, metavar="ISO-8601",
                      help="verify at this instant (e.g. 2026-03-01T12:00:00Z; a time "
                           "without a zone is UTC); default now")
    show.add_argument("--roots", type=Path, metavar="FILE",
                      help="PEM root certificates to trust besides Google's attestation "
                           "roots")
    show.add_argument("--status", type=Path, metavar="FILE",
                      help="Google's attestation status list (JSON) to check serials "
                           "against; its age is the file's modification time")
    add_json_flag(show)
    show.set_defaults(func=_show)


def _instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 instant") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {os_reason(exc)}") from None


def _show(args: argparse.Namespace) -> int:
    roots = google_roots()
    if args.roots is not None:
        roots = roots.extended(TrustStore.from_pem(_read(args.roots), str(args.roots)))
    status = None
    if args.status is not None:
        listed = _read(args.status)
        # The list carries no date of its own: its age is the file's.
        fetched = dt.datetime.fromtimestamp(args.status.stat().st_mtime, dt.UTC)
        status = StatusList.from_json(listed, as_of=fetched)
    at = args.at or dt.datetime.now(dt.UTC)
    report = examine_chain(_read(args.chain), roots, status, at)
    document = report.to_json()
    if args.json:
        print_json(document)
    else:
        print_fields(flatten(document), title=str(args.chain))
    if report.error is not None:
        raise report.error
    verified = report.verified
    assert verified is not None
    print(f"verified: {verified.chain_length} certificates to {verified.root_name} "
          f"(key SHA-256 {verified.root_fingerprint}), not revoked"
          f"{'' if status is not None else ' (no status list given)'}, "
          f"at {document['at']}", file=sys.stderr)
    return 0
