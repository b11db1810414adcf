"""Issuing a checkout challenge: RAND, nonce and AUTN for the handset's paired card.

``create_challenge`` has the store (``server.store.attestations``) look up the card
paired with the handset, reserve its next SQN in the service's IND slot (TS 33.102
Annex C.1) and store the challenge (RAND, a 256-bit nonce, expiry after
``ServiceConfig.challenge_ttl``) in one transaction, then computes the authentication
vector with the card's algorithm (Milenage or TUAK) for the answer.  Nothing derived
from the card's keys is stored: the evidence's RES is checked against XRES = f2(K, RAND),
computed again from the card's keys (TS 33.102 clause 6.3.2), so the database holds no
secret beyond the cards' encrypted K and OPc.  The issuing process keeps a copy of the
challenge and its XRES for the evidence (``server.attestation.copies``).

An IMEI that is well-formed but not registered (or has no paired card) still gets a
challenge — a decoy, computed like a real one under a throw-away card's random keys and
stored without a card.  The handset must get a verdict: its evidence is then appraised
``ME_UNKNOWN`` (or ``HANDSET_NOT_PAIRED``), recorded, audited and listed among the
desk's alerts, and a prober can tell registered IMEIs from others neither by the
answer nor by the work (and so the time) it took.  The card answers the decoy AUTN
with a MAC failure, which leaves its SQN state untouched (TS 33.102 clause 6.3.3).

The request is signed with the handset's device key over its IMEI and the time
(``attest.evidence.challenge_request_bytes``), and only a request whose signature the
registered key verifies, whose time is within ``MAX_CLOCK_SKEW_MS`` of the service's
clock and later than any request of that handset accepted before (single use:
``server.store.attestations``), counts against the handset's per-IMEI allowance and gets
a challenge for its card.  Any other request — a forged or replayed signature, or an
unregistered IMEI — is counted per client address only and gets a decoy, the same
work and the same answer: a party without the device key can neither lock the handset
out nor tell whether its IMEI is registered.  The key comes from this process's
``server.attestation.handset_keys``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass, field
from typing import cast

from attest import appraisal, b64url
from attest.aka.sqn import join_sqn
from attest.evidence import challenge_request_bytes
from server.attestation import ratelimit
from server.attestation.copies import Issued, copies_of
from server.attestation.handset_keys import keys_of, signing_key
from server.core.errors import ValidationError
from server.core.identifiers import check_imei
from server.core.service import Service
from server.pool.cardkeys import CardSecrets, card_algorithm
from server.store.attestations import NewChallenge, PairedCard, Proof, StoredChallenge
from server.store.models import utcnow

APP_USIM = "usim"
# AMF with the separation bit set (TS 33.102 Annex F, TS 33.401 clause 6.1.1); the
# 3G context on the card ignores it, E-UTRAN-capable cards expect it.
AMF = b"\x80\x00"
NONCE_BYTES = 32  # 256 bits from secrets (at least 128 are needed)
# How far a challenge request's time may be from the service's clock (handsets take
# theirs from the network); a captured request is of no use to anyone after this.
MAX_CLOCK_SKEW_MS = 120_000


@dataclass(frozen=True, slots=True)
class ChallengeRequest:
    """A handset's signed request for a challenge (``attest.evidence``'s
    ``challenge_request_bytes``)."""

    imei: str
    signed_at: int  # milliseconds since the Unix epoch, the handset's clock
    signature: bytes = field(repr=False)

    def verified_by(self, svc: Service, pem: str | None) -> bool:
        """Whether the key ``pem`` (None: unregistered) signed this request; the same
        work either way (``server.attestation.handset_keys.signing_key``)."""
        key = signing_key(svc, self.imei, pem)
        return key.verify(challenge_request_bytes(self.imei, self.signed_at),
                          self.signature) and pem is not None


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the device agent gets: run AUTHENTICATE with RAND/AUTN on ``app``."""

    id: str
    rand: bytes
    autn: bytes
    app: str
    nonce: str
    expires_at: dt.datetime

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "rand": self.rand.hex(),
            "autn": self.autn.hex(),
            "app": self.app,
            "nonce": self.nonce,
            "expires_at": self.expires_at.isoformat(timespec="seconds"),
        }


def create_challenge(svc: Service, request: ChallengeRequest, client: str,
                     limits: dict[str, int] | None = None) -> Challenge:
    """A single-use challenge for the handset ``request.imei`` (see the module
    docstring); a malformed IMEI or a time too far from the service's clock is refused
    (ValidationError, 422), never answered with a decoy.

    ``limits`` (``{counter key: per minute}``, ``server.attestation.ratelimit``) are
    counted first, the per-IMEI ones only for a request the handset's key signed;
    ``server.store.rate_counters.RateLimited`` when one is exceeded (nothing else
    written).
    """
    imei = check_imei(request.imei)
    skew = request.signed_at - int(time.time() * 1000)
    if abs(skew) > MAX_CLOCK_SKEW_MS:
        raise ValidationError(
            f"signed {abs(skew) // 1000} s {'ahead of' if skew > 0 else 'behind'} the "
            f"service's clock (at most {MAX_CLOCK_SKEW_MS // 1000} s): set the handset's "
            "clock", field="signed_at")
    keys = keys_of(svc)
    pem = keys.get(svc, imei)
    proven = request.verified_by(svc, pem)
    proof = Proof(pem, request.signed_at) if proven and pem is not None else None
    challenge, found = issue(svc, imei, client,
                             limits if proof else ratelimit.per_client(limits), proof)
    registered = None if found is None else found.public_key_pem
    if registered != pem:
        # The IMEI was registered since this process last looked: as if it had known.
        keys.correct(imei, registered)
        if not proven and request.verified_by(svc, registered):
            challenge, _found = issue(svc, imei, client, ratelimit.per_imei(limits),
                                      Proof(cast(str, registered), request.signed_at))
    return challenge


def issue(svc: Service, imei: str, client: str, limits: dict[str, int] | None,
          proof: Proof | None) -> tuple[Challenge, PairedCard | None]:
    """Store a fresh challenge for ``imei`` — for its card if ``proof`` binds it to the
    registered handset, else a decoy — without checking the IMEI again: also the fresh
    challenge of a resynchronisation.  Also returns what the store found registered."""
    now = utcnow()
    stored = NewChallenge(
        # Hex, 128 bits: base64url ids began with "-" one time in 64, which the desk CLI's
        # `--attestation ID` then took for an option.
        id=secrets.token_hex(16), imei=imei, app=APP_USIM, rand=secrets.token_bytes(16),
        nonce=b64url.encode(secrets.token_bytes(NONCE_BYTES)), client=client[:64],
        created_at=now, expires_at=now + dt.timedelta(seconds=svc.config.challenge_ttl))
    found = svc.store.issue(stored, limits, proof)
    decoy = found is None or found.sqn_seq is None
    # A decoy does a real challenge's work (key decryption, Milenage) on a throw-away
    # card, so its answer time does not tell registered IMEIs apart.
    card: CardSecrets = _decoy_card(svc) if decoy else cast(CardSecrets, found)
    sqn = secrets.token_bytes(6) if decoy \
        else join_sqn(cast(int, cast(PairedCard, found).sqn_seq), svc.config.ind_slot)
    vector = card_algorithm(svc, card).vector(stored.rand, sqn, AMF)
    if not decoy:
        copies_of(svc).add(_copy(stored, cast(PairedCard, found), vector.res), now)
    return Challenge(id=stored.id, rand=stored.rand, autn=vector.autn, app=stored.app,
                     nonce=stored.nonce, expires_at=stored.expires_at), found


@dataclass(slots=True)
class _DecoyCard:
    iccid: str
    algorithm: str
    k_enc: bytes
    opc_enc: bytes


def _decoy_card(svc: Service) -> _DecoyCard:
    """A card nobody has: random K and OPc, encrypted like a pooled card's."""
    k, opc = secrets.token_bytes(16), secrets.token_bytes(16)
    return _DecoyCard("decoy", "milenage", svc.keys.encrypt_secret("decoy", k),
                      svc.keys.encrypt_secret("decoy", opc))


def _copy(stored: NewChallenge, paired: PairedCard, xres: bytes) -> Issued:
    """What the evidence's ``load`` would read, for evidence naming the paired card."""
    iccid, imsi = cast(str, paired.iccid), cast(str, paired.imsi)
    challenge = StoredChallenge(
        stored.id, stored.imei, stored.rand, stored.nonce, "pending", True,
        paired.public_key_pem, iccid, imsi, paired.profile, paired.algorithm, paired.k_enc,
        paired.opc_enc, appraisal.PooledCard(iccid, imsi, stored.imei))
    return Issued(challenge, xres, stored.expires_at)
