"""Android key attestation in the service: the trust store, the status list, and one
chain checked against both (registration, ``server.pool.attested``; checkout,
``server.attestation.evidence``).

- The roots: Google's hardware attestation roots (package data of ``attest.android``)
  and the operator's own from ``serve --attestation-roots FILE`` (config
  ``android.attestation_roots``), read once per service.
- The status list (Google's format: status by certificate serial, REVOKED or SUSPENDED)
  is imported by ``simattest admin attestation-status import FILE`` into
  ``service_meta`` (the service may not reach the internet); every process re-reads it
  at most once a minute, so an import reaches every worker within a minute.

Chains are verified at the service's clock (``attest.android.chain``: the AOSP rule for
attestation certificates — the leaf's validity fields are not meaningful).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization

from attest.android.certfile import load_chain
from attest.android.chain import DEVICE_KEY_ALGORITHMS, VerifiedAttestation, verify_chain
from attest.android.errors import AttestationInvalid
from attest.android.roots import TrustStore, google_roots
from attest.android.status import StatusList
from attest.devicepolicy import BootFacts
from attest.errors import InputError
from attest.handsetfacts import boot_facts
from server.core.errors import ValidationError
from server.core.service import Service
from server.store import audit_chain as audit
from server.store import metastore
from server.store.models import utcnow

STATUS_LIST = metastore.ANDROID_STATUS_LIST
STATUS_RELOAD_SECONDS = 60.0


class AttestationRefused(ValidationError):
    """An attestation chain the service does not accept (422), with its reason code."""

    slug = "attestation-refused"

    def __init__(self, detail: str, *, field: str, reason: str) -> None:
        super().__init__(f"{detail} ({reason})", field=field)
        self.reason = reason


@dataclass
class _Cached:
    roots: TrustStore
    status: StatusList | None
    read_at: float


_CACHE: weakref.WeakKeyDictionary[Service, _Cached] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def load_roots(path: Path | None) -> TrustStore:
    """Google's roots, and those of ``path`` (``--attestation-roots``; InputError naming
    the file)."""
    if path is None:
        return google_roots()
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--attestation-roots {path}: cannot read it ({exc.strerror})") \
            from None
    try:
        return google_roots().extended(TrustStore.from_pem(pem, str(path)))
    except InputError as exc:
        raise InputError(f"--attestation-roots {path}: {exc}") from None


def _cached(svc: Service) -> _Cached:
    now = time.monotonic()
    with _LOCK:
        cached = _CACHE.get(svc)
        if cached is not None and now - cached.read_at < STATUS_RELOAD_SECONDS:
            return cached
        roots = cached.roots if cached is not None else load_roots(svc.config.attestation_roots)
    fresh = _Cached(roots, _read_status(svc), now)
    with _LOCK:
        _CACHE[svc] = fresh
    return fresh


def _read_status(svc: Service) -> StatusList | None:
    stored = metastore.get(svc.db, STATUS_LIST)
    if stored is None:
        return None
    doc = orjson.loads(stored)
    imported_at = dt.datetime.fromisoformat(doc["imported_at"])
    return StatusList.from_json(doc["list"].encode("utf-8"), imported_at)


def import_status_list(svc: Service, data: bytes, *, actor: str) -> dict[str, Any]:
    """Check and store a status list (``simattest admin attestation-status import``);
    what was imported.  The list replaces the one before."""
    try:
        parsed = StatusList.from_json(data)
    except InputError as exc:
        raise ValidationError(f"attestation status list: {exc}", field="status_list") from None
    imported_at = utcnow().isoformat()
    with svc.db.session() as session:
        metastore.put(session, STATUS_LIST, orjson.dumps(
            {"imported_at": imported_at, "entries": len(parsed.entries),
             "list": data.decode("utf-8")}))
        audit.append(session, actor, "android.status-import", "android:status-list",
                     {"entries": len(parsed.entries), "imported_at": imported_at})
    with _LOCK:
        _CACHE.pop(svc, None)
    return {"entries": len(parsed.entries), "imported_at": imported_at}


@dataclass(frozen=True, slots=True)
class Checked:
    """A chain that verified: what ``verify_chain`` found, its facts, and the SHA-256
    of its certificates' DER (what the registration records)."""

    verified: VerifiedAttestation
    facts: BootFacts
    chain_sha256: str
    serials: tuple[int, ...]  # of the certificates above the leaf


def verify(svc: Service, chain: bytes, challenge: bytes, where: str,
           at: dt.datetime) -> Checked:
    """Verify ``chain`` (PEM, or DER certificates one after the other, leaf first) to a
    trusted root at ``at``, against the status list, with ``challenge`` as its
    attestationChallenge and a device key (EC P-256 or Ed25519) as its leaf's key;
    AttestationRefused (naming ``where`` and the part at fault) otherwise."""
    cached = _cached(svc)
    try:
        certificates = load_chain(chain)
        verified = verify_chain(certificates, cached.roots, cached.status, at,
                                DEVICE_KEY_ALGORITHMS)
        facts = boot_facts(verified.key_description)
    except AttestationInvalid as exc:
        raise AttestationRefused(f"{where}: {exc}", field=f"{where}.{exc.field}",
                                 reason=exc.reason) from None
    if not hmac.compare_digest(verified.key_description.attestation_challenge, challenge):
        raise AttestationRefused(
            f"{where}: the attestationChallenge is not the challenge the service issued "
            "for it", field=f"{where}.keyDescription.attestationChallenge",
            reason="ME_ATTESTATION_INVALID")
    digest = hashlib.sha256(b"".join(c.public_bytes(serialization.Encoding.DER)
                                     for c in certificates))
    return Checked(verified, facts, digest.hexdigest(),
                   tuple(c.serial_number for c in certificates[1:]))


def revoked(svc: Service, serials: tuple[int, ...]) -> bool:
    """Whether the status list now lists any of ``serials`` (REVOKED or SUSPENDED, as
    ``attest.android.chain`` refuses a chain for): the registration chain of a handset
    checked again at every checkout."""
    status = _cached(svc).status
    return status is not None and any(status.lookup(s) is not None for s in serials)
