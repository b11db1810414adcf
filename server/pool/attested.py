"""Registering a handset from its Android key attestation.

1. ``issue_registration_nonce``: a provisioning officer (or the provisioning tool) asks
   for a registration challenge for an IMEI: 32 random bytes, base64url, valid for
   ``REGISTRATION_NONCE_TTL`` and usable once.  Only its SHA-256 is stored.
2. The handset makes its device key in its Keystore with the nonce as
   ``setAttestationChallenge`` (StrongBox when present; ``setDevicePropertiesAttestationIncluded``
   / ID attestation for the IMEI), and hands over the certificate chain
   (``docs/device-protocol.md``).
3. ``add_attested_handset`` verifies the chain to a trusted root at the service's clock,
   against the status list (``server.pool.android``), checks that its
   attestationChallenge is the nonce, that the device policy does not contraindicate
   what it shows (a software key when the pool takes hardware keys only, an unlocked
   bootloader, unverified boot, …; ``attest.devicepolicy.boot_findings``) and that an
   attested IMEI is the one being registered; then, in one transaction, consumes the
   nonce (a conditional UPDATE: of two registrations with one nonce exactly one
   succeeds), registers the handset with the leaf's public key as its device key, and
   records what the attestation showed.  Any refusal stores nothing, and the nonce
   stays usable until it expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from attest import b64url
from attest.devicepolicy import boot_findings
from server.core.errors import Conflict, NotFound, ValidationError
from server.core.identifiers import check_imei
from server.core.service import Service
from server.pool import registry
from server.pool.android import AttestationRefused, verify
from server.store import audit_chain as audit
from server.store.models import Handset, HandsetAttestation, RegistrationNonce, utcnow

REGISTRATION_NONCE_TTL = dt.timedelta(minutes=10)
NONCE_BYTES = 32
WHERE = "attestation"


@dataclass(frozen=True, slots=True)
class RegistrationChallenge:
    """A registration challenge as the service answers it."""

    imei: str
    nonce: str  # base64url
    expires_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"imei": self.imei, "nonce": self.nonce,
                "expires_at": self.expires_at.isoformat()}


def _digest(nonce: bytes) -> str:
    return hashlib.sha256(nonce).hexdigest()


def issue_registration_nonce(svc: Service, imei: str, *, actor: str) -> RegistrationChallenge:
    """A fresh single-use registration nonce for handset ``imei``."""
    check_imei(imei)
    nonce = secrets.token_bytes(NONCE_BYTES)
    now = utcnow()
    expires = now + REGISTRATION_NONCE_TTL
    with svc.db.session() as session:
        session.execute(insert(RegistrationNonce).values(
            nonce_sha256=_digest(nonce), imei=imei, created_at=now, expires_at=expires))
        audit.append(session, actor, "handset.registration-nonce", f"imei:{imei}",
                     {"expires_at": expires.isoformat()})
    return RegistrationChallenge(imei, b64url.encode(nonce), expires)


def _nonce_bytes(nonce: str) -> bytes:
    try:
        raw = b64url.decode(nonce)
    except ValueError:
        raw = b""
    if len(raw) != NONCE_BYTES:
        raise ValidationError(f"expected the {NONCE_BYTES}-byte registration nonce the "
                              "service issued, base64url", field="nonce")
    return raw


def _check_nonce(svc: Service, digest: str, imei: str, now: dt.datetime) -> None:
    """Refuse, before any work, a nonce the service never issued for ``imei``, one used
    or expired."""
    with svc.db.read_session() as session:
        row = session.scalar(select(RegistrationNonce)
                             .where(RegistrationNonce.nonce_sha256 == digest))
    if row is None:
        raise NotFound("the registration nonce is not one this service issued "
                       "(simattest device registration-nonce)", field="nonce")
    if row.imei != imei:
        raise ValidationError(f"the registration nonce was issued for handset {row.imei}, "
                              f"not {imei}", field="nonce")
    _refuse_spent(row, now)


def _refuse_spent(row: RegistrationNonce, now: dt.datetime) -> None:
    if row.used_at is not None:
        raise Conflict("the registration nonce has been used already: ask for a new one",
                       field="nonce")
    if row.expires_at <= now:
        raise Conflict("the registration nonce has expired: ask for a new one",
                       field="nonce")


def _consume(session: Session, digest: str, imei: str, now: dt.datetime) -> None:
    used = session.execute(
        update(RegistrationNonce)
        .where(RegistrationNonce.nonce_sha256 == digest, RegistrationNonce.imei == imei,
               RegistrationNonce.used_at.is_(None), RegistrationNonce.expires_at > now)
        .values(used_at=now).returning(RegistrationNonce.nonce_sha256)).first()
    if used is None:  # spent meanwhile by a concurrent registration
        raise Conflict("the registration nonce has been used already: ask for a new one",
                       field="nonce")


def add_attested_handset(
    svc: Service, imei: str, chain: str, nonce: str, *, actor: str,
    imeisv: str | None = None, label: str = "",
) -> Handset:
    """Register handset ``imei`` from its attestation ``chain`` (PEM certificates, leaf
    first) made with registration nonce ``nonce`` (module docstring)."""
    check_imei(imei)
    raw_nonce = _nonce_bytes(nonce)
    digest = _digest(raw_nonce)
    now = utcnow()
    _check_nonce(svc, digest, imei, now)
    data = chain.encode("utf-8")
    checked = verify(svc, data, raw_nonce, WHERE, now)
    verified, facts = checked.verified, checked.facts
    policy = svc.config.device_policy
    findings = boot_findings(facts, None, policy, now.date())
    for code in findings:
        if policy.severity[code] == "contraindicated":
            raise AttestationRefused(f"{WHERE}: {_REFUSAL[code]}", field=_FIELD[code],
                                     reason=code)
    attested_imeis = tuple(i for i in (facts.imei, facts.second_imei) if i)
    if attested_imeis and imei not in attested_imeis:
        raise AttestationRefused(
            f"{WHERE}: the attestation names IMEI {attested_imeis[0]}, not {imei}",
            field=f"{WHERE}.keyDescription.hardwareEnforced.attestationIdImei",
            reason="IMEI_MISMATCH")
    kd = verified.key_description
    app = kd.attestation_application_id
    ids = {name: getattr(kd.hardware_enforced, f"attestation_id_{name}")
           for name in ("brand", "model", "manufacturer", "serial")}
    pem = verified.leaf_public_key_pem

    def record(session: Session) -> HandsetAttestation:
        _consume(session, digest, imei, now)
        return HandsetAttestation(
            key_kind=facts.security_level, attestation_version=kd.attestation_version,
            keymint_version=kd.keymint_version, device_locked=facts.device_locked,
            verified_boot_state=facts.verified_boot_state,
            verified_boot_key=facts.verified_boot_key.hex(),
            verified_boot_hash=None if facts.verified_boot_hash is None
            else facts.verified_boot_hash.hex(),
            os_version=kd.os_version, os_patch_level=facts.os_patch_level,
            vendor_patch_level=facts.vendor_patch_level,
            boot_patch_level=facts.boot_patch_level,
            attested_imei=facts.imei, attested_second_imei=facts.second_imei,
            application_id=None if app is None else orjson.dumps({
                "packages": [{"name": n, "version": v} for n, v in app.packages],
                "signatures": [d.hex() for d in app.signature_digests]}).decode(),
            device_ids=orjson.dumps(ids).decode() if any(ids.values()) else None,
            root_name=verified.root_name, chain_sha256=checked.chain_sha256,
            chain_serials=orjson.dumps([f"{s:x}" for s in checked.serials]).decode(),
            policy_id=policy.policy_id,
            findings=orjson.dumps([c for c in findings
                                   if policy.severity[c] != "accepted"]).decode(),
            created_at=now)

    # The leaf's key is a device key already (verify_chain took EC P-256 or Ed25519 only).
    return registry.add_handset(svc, imei, pem.decode("ascii"), actor=actor, imeisv=imeisv,
                                label=label, attested=record)


_ROT = f"{WHERE}.keyDescription.hardwareEnforced.rootOfTrust"
_FIELD = {
    "ME_SOFTWARE_KEY": f"{WHERE}.keyDescription.attestationSecurityLevel",
    "ME_BOOTLOADER_UNLOCKED": f"{_ROT}.deviceLocked",
    "ME_UNVERIFIED_BOOT": f"{_ROT}.verifiedBootState",
    "ME_PATCH_TOO_OLD": f"{WHERE}.keyDescription.hardwareEnforced.osPatchLevel",
}
_REFUSAL = {
    "ME_SOFTWARE_KEY": "the key is a software key (attestationSecurityLevel Software) and "
                       "this pool takes hardware-backed keys only",
    "ME_BOOTLOADER_UNLOCKED": "the handset's bootloader is unlocked",
    "ME_UNVERIFIED_BOOT": "the handset did not boot with verified boot",
    "ME_PATCH_TOO_OLD": "the handset's security patch level is older than the policy allows",
}
