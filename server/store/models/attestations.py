"""Challenges with their verdicts, and the device endpoints' rate counters.

One ``Attestation`` row is one challenge (``POST /v1/attestations``) and, once evidence
arrives, its verdict.  ``state`` moves ``pending`` → ``consumed`` or ``expired`` exactly
once, by a conditional UPDATE (``server.store.attestations``).  Nothing derived from the
card's keys is stored (migration 0004): the evidence's RES is checked against XRES
computed again from the card's keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow


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
    # SHA-256 (hex) of the device certificate the evidence came with over TLS
    # (``simattest serve --client-ca``), else NULL: the identity-management issue binds
    # tokens to it.
    device_certificate: Mapped[str | None] = mapped_column(String(64), default=None)

    __table_args__ = (
        Index("ix_attestations_imei_appraised", "imei", "appraised_at"),
        # Alerts (contraindicated verdicts) by time; other verdicts skip this index.
        Index("ix_attestations_alerts", "appraised_at",
              postgresql_where=text("status = 'contraindicated'"),
              sqlite_where=text("status = 'contraindicated'")),
    )


class RateCounter(Base):
    """A fixed-window request counter shared by every server process
    (``server.store.rate_counters``)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)


class AlertAcknowledgement(Base):
    """A contraindicated attestation someone looked at: who, when and why it needs no
    further action (e.g. a bench engineer's typo).  The alert stays listed; it no longer
    counts on the desk's badge.  A table of its own: the hot path never writes it."""

    __tablename__ = "alert_acknowledgements"

    attestation_id: Mapped[str] = mapped_column(ForeignKey("attestations.id"),
                                                primary_key=True)
    acknowledged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
