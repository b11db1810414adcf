"""Service-wide values in ``service_meta``, settled once across processes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from server.store.db import Database
from server.store.models import Meta

KEK_CHECK = "kek_check"
SIGNING_KID = "ear_signing_kid"


def get(db: Database, name: str) -> bytes | None:
    with db.read_session() as session:
        return session.scalar(select(Meta.value).where(Meta.name == name))


def settle(db: Database, name: str, value: bytes) -> bytes:
    """Store ``value`` unless a value is already there; return the stored one.

    ``INSERT … ON CONFLICT DO NOTHING`` so two processes starting at once agree.
    """
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    with db.session() as session:
        session.execute(insert(Meta).values(name=name, value=value).on_conflict_do_nothing())
        stored = session.scalar(select(Meta.value).where(Meta.name == name))
    assert stored is not None
    return stored


def locked(session: Session, name: str, *, exclusive: bool) -> bytes | None:
    """``name``'s value, its row locked until the transaction ends (PostgreSQL: shared or
    exclusive; SQLite: the write transaction already holds the database lock)."""
    query = select(Meta.value).where(Meta.name == name)
    return session.scalar(query.with_for_update(read=not exclusive))
