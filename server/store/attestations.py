"""The attestation hot path's storage: what one challenge and one evidence read and write.

``server.attestation.evidence`` does the work (AKA vectors, appraisal, EAR) and talks to the
database only through an ``AttestationStore``, in a fixed, small number of round trips
per request:

- challenge: ``issue`` counts the rate limits, looks up the handset's paired card,
  reserves its next SQN and stores the challenge (RAND, nonce, expiry) for that card,
  in one transaction — the per-IMEI limits and the card only for a request the
  handset's device key signed, once (``Proof``).  Nothing derived from the card's keys
  is stored: AUTN goes to the device only, and the evidence's RES is checked against
  XRES = f2(K, RAND) computed again from the card's keys (TS 33.102 clause 6.3.2; f2
  does not depend on SQN).
- evidence: ``load`` counts the rate limits and reads the challenge with its handset's
  key, its card and the pool's record of the card the evidence names; ``record``
  consumes the challenge (``state = 'pending'`` → ``'consumed'``, a conditional UPDATE:
  of two concurrent submissions exactly one finds it pending) and appends the audit
  entry, atomically — or does neither and answers False.

The process that issued a challenge keeps a copy of what ``load`` would read back for
evidence naming the challenged card (``server.attestation.copies``): handsets' keys and cards'
identities never change once registered, and a challenge's appraisal is bound to the
pairing it was issued under, so only its state and expiry can differ from the copy —
and ``record`` consumes a challenge only while it is pending and unexpired.  With the
copy there is no ``load``: ``record`` counts the rate limits instead.

Two implementations: ``server.store.attestations_pg`` (the psycopg driver directly, one
statement per round trip, two or three round trips per attestation) and
``server.store.attestations_sqlite`` (SQLAlchemy Core: SQLite, where statements are
in-process calls).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from attest.appraisal import PooledCard
from server.store.audit_chain import Entry


@dataclass(frozen=True, slots=True)
class PairedCard:
    """The challenged handset and its paired card with the SEQ just reserved for it."""

    handset_id: int
    public_key_pem: str
    card_id: int | None
    iccid: str | None
    imsi: str | None
    profile: str | None
    algorithm: str | None
    k_enc: bytes | None = field(repr=False)
    opc_enc: bytes | None = field(repr=False)
    sqn_seq: int | None  # None when the handset has no paired card


@dataclass(frozen=True, slots=True)
class Proof:
    """Why a challenge may be issued for a handset's card: the handset's registered key
    verified the request's signature (``server.attestation.challenge``)."""

    public_key_pem: str  # the key that verified it
    signed_at: int | None  # the request's time (ms); None: a resynchronisation's

    def pg_params(self) -> dict[str, Any]:
        return {"signed_by": self.public_key_pem, "signed_at": self.signed_at}


NO_PROOF = {"signed_by": None, "signed_at": None}


@dataclass(frozen=True, slots=True)
class NewChallenge:
    """A challenge to store; ``issue`` adds the handset and card it finds."""

    id: str
    imei: str
    app: str
    rand: bytes
    nonce: str
    client: str
    created_at: dt.datetime
    expires_at: dt.datetime

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class StoredChallenge:
    """A challenge as ``load`` finds it, with what the appraisal needs of the registry."""

    id: str
    imei: str
    rand: bytes
    nonce: str
    state: str
    fresh: bool  # not yet expired at the time given to ``load``
    public_key_pem: str | None  # None: the IMEI was not registered
    iccid: str | None  # the card the challenge was computed for
    imsi: str | None
    profile: str | None
    algorithm: str | None
    k_enc: bytes | None = field(repr=False)
    opc_enc: bytes | None = field(repr=False)
    evidence_card: PooledCard | None  # the pool's record of the ICCID in the evidence

    @property
    def pending(self) -> bool:
        return self.state == "pending" and self.fresh

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredChallenge:
        """From the columns of the challenge, then the evidence card's ICCID, IMSI and
        paired IMEI (both stores select them in this order)."""
        *challenge, iccid, imsi, imei = row
        card = None if iccid is None else PooledCard(iccid, imsi, imei)
        return cls(**dict(zip(_CHALLENGE_COLUMNS, challenge, strict=True)), evidence_card=card)


_CHALLENGE_COLUMNS = StoredChallenge.__slots__[:-1]  # all but evidence_card


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``record`` writes on the consumed challenge."""

    status: str
    reasons: list[str]
    ear: str | None
    iccid: str
    imsi: str
    evidence: dict[str, Any]
    resync_id: str | None = None
    device_certificate: str | None = None  # SHA-256 (hex) of the TLS client certificate


class AttestationStore(Protocol):
    def issue(self, challenge: NewChallenge, limits: dict[str, int] | None,
              proof: Proof | None) -> PairedCard | None:
        """Look up the handset ``challenge.imei`` and its paired card; count ``limits``
        (``ratelimit.RateLimited``: nothing else written) — the per-IMEI ones only if
        the request is bound to the handset: ``proof`` names the key it has and, with a
        time, a time later than any of its requests bound before (kept under
        ``signed:<IMEI>`` in ``rate_counters``; a replay is not bound); if bound,
        reserve the card's SQN and store ``challenge`` for that handset and card, else
        store it as a decoy.  Returns the handset and card found, bound or not (None:
        the IMEI is not registered); ``sqn_seq`` is None unless an SQN was reserved."""
        ...

    def handset_key(self, imei: str) -> str | None:
        """The public key PEM registered for ``imei`` (None: not registered)."""
        ...

    def count(self, limits: dict[str, int] | None) -> None:
        """Count ``limits`` on their own (``ratelimit.RateLimited``)."""
        ...

    def load(self, attestation_id: str, evidence_iccid: str, now: dt.datetime,
             limits: dict[str, int] | None) -> StoredChallenge | None:
        """Count ``limits``; the challenge (None if there is no such id)."""
        ...

    def record(self, attestation_id: str, at: dt.datetime, verdict: Verdict,
               entry: Entry, limits: dict[str, int] | None = None) -> bool:
        """Count ``limits`` (``ratelimit.RateLimited``: nothing else written), consume
        the pending challenge with ``verdict`` and append ``entry``; False (counted,
        nothing else written) if it was not pending any more or had expired by ``at``."""
        ...

    def expire(self, attestation_id: str, at: dt.datetime, status: str, reasons: list[str],
               ear: str, entry: Entry) -> bool:
        """Mark the pending challenge expired with its verdict and EAR and append
        ``entry``; False (nothing written) if it was not pending any more."""
        ...

    def audit(self, entry: Entry) -> None:
        """Append ``entry`` on its own."""
        ...

    def close(self) -> None:
        """Release the store's own connections (the service is closing)."""
        ...

