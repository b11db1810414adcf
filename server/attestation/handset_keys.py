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
when asked for.  ``verifier`` gives a throw-away key for an unregistered IMEI, so that
its request's signature is checked like any other — and never verifies.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from attest import b64url
from attest.devicekey import DevicePublicKey, generate, load_public_key
from server.core.errors import ValidationError
from server.core.service import Service

DEFAULT_CAPACITY = 20_000
T = TypeVar("T")
MAX_SIGNATURE_CHARS = 200  # base64url of a 72-byte DER signature is 96
_DECOY = load_public_key(generate("ed25519").public_pem())


@functools.lru_cache(maxsize=4096)
def _parsed(pem: str) -> DevicePublicKey:
    """Parsed once per key and process (the registry normalised the PEM on the way in)."""
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


def verifier(pem: str | None) -> DevicePublicKey:
    """The key to check a signature with: the handset's, or a throw-away one for an
    unregistered IMEI (the same work; no signature verifies under it)."""
    return _DECOY if pem is None else _parsed(pem)


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



_BY_SERVICE: weakref.WeakKeyDictionary[
    Service, dict[Callable[[Service, str], Any], PerImei[Any]]] = weakref.WeakKeyDictionary()
_BY_SERVICE_LOCK = threading.Lock()


def per_imei(svc: Service, load: Callable[[Service, str], T]) -> PerImei[T]:
    """This process's cache of what ``load`` reads, for ``svc`` (made on first use)."""
    kinds = _BY_SERVICE.get(svc)
    cache = None if kinds is None else kinds.get(load)
    if cache is None:
        with _BY_SERVICE_LOCK:
            kinds = _BY_SERVICE.setdefault(svc, {})
            cache = kinds.get(load)
            if cache is None:
                cache = kinds[load] = PerImei(load)
    return cast(PerImei[T], cache)


def _handset_key(svc: Service, imei: str) -> str | None:
    return svc.store.handset_key(imei)


def keys_of(svc: Service) -> PerImei[str | None]:
    """This process's handset keys for ``svc``: IMEI → registered public key PEM (None:
    not registered)."""
    return per_imei(svc, _handset_key)
