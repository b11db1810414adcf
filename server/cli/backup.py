"""``simattest backup`` and ``simattest restore``: the database and the two key files
(``server.core.backup``).  Storage commands: ``--data``/``--db``/``--kek-file`` as for
``serve``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.cli.output import add_json_flag, print_fields, print_json
from server.cli.storeargs import add_store_args, open_service, service_config

if TYPE_CHECKING:
    from server.core.backup import BackupReport


def register(subparsers: Any) -> None:
    backup = subparsers.add_parser(
        "backup", help="copy the database and the keys into a new directory",
        description="A consistent copy while the service runs: SQLite's online backup, or "
                    "pg_dump -Fc for PostgreSQL (the PostgreSQL client must be installed), "
                    "into DIR/database; the key-encryption key and the EAR signing key "
                    "into DIR/keys or --keys-out. Keep the keys apart from the database.")
    backup.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="a new or empty directory")
    backup.add_argument("--keys-out", type=Path, metavar="DIR",
                        help="a new or empty directory for the two key files (default "
                             "DIR/keys)")
    add_store_args(backup)
    add_json_flag(backup)
    backup.set_defaults(func=_backup)

    restore = subparsers.add_parser(
        "restore", help="restore a backup into a new data directory (and empty database)",
        description="Writes the keys and the SQLite database into --data, which must be new "
                    "or empty; a PostgreSQL backup goes into the empty database --db with "
                    "pg_restore. Then opens the service, which checks that the keys belong "
                    "to the database; run 'simattest audit verify' before serving.")
    restore.add_argument("--from", dest="source", type=Path, required=True, metavar="DIR",
                         help="a directory written by 'simattest backup'")
    restore.add_argument("--keys-from", type=Path, metavar="DIR",
                         help="where the backup's two key files are (default DIR/keys)")
    add_store_args(restore)
    add_json_flag(restore)
    restore.set_defaults(func=_restore)


def _backup(args: argparse.Namespace) -> int:
    from server.core.backup import backup  # the storage stack, only when the command runs

    with open_service(args, create=False) as svc:
        report = backup(svc, args.out, args.keys_out)
    _print(args, report, "backup")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from server.core.backup import restore

    report = restore(args.source, args.data, args.db, service_config(args), args.keys_from)
    _print(args, report, "restored")
    return 0


def _print(args: argparse.Namespace, report: BackupReport, title: str) -> None:
    fields = [("database", report.kind), ("database file", report.database),
              ("keys", report.keys)]
    if args.json:
        print_json({"database": report.kind, "database_file": str(report.database),
                    "keys": str(report.keys)})
    else:
        print_fields(fields, title=title)
