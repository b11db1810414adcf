"""The pool's tables: cards (keys only as AES-GCM blobs under the KEK, the ICCID as
associated data), handsets (IMEI, device public key) and pairings.

Secrets (K, OPc, PIN1, PUK1, ADM1) are stored only as blobs made by
``server.core.keystore.KeyStore`` (the default object ``repr`` shows no column values).
Partial unique indexes (SQLite and PostgreSQL both support ``WHERE`` on an index) make
"at most one active pairing per handset and per card" a database guarantee.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.store.models.base import Base, utcnow


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
    """A pooled handset (ME): IMEI (Luhn-checked), IMEISV, device public key.

    ``lost_at`` set: reported lost or stolen (by ``lost_by``, ``lost_note`` saying what
    is known); no checkout until an operator clears it (``server.pool.registry``).
    """

    __tablename__ = "handsets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(15), unique=True)
    imeisv: Mapped[str | None] = mapped_column(String(16), default=None)
    label: Mapped[str] = mapped_column(String(200), default="", index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    key_algorithm: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lost_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lost_by: Mapped[str | None] = mapped_column(String(200), default=None)
    lost_note: Mapped[str | None] = mapped_column(String(500), default=None)


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
