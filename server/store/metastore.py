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
# The Android attestation status list: JSON {"imported_at", "entries", "list"}
# (server.pool.android).
ANDROID_STATUS_LIST = "android_status_list"


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


def put(session: Session, name: str, value: bytes) -> None:
    """Store ``value`` under ``name`` in ``session``'s transaction, replacing any value
    (``INSERT … ON CONFLICT DO UPDATE``)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Meta).values(name=name, value=value)
    session.execute(statement.on_conflict_do_update(index_elements=[Meta.name],
                                                    set_={"value": statement.excluded.value}))


def locked(session: Session, name: str, *, exclusive: bool) -> bytes | None:
    """``name``'s value, its row locked until the transaction ends (PostgreSQL: shared or
    exclusive; SQLite: the write transaction already holds the database lock)."""
    query = select(Meta.value).where(Meta.name == name)
    return session.scalar(query.with_for_update(read=not exclusive))
