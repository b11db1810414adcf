"""Handsets' device keys as the device endpoints verify them, kept per process.

A challenge request's signature must be checked before anything is counted against the
handset's IMEI or reserved for its card, so the key is needed before the request's
statement; reading it from the database would add a round trip to every checkout.
Handsets are registered once and never re-keyed, so a key once read stays right; an
IMEI found unregistered is kept too (as None), so that registered and unregistered
IMEIs cost the same (one read the first time, none after).  An unregistered entry
goes stale when the IMEI is registered later: the request's own statement reads the
key the database holds (``server.store.attestations``), and ``correct`` puts it here.

Bounded: past ``capacity`` IMEIs the least recently used is dropped and read again
when asked for.

An unregistered IMEI's request is checked with a throw-away key (``signing_key``), so
that its signature is checked like any other — and never verifies.  Verifying costs
differently for the two kinds of device key (an ECDSA P-256 check more than an Ed25519
one, and a P-256 key checks a signature that an Ed25519 key refuses unread for its
length), so the throw-away key is of the kind a registered handset's would be:
``DecoyKeys`` gives each unregistered IMEI a kind of its own — the same on every
request, in every process holding the key-encryption key — drawn with the pool's own
mix of kinds.  A prober then sees an unregistered IMEI behave, request after request,
as a registered handset of some kind, with the odds of either kind the pool has.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import func, select

from attest import b64url
from attest.devicekey import DevicePublicKey, KeyAlgorithm, generate, load_public_key
from server.core.errors import ValidationError
from server.core.perservice import PerService
from server.core.service import Service
from server.store.models import Handset

DEFAULT_CAPACITY = 20_000
T = TypeVar("T")
MAX_SIGNATURE_CHARS = 200  # base64url of a 72-byte DER signature is 96
# HKDF info (server.core.keystore) of the key that gives each unregistered IMEI the kind
# of its throw-away key.
DECOY_KIND_INFO = b"simattest decoy key kind v1"
# How long a process goes by the pool's mix of key kinds before reading it again.
MIX_SECONDS = 600.0
_KINDS: tuple[KeyAlgorithm, ...] = ("ed25519", "ecdsa-p256")
_DECOYS = {kind: load_public_key(generate(kind).public_pem()) for kind in _KINDS}


@functools.lru_cache(maxsize=4096)
def verifier(pem: str) -> DevicePublicKey:
    """A registered handset's key ``pem`` to check its signatures with, parsed once per
    key and process (the registry normalised the PEM on the way in)."""
    return load_public_key(pem.encode("ascii"))


def signature_bytes(text: str) -> bytes:
    """A device signature from its base64url text (ValidationError naming ``signature``)."""
    if len(text) > MAX_SIGNATURE_CHARS:
        raise ValidationError(f"expected base64url (A-Z a-z 0-9 - _) of at most "
                              f"{MAX_SIGNATURE_CHARS} characters", field="signature")
    try:
        return b64url.decode(text)
    except ValueError as exc:
        raise ValidationError(f"expected base64url ({exc})", field="signature") from None


class DecoyKeys:
    """The throw-away key for each unregistered IMEI (module docstring): Ed25519 or EC
    P-256 as an HMAC of the IMEI under a key derived from the key-encryption key,
    read as a point in [0, 1), falls past or below the pool's share of P-256 keys."""

    def __init__(self, svc: Service) -> None:
        # Keyed once; each IMEI's HMAC continues a copy (OpenSSL 3 looks the digest up
        # again, at some cost, for every new HMAC).
        self._keyed = hmac.new(svc.keys.derive(DECOY_KIND_INFO), digestmod=hashlib.sha256)
        self._lock = threading.Lock()
        self._p256_share = 0.0
        self._read_at: float | None = None

    def _current(self) -> bool:
        return self._read_at is not None and time.monotonic() - self._read_at < MIX_SECONDS

    def refresh(self, svc: Service) -> None:
        """Read the pool's mix of key kinds again once it is ``MIX_SECONDS`` old."""
        if self._current():
            return
        with self._lock:
            if self._current():  # another thread read it meanwhile
                return
            with svc.db.read_session() as session:
                counts = {algorithm: count for algorithm, count in session.execute(
                    select(Handset.key_algorithm, func.count())
                    .group_by(Handset.key_algorithm))}
            total = sum(counts.values())
            self._p256_share = counts.get("ecdsa-p256", 0) / total if total else 0.0
            self._read_at = time.monotonic()

    def kind(self, imei: str) -> KeyAlgorithm:
        """The kind of ``imei``'s throw-away key."""
        mac = self._keyed.copy()
        mac.update(imei.encode("ascii"))
        digest = mac.digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        return "ecdsa-p256" if point < self._p256_share else "ed25519"


_DECOY_KEYS = PerService(DecoyKeys)


def decoy_keys(svc: Service) -> DecoyKeys:
    """This process's ``DecoyKeys`` for ``svc``, its mix read again when due."""
    decoys = _DECOY_KEYS(svc)
    decoys.refresh(svc)
    return decoys


def signing_key(svc: Service, imei: str, pem: str | None) -> DevicePublicKey:
    """The key a request naming ``imei`` is checked with: the registered one (``pem``),
    or for an unregistered IMEI (None) its throw-away key — the same steps either way."""
    decoy = _DECOYS[decoy_keys(svc).kind(imei)]
    return decoy if pem is None else verifier(pem)


class PerImei(Generic[T]):
    """IMEI → what ``load(svc, imei)`` read for it, least recent first, at most
    ``capacity`` IMEIs.  Thread-safe.  For facts of a handset that never change once
    registered (its key here, its registration attestation in
    ``server.attestation.hardware``)."""

    def __init__(self, load: Callable[[Service, str], T],
                 capacity: int = DEFAULT_CAPACITY) -> None:
        self.load = load
        self.capacity = capacity
        self._lock = threading.Lock()
        self._values: OrderedDict[str, T] = OrderedDict()

    def get(self, svc: Service, imei: str) -> T:
        """What is kept for ``imei``, read from the database when not kept here."""
        with self._lock:
            if imei in self._values:
                self._values.move_to_end(imei)
                return self._values[imei]
        value = self.load(svc, imei)
        self.correct(imei, value)
        return value

    def correct(self, imei: str, value: T) -> None:
        """Keep ``value`` as what the database holds for ``imei`` now."""
        with self._lock:
            self._values[imei] = value
            self._values.move_to_end(imei)
            while len(self._values) > self.capacity:
                self._values.popitem(last=False)


def _handset_key(svc: Service, imei: str) -> str | None:
    return svc.store.handset_key(imei)


_KEYS = PerService(lambda _svc: PerImei(_handset_key))


def keys_of(svc: Service) -> PerImei[str | None]:
    """This process's handset keys for ``svc``: IMEI → registered public key PEM (None:
    not registered)."""
    return _KEYS(svc)
