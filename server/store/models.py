"""The foundation's tables (SQLAlchemy 2 typed models).

Secrets (K, OPc, PIN1, PUK1, ADM1) are stored only as AES-GCM blobs made by
``server.core.keystore.KeyStore`` with the ICCID as associated data (the default object
``repr`` shows no column values).  Times are timezone-aware UTC everywhere (``UtcDateTime``).
Partial unique indexes (SQLite and PostgreSQL both support ``WHERE`` on an index)
make "at most one active pairing per handset and per card" a database guarantee.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime()}


class Meta(Base):
    """Service-wide facts: the KEK check value, the EAR signing key id."""

    __tablename__ = "service_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


class Operator(Base):
    """An API token holder.  Only SHA-256 of the token is stored."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def actor(self) -> str:
        """How this operator is named in the audit log."""
        return f"operator:{self.id}:{self.label}" if self.label else f"operator:{self.id}"


class Card(Base):
    """A pooled USIM: identities, encrypted keys, verification and SQN state.

    ``sqn_seq`` is the highest SEQ handed out in the service's own IND slot
    (TS 33.102 Annex C.1.1: SQN = SEQ || IND); it only ever moves forward through one
    atomic UPDATE (``server.pool.registry.reserve_sqn``/``resync_sqn``).
    """

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iccid: Mapped[str] = mapped_column(String(20), unique=True)
    imsi: Mapped[str] = mapped_column(String(15), index=True)
    profile: Mapped[str | None] = mapped_column(String(100), default=None)
    algorithm: Mapped[str] = mapped_column(String(16), default="milenage")
    k_enc: Mapped[bytes] = mapped_column(LargeBinary)
    opc_enc: Mapped[bytes] = mapped_column(LargeBinary)
    pin1_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    puk1_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    adm1_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    impi: Mapped[str | None] = mapped_column(String(255), default=None)
    impu: Mapped[str | None] = mapped_column(Text, default=None)
    batch: Mapped[str] = mapped_column(String(255), default="")
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    verification: Mapped[str] = mapped_column(String(16), default="unverified")
    verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    verification_reason: Mapped[str | None] = mapped_column(Text, default=None)
    sqn_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Handset(Base):
    """A pooled handset (ME): IMEI (Luhn-checked), IMEISV, device public key."""

    __tablename__ = "handsets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(15), unique=True)
    imeisv: Mapped[str | None] = mapped_column(String(16), default=None)
    label: Mapped[str] = mapped_column(String(200), default="", index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    key_algorithm: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Pairing(Base):
    """Handset ↔ card; ``ended_at`` NULL means active.  Ended rows are the history."""

    __tablename__ = "pairings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handset_id: Mapped[int] = mapped_column(ForeignKey("handsets.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    handset: Mapped[Handset] = relationship(lazy="joined")
    card: Mapped[Card] = relationship(lazy="joined")

    __table_args__ = (
        Index(
            "uq_pairings_active_handset",
            "handset_id",
            unique=True,
            sqlite_where=ended_at.is_(None),
            postgresql_where=ended_at.is_(None),
        ),
        Index(
            "uq_pairings_active_card",
            "card_id",
            unique=True,
            sqlite_where=ended_at.is_(None),
            postgresql_where=ended_at.is_(None),
        ),
    )


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
