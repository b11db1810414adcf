"""The audit chain's tables: entries, each hash-chained to the one before, and the
head row appends serialise on (``server.store.audit_chain``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base


class AuditEntry(Base):
    """One link of the hash chain (``server.store.audit_chain``)."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The single chain-head row, which serialises appends (``server.store.audit_chain``).

    ``prev_hash`` is the hash before the last append (PostgreSQL's one-statement append
    returns it); None until the first append after migration 0003.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
