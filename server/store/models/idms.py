"""Identity management's tables (``server.idms``): the MC user directory, the
MCPTT-specific identities allocated per checkout and their mapping to the card and
handset, and the sign-in throttle.

``mc_users``: one row per MC user (TS 33.180 clause 5.1: the MC ID the user signs in
with, and the MCPTT ID, a SIP URI; MCVideo/MCData IDs where the user has them).  The
password is only an Argon2id hash (PHC string); the optional TOTP secret (RFC 6238)
only an AES-GCM blob under the KEK with ``totp_aad(mc_id)`` as associated data, like a
card's keys.

``mc_identities``: the seed's mapping IMPI1 ↔ IMPI2 ↔ IMPU2 (+ ``mc_identity_aliases``)
↔ MC user ↔ handset (IMEI) ↔ checkout ↔ card.  IMPI2, IMPU2 and every alias are unique
(a random value is never handed out twice while its row exists); at most one mapping
per checkout is active (``ended_at`` NULL, a partial unique index).

``idms_throttle``: failed sign-ins per key (the SHA-256 of "user", "address" or
"user+address"), for ``server.idms.credentials``' growing delays.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow

MAX_IDENTITY_CHARS = 255  # an MC ID, MCPTT ID, IMPI or IMPU


def totp_aad(mc_id: str) -> str:
    """The associated data binding a TOTP blob to its user: moved onto another user's
    row, it no longer decrypts."""
    return f"mc-user-totp:{mc_id}"


class McUser(Base):
    """An MC user of the directory (TS 33.180 clause 5.1.1)."""

    __tablename__ = "mc_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mc_id: Mapped[str] = mapped_column(String(MAX_IDENTITY_CHARS), unique=True)
    mcptt_id: Mapped[str] = mapped_column(String(MAX_IDENTITY_CHARS), unique=True)
    mcvideo_id: Mapped[str | None] = mapped_column(String(MAX_IDENTITY_CHARS), unique=True,
                                                   default=None)
    mcdata_id: Mapped[str | None] = mapped_column(String(MAX_IDENTITY_CHARS), unique=True,
                                                  default=None)
    display_name: Mapped[str] = mapped_column(String(200))
    agency: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # The last RFC 6238 time step accepted: a code is good for one sign-in.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class McIdentity(Base):
    """The MCPTT-specific identities of one sign-in on one checkout, and the mapping."""

    __tablename__ = "mc_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), index=True)
    mc_user_id: Mapped[int] = mapped_column(ForeignKey("mc_users.id"), index=True)
    handset_id: Mapped[int] = mapped_column(ForeignKey("handsets.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    impi1: Mapped[str] = mapped_column(String(MAX_IDENTITY_CHARS))
    impi2: Mapped[str] = mapped_column(String(MAX_IDENTITY_CHARS), unique=True)
    impu2: Mapped[str] = mapped_column(String(MAX_IDENTITY_CHARS), unique=True)
    # The +sip.instance the handset registers with (urn:uuid:…, RFC 5626): random per
    # sign-in, so only this table links it to the IMEI.
    instance_id: Mapped[str] = mapped_column(String(64), unique=True)
    allocated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    allocated_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    ended_by: Mapped[str | None] = mapped_column(String(200), default=None)

    __table_args__ = (
        Index("uq_mc_identities_active_checkout", "checkout_id", unique=True,
              sqlite_where=ended_at.is_(None), postgresql_where=ended_at.is_(None)),
        Index("ix_mc_identities_ended", "ended_at"),
    )


class McIdentityAlias(Base):
    """An alias IMPU of a mapping's implicit registration set (TS 23.228 clause 4.3.3)."""

    __tablename__ = "mc_identity_aliases"

    impu: Mapped[str] = mapped_column(String(MAX_IDENTITY_CHARS), primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("mc_identities.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)


class IdmsThrottle(Base):
    """Failed sign-ins counted under one throttle key (``server.idms.credentials``)."""

    __tablename__ = "idms_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[dt.datetime] = mapped_column()
    not_before: Mapped[dt.datetime] = mapped_column()
