"""``--data DIR`` / ``--db URL``: commands that work on the service's storage directly.

Used by the bootstrap and key-holding commands (``admin token create``, ``pool verify``,
``pool rotate-key``, ``audit verify``, ``serve``).  ``SIMATTEST_DATA`` and
``SIMATTEST_DB`` are the defaults; ``--kek-file`` keeps the key-encryption key outside
the data directory.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from server.core.datadir import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from server.core.config import ServiceConfig
    from server.core.service import Service


def add_store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("SIMATTEST_DATA", DEFAULT_DATA_DIR)),
        metavar="DIR", help="data directory with the keys (and the SQLite database); "
                            "env SIMATTEST_DATA, default ./simattest-data")
    parser.add_argument(
        "--db", default=os.environ.get("SIMATTEST_DB") or None, metavar="URL",
        help="database URL, e.g. postgresql+psycopg://user@host/db; env SIMATTEST_DB, "
             "default SQLite in the data directory")
    parser.add_argument(
        "--kek-file", type=Path, default=os.environ.get("SIMATTEST_KEK_FILE") or None,
        metavar="FILE", help="key-encryption key (64 hex digits) kept outside the data "
                             "directory; env SIMATTEST_KEK_FILE (SIMATTEST_KEK, the key "
                             "itself in hex, wins over both)")


# The service stack (SQLAlchemy, Alembic, Flask) is imported only when a command uses it,
# so that card commands such as `simattest read` start quickly.
def service_config(args: argparse.Namespace) -> ServiceConfig:
    from server.core.config import ServiceConfig

    return ServiceConfig(kek_file=args.kek_file)


def open_service(args: argparse.Namespace, config: ServiceConfig | None = None, *,
                 create: bool) -> Service:
    """The service on ``--data``/``--db``.  ``create``: only the bootstrap commands
    (``serve``, ``admin token create``) may make a new data directory; for the others a
    missing one is a mistyped ``--data``, refused rather than filled with new keys."""
    from server.core.service import Service

    return Service.open(args.data, args.db, config or service_config(args), create=create)
