"""Android key attestation: what a handset's registration attestation showed, and the
single-use registration nonces the service issues for it (``server.pool.attested``).

A handset registered from a bare public key has no ``handset_attestations`` row: its key
kind is ``software``.  Byte strings (verified-boot key and hash) are stored as hex, as
everywhere at the edges; JSON columns as text.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow


class HandsetAttestation(Base):
    """The facts of the attestation a handset was registered from (KeyDescription,
    OID 1.3.6.1.4.1.11129.2.1.17), and the policy's conclusion at registration."""

    __tablename__ = "handset_attestations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handset_id: Mapped[int] = mapped_column(ForeignKey("handsets.id"), unique=True)
    key_kind: Mapped[str] = mapped_column(String(16))  # tee | strongbox | software
    attestation_version: Mapped[int] = mapped_column(Integer)
    keymint_version: Mapped[int] = mapped_column(Integer)
    device_locked: Mapped[bool] = mapped_column(Boolean)
    verified_boot_state: Mapped[str] = mapped_column(String(16))
    verified_boot_key: Mapped[str] = mapped_column(String(128))  # hex
    verified_boot_hash: Mapped[str | None] = mapped_column(String(128), default=None)
    os_version: Mapped[int | None] = mapped_column(Integer, default=None)
    os_patch_level: Mapped[int | None] = mapped_column(Integer, default=None)
    vendor_patch_level: Mapped[int | None] = mapped_column(Integer, default=None)
    boot_patch_level: Mapped[int | None] = mapped_column(Integer, default=None)
    attested_imei: Mapped[str | None] = mapped_column(String(15), default=None)
    attested_second_imei: Mapped[str | None] = mapped_column(String(15), default=None)
    # {"packages": [{"name", "version"}], "signatures": [hex SHA-256]} as attested
    application_id: Mapped[str | None] = mapped_column(Text, default=None)
    # brand, model, manufacturer, serial as attested (ID attestation), JSON
    device_ids: Mapped[str | None] = mapped_column(Text, default=None)
    root_name: Mapped[str] = mapped_column(String(200))
    chain_sha256: Mapped[str] = mapped_column(String(64))
    # the serials (hex) of the chain's certificates above the leaf, checked against the
    # status list at every checkout: revoked since registration is a finding too
    chain_serials: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    policy_id: Mapped[str] = mapped_column(String(100))
    findings: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of codes
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RegistrationNonce(Base):
    """A registration challenge: the SHA-256 of its nonce (the nonce itself goes to the
    handset only), the IMEI it was issued for, its expiry, and when it was used."""

    __tablename__ = "registration_nonces"

    nonce_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    imei: Mapped[str] = mapped_column(String(15))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
