"""The handset's hardware facts for one checkout's appraisal (``attest.devicepolicy``).

- What its registration attestation showed (``handset_attestations``), kept per process
  like the handsets' keys (``server.attestation.handset_keys``): a registered handset's
  record never changes, so one read per handset and process.
- The registration chain's certificates against the status list as it is now: one
  revoked or suspended since is ``ME_ATTESTATION_REVOKED``.
- The evidence's fresh attestation, when it has one: verified to a trusted root, against
  the status list, with the challenge's nonce as attestationChallenge
  (``server.pool.android.verify``); a chain that does not verify is a finding
  (``ME_ATTESTATION_INVALID`` or ``ME_ATTESTATION_REVOKED``), not a refusal — the
  verdict records it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from sqlalchemy import bindparam, select

from attest import b64url
from attest.devicepolicy import BootFacts, HandsetFacts, KeyKind
from attest.evidence import Evidence
from server.attestation.handset_keys import PerImei
from server.core.perservice import PerService
from server.core.service import Service
from server.pool.android import AttestationRefused, revoked, verify
from server.store.models import Handset, HandsetAttestation

_RECORD = (select(HandsetAttestation).join(Handset, Handset.id == HandsetAttestation.handset_id)
           .where(Handset.imei == bindparam("imei")))


_Record = tuple[BootFacts, tuple[int, ...]] | None  # facts, chain serials; None: software


def _read_record(svc: Service, imei: str) -> _Record:
    """The registered facts and chain serials of ``imei`` (None: a software key)."""
    with svc.db.read_session() as session:
        record = session.scalar(_RECORD, {"imei": imei})
    return None if record is None else (
        recorded_facts(record),
        tuple(int(s, 16) for s in orjson.loads(record.chain_serials)))


_RECORDS = PerService(lambda _svc: PerImei(_read_record))


def recorded_facts(record: HandsetAttestation) -> BootFacts:
    """A registration record as the appraisal's facts."""
    kind: KeyKind = record.key_kind  # type: ignore[assignment]  # tee | strongbox | software
    return BootFacts(
        security_level=kind, device_locked=record.device_locked,
        verified_boot_state=record.verified_boot_state,
        verified_boot_key=bytes.fromhex(record.verified_boot_key),
        verified_boot_hash=None if record.verified_boot_hash is None
        else bytes.fromhex(record.verified_boot_hash),
        os_patch_level=record.os_patch_level, vendor_patch_level=record.vendor_patch_level,
        boot_patch_level=record.boot_patch_level, imei=record.attested_imei,
        second_imei=record.attested_second_imei)


def handset_facts(svc: Service, imei: str, evidence: Evidence, nonce: str,
                  now: dt.datetime) -> HandsetFacts:
    """The facts of registered handset ``imei`` for evidence answering a challenge with
    ``nonce``."""
    record = _RECORDS(svc).get(svc, imei)
    if record is None:
        registered, was_revoked = None, False
    else:
        registered, was_revoked = record[0], revoked(svc, record[1])
    if evidence.attestation is None:
        return HandsetFacts(registered, revoked_since_registration=was_revoked)
    try:
        checked = verify(svc, b"".join(evidence.attestation), b64url.decode(nonce),
                         "evidence.attestation", now)
    except AttestationRefused as exc:
        return HandsetFacts(registered, fresh_problem=exc.reason,
                            revoked_since_registration=was_revoked)
    return HandsetFacts(registered, fresh=checked.facts,
                        revoked_since_registration=was_revoked)


def me_json(facts: HandsetFacts) -> dict[str, Any]:
    """The EAR's ``simattest_me`` extension: key kind and what the latest attestation
    showed (``attest.ear``)."""
    current = facts.current
    shown: dict[str, Any] = {"key_kind": facts.key_kind,
                             "fresh_attestation": facts.fresh is not None}
    if current is not None:
        shown |= {"device_locked": current.device_locked,
                  "verified_boot_state": current.verified_boot_state,
                  "os_patch_level": current.os_patch_level,
                  "vendor_patch_level": current.vendor_patch_level,
                  "boot_patch_level": current.boot_patch_level}
    return shown
