"""``checkouts``: a handset handed to a user at the desk, and its return.

A partial unique index makes "one active checkout per handset" a database guarantee;
a unique ``attestation_id`` makes "one checkout per attestation" one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow


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
    # The MC user of the directory the handset went to (identity management enabled,
    # ``server.idms``); NULL for a checkout to a user typed as free text.
    mc_user_id: Mapped[int | None] = mapped_column(ForeignKey("mc_users.id"), default=None,
                                                   index=True)

    __table_args__ = (
        Index(
            "uq_checkouts_active_handset",
            "handset_id",
            unique=True,
            sqlite_where=returned_at.is_(None),
            postgresql_where=returned_at.is_(None),
        ),
    )
