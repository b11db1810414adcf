"""The challenges this process issued and has not yet seen evidence for, in memory.

A device sends its evidence over the connection it asked for the challenge on, so it
usually reaches the worker process that issued the challenge.  That process keeps a
copy of what the evidence's appraisal would read back (``server.store.attestations``) and
the XRES computed with the AUTN, which spares the read and a second key decryption and
Milenage run.  The database stays the judge: the store consumes the challenge only if
it is still pending and unexpired, else the evidence is appraised again from what the
database holds (``server.attestation.evidence``).

XRES is derived from the card's K, so it is kept here only, never stored, and only
until the evidence arrives or the challenge expires.  A copy is taken out when used, so
a replay reads the database.  Bounded: past ``capacity`` pending copies (challenges
nobody answered), new challenges are not copied and their evidence is read back.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from server.core.perservice import PerService
from server.core.service import Service
from server.store.attestations import StoredChallenge

DEFAULT_CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class Issued:
    """A copy of one pending challenge."""

    challenge: StoredChallenge  # as ``load`` reads it for evidence naming the card
    xres: bytes = field(repr=False)  # f2(K, RAND) of that card (TS 33.102 clause 6.3.2)
    expires_at: dt.datetime


class IssuedChallenges:
    """Copies by challenge id, oldest first.  Thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._copies: OrderedDict[str, Issued] = OrderedDict()

    def add(self, issued: Issued, now: dt.datetime) -> None:
        with self._lock:
            copies = self._copies
            # Every challenge lives as long, so the oldest expires first.
            while copies and next(iter(copies.values())).expires_at <= now:
                copies.popitem(last=False)
            if len(copies) < self.capacity:
                copies[issued.challenge.id] = issued

    def take(self, attestation_id: str, now: dt.datetime) -> Issued | None:
        """The copy of ``attestation_id`` if it has not expired; it is removed either way."""
        with self._lock:
            issued = self._copies.pop(attestation_id, None)
        return issued if issued is not None and issued.expires_at > now else None

    def __len__(self) -> int:
        return len(self._copies)


_COPIES = PerService(lambda _svc: IssuedChallenges())


def copies_of(svc: Service) -> IssuedChallenges:
    """This process's copies of the challenges ``svc`` issued (made on first use)."""
    return _COPIES(svc)
