"""Schema upgrades through Alembic, run by every ``Service.open``.

The upgrade runs in one transaction that first takes a lock, so several processes
starting together (gunicorn workers, hosts sharing PostgreSQL) upgrade exactly once:
PostgreSQL ``pg_advisory_xact_lock`` (DDL is transactional there); SQLite
``BEGIN IMMEDIATE`` from ``server.store.db``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from server.store.db import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# An arbitrary constant naming simattest's migration lock among advisory locks.
_PG_MIGRATION_LOCK = 0x51A77E57


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade_to_head(db: Database) -> None:
    cfg = alembic_config()
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def current_revision(db: Database) -> str | None:
    """The schema's Alembic revision (``None``: not yet migrated)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
