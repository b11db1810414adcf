"""The attestation side's tables: challenges with their verdicts, checkouts, rate limits.

One ``Attestation`` row is one challenge (``POST /v1/attestations``) and, once evidence
arrives, its verdict.  ``state`` moves ``pending`` → ``consumed`` or ``expired`` exactly
once, by a conditional UPDATE (``server.attestation.evidence``).  XRES is kept only while the
challenge is pending, AES-GCM encrypted under the KEK with the attestation id as
associated data, and wiped when the challenge is consumed.

A partial unique index makes "one active checkout per handset" a database guarantee;
a unique ``attestation_id`` makes "one checkout per attestation" one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models import Base, utcnow


class Attestation(Base):
    """A challenge and, after the evidence, its appraisal."""

    __tablename__ = "attestations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    imei: Mapped[str] = mapped_column(String(15))
    handset_id: Mapped[int | None] = mapped_column(ForeignKey("handsets.id"), default=None)
    # The card the challenge was computed for (the handset's paired card), if any.
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), default=None)
    app: Mapped[str] = mapped_column(String(8))
    # Nothing derived from the card's keys (no AUTN, no XRES): see migration 0004.
    rand: Mapped[bytes] = mapped_column(LargeBinary(16))
    nonce: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(12), default="pending")
    appraised_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    reasons: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    iccid: Mapped[str | None] = mapped_column(String(20), default=None)
    imsi: Mapped[str | None] = mapped_column(String(15), default=None)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    ear: Mapped[str | None] = mapped_column(Text, default=None)
    # After a sync failure: the fresh challenge issued in its place.
    resync_id: Mapped[str | None] = mapped_column(String(32), default=None)

    __table_args__ = (
        Index("ix_attestations_imei_appraised", "imei", "appraised_at"),
        # Alerts (contraindicated verdicts) by time; other verdicts skip this index.
        Index("ix_attestations_alerts", "appraised_at",
              postgresql_where=text("status = 'contraindicated'"),
              sqlite_where=text("status = 'contraindicated'")),
    )


class Checkout(Base):
    """A handset handed to a user at the desk, based on one affirming attestation."""

    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attestation_id: Mapped[str] = mapped_column(ForeignKey("attestations.id"), unique=True)
    handset_id: Mapped[int] = mapped_column(ForeignKey("handsets.id"))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), default=None)
    user: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_by: Mapped[str] = mapped_column(String(200))
    returned_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    returned_by: Mapped[str | None] = mapped_column(String(200), default=None)

    __table_args__ = (
        Index(
            "uq_checkouts_active_handset",
            "handset_id",
            unique=True,
            sqlite_where=returned_at.is_(None),
            postgresql_where=returned_at.is_(None),
        ),
    )


class RateCounter(Base):
    """A fixed-window request counter shared by every server process
    (``server.store.rate_counters``)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
