"""The IMS Cx peer's tables: its own SQN counter per card and the registration state
of each MCPTT-specific public identity (IMPU2) at an S-CSCF.

``CxSqn.seq`` is the highest SEQ the Cx peer has handed out in its own IND slot (TS 33.102
Annex C.1.1, ``[cx] ind_slot``), separate from the attestation service's ``cards.sqn_seq``
so IMS registrations, checkout challenges and the operator's HSS never desynchronise
each other.  It moves only forward through one atomic statement
(``server.ims.vectors``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow


class CxSqn(Base):
    """The Cx peer's SEQ for one card (created at the card's first MAR)."""

    __tablename__ = "cx_sqn"

    card_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cards.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ImsRegistration(Base):
    """Where an IMPU2 is registered now (TS 29.228 clause 6.1.2, Server-Assignment).

    One row per public identity that has ever been assigned; ``state`` is
    ``registered`` or ``unregistered`` and ``scscf_name`` the SIP URI of the S-CSCF the
    last SAR named, ``scscf_host`` that S-CSCF's Diameter identity (where an RTR goes).
    """

    __tablename__ = "ims_registrations"

    impu: Mapped[str] = mapped_column(String(255), primary_key=True)
    impi: Mapped[str] = mapped_column(String(255), index=True)
    state: Mapped[str] = mapped_column(String(16))
    scscf_name: Mapped[str] = mapped_column(Text)
    scscf_host: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
