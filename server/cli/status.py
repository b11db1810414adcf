"""``simattest status``: which storage this command line reaches, and what it holds."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from server.cli.output import add_json_flag, print_fields, print_json
from server.cli.storeargs import add_store_args, open_service


def register(subparsers: Any) -> None:
    status = subparsers.add_parser(
        "status", help="the database, service identity, key files and counts in use",
        description="Opens the storage exactly as the other storage commands would "
                    "(--config, --data, --db, --kek-file and their environment "
                    "variables) and says what it found; the database password is never "
                    "shown.")
    add_store_args(status)
    add_json_flag(status)
    status.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from server.core.status import status  # the storage stack, only when the command runs

    with open_service(args, create=False) as svc:
        report = status(svc)
    if args.json:
        print_json(report.to_json())
        return 0
    print_fields([
        ("database", f"{report.database_kind} {report.database}"),
        ("data directory", report.data_dir),
        ("service identity", report.service_id),
        ("schema version", report.schema_version),
        *((key.name, f"{key.location} ({key.mode or 'not a file'})" if key.found
           else f"{key.location} (missing)") for key in report.key_files),
        ("cards", report.cards), ("handsets", report.handsets),
        ("open checkouts", report.open_checkouts),
        ("attestation status list", _status_list_age(report.attestation_status_imported_at,
                                                     report.attestation_status_entries)),
        ("device policy", report.device_policy),
    ], title="simattest status")
    return 0


def _status_list_age(imported_at: str | None, entries: int) -> str:
    """The Android attestation status list's age in days (revocations newer than the
    import are unknown to the service)."""
    if imported_at is None:
        return "never imported (simattest admin attestation-status import)"
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(imported_at)
    return f"{entries} entries, imported {age.days} days ago ({imported_at})"
