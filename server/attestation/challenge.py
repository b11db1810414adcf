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
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import cast

from attest import appraisal, b64url
from attest.aka.sqn import join_sqn
from server.attestation.copies import Issued, copies_of
from server.core.identifiers import check_imei
from server.core.service import Service
from server.pool.cardkeys import CardSecrets, card_algorithm
from server.store.attestations import NewChallenge, PairedCard, StoredChallenge
from server.store.models import utcnow

APP_USIM = "usim"
# AMF with the separation bit set (TS 33.102 Annex F, TS 33.401 clause 6.1.1); the
# 3G context on the card ignores it, E-UTRAN-capable cards expect it.
AMF = b"\x80\x00"
NONCE_BYTES = 32  # 256 bits from secrets (at least 128 are needed)


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


def create_challenge(svc: Service, imei: str, client: str,
                     limits: dict[str, int] | None = None) -> Challenge:
    """A single-use challenge for the handset ``imei`` (see the module docstring); a
    malformed IMEI is refused (ValidationError, 422), never answered with a decoy.

    ``limits`` (``{counter key: per minute}``, ``server.attestation.ratelimit``) are
    counted first; ``server.store.rate_counters.RateLimited`` when one is exceeded
    (nothing else written).
    """
    check_imei(imei)
    return issue(svc, imei, client, limits)


def issue(svc: Service, imei: str, client: str, limits: dict[str, int] | None) -> Challenge:
    """Store a fresh challenge for ``imei`` (a decoy if it has no paired card), without
    checking the IMEI again: also the fresh challenge of a resynchronisation."""
    now = utcnow()
    stored = NewChallenge(
        # Hex, 128 bits: base64url ids began with "-" one time in 64, which the desk CLI's
        # `--attestation ID` then took for an option.
        id=secrets.token_hex(16), imei=imei, app=APP_USIM, rand=secrets.token_bytes(16),
        nonce=b64url.encode(secrets.token_bytes(NONCE_BYTES)), client=client[:64],
        created_at=now, expires_at=now + dt.timedelta(seconds=svc.config.challenge_ttl))
    found = svc.store.issue(stored, limits)
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
                     nonce=stored.nonce, expires_at=stored.expires_at)


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
