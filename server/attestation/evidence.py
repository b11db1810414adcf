"""Checkout attestation: issue an AKA challenge, take the evidence, appraise, sign an EAR.

``create_challenge`` looks up the card paired with the handset, reserves the next SQN
in the service's IND slot (``server.pool.registry.reserve_sqn``, TS 33.102 Annex C.1),
stores the challenge (RAND, a 256-bit nonce, 60 s expiry) and computes the
authentication vector with the card's algorithm (Milenage or TUAK) for the answer.
Nothing derived from the card's keys is stored: the evidence's RES is checked against
XRES = f2(K, RAND), computed again from the card's keys (TS 33.102 clause 6.3.2), so
the database holds no secret beyond the cards' encrypted K and OPc.

An IMEI that is well-formed but not registered (or has no paired card) still gets a
challenge — a decoy, computed like a real one under a throw-away card's random keys and
stored without a card.  The handset must get a verdict: its evidence is then appraised
``ME_UNKNOWN`` (or ``HANDSET_NOT_PAIRED``), recorded, audited and listed among the
desk's alerts, and a prober can tell registered IMEIs from others neither by the
answer nor by the work (and so the time) it took.  The card answers the decoy AUTN
with a MAC failure, which leaves its SQN state untouched (TS 33.102 clause 6.3.3).

``submit_evidence`` reads the challenge (``server.store.attestations``), appraises the
evidence, signs the EAR, and then one conditional UPDATE (``state = 'pending'``)
records the verdict and consumes the challenge, with its audit entry, atomically: of
two concurrent submissions exactly one finds the row pending — on PostgreSQL the second
waits for the first's row lock and, re-checking the condition on the committed row,
finds it consumed; on SQLite the write transactions are serialised (``BEGIN
IMMEDIATE``).  The loser is answered ``CHALLENGE_REUSED``.  A failure before that
statement commits leaves the challenge pending and nothing else.

Round trips are few on purpose (each costs more CPU in the driver and the server than
the cryptography does): on PostgreSQL three per full attestation, two when the evidence
comes back to the worker process that issued the challenge — that process appraises it
from its own copy (``server.attestation.copies``: the challenge as the database holds it, and its
XRES); if the verdict's conditional UPDATE then finds the challenge consumed or
expired, the evidence is appraised again from the database.  See
``server.store.attestations_pg``.

A synchronisation failure with a valid AUTS (and nothing else wrong) re-synchronises
the card's SEQ (``server.pool.registry.resync_sqn``, never backwards) and answers ``resync``
with a fresh challenge.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
import secrets
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any, cast

from sqlalchemy import and_, func, select

from attest import appraisal, ear
from attest.aka.sqn import AutsInvalid, join_sqn, resync
from attest.devicekey import DevicePublicKey, load_public_key
from attest.errors import FieldError
from attest.evidence import Evidence, canonical_json, parse_evidence
from attest.profiles import classify
from server.attestation.copies import Issued, copies_of
from server.core.errors import NotFound, ValidationError
from server.core.identifiers import check_imei
from server.core.service import Service
from server.http import metrics
from server.pool import registry
from server.pool.cardkeys import CardSecrets, card_algorithm
from server.pool.profiles import known_profiles
from server.store import audit_chain as audit
from server.store.attestations import NewChallenge, PairedCard, StoredChallenge, Verdict
from server.store.models import Attestation, utcnow

APP_USIM = "usim"
# AMF with the separation bit set (TS 33.102 Annex F, TS 33.401 clause 6.1.1); the
# 3G context on the card ignores it, E-UTRAN-capable cards expect it.
AMF = b"\x80\x00"
NONCE_BYTES = 32  # 256 bits from secrets (the issue asks for at least 128)
MAX_SIGNATURE_CHARS = 200  # base64url of a 72-byte DER signature is 96
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


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


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to an evidence: a verdict with its EAR, or a resync with a new challenge."""

    attestation_id: str
    status: str  # affirming | warning | contraindicated | resync
    reasons: list[str]
    ear: str | None = None
    challenge: Challenge | None = None

    def to_json(self) -> dict[str, Any]:
        if self.challenge is not None:
            return {"attestation_id": self.attestation_id, "status": self.status,
                    "challenge": self.challenge.to_json()}
        return {"attestation_id": self.attestation_id, "status": self.status,
                "reasons": self.reasons, "ear": self.ear}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, field: str) -> bytes:
    """Strict base64url (RFC 4648 clause 5), padding optional."""
    if not _B64URL.fullmatch(text) or len(text) > MAX_SIGNATURE_CHARS:
        raise ValidationError(
            f"expected base64url (A-Z a-z 0-9 - _) of at most {MAX_SIGNATURE_CHARS} characters",
            field=field)
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        raise ValidationError("expected base64url (bad length)", field=field) from None


_KINDS: dict[str, appraisal.CardKind] = {"public-safety": "public-safety",
                                         "commercial": "commercial"}


@functools.lru_cache(maxsize=4096)
def _device_key(pem: str) -> DevicePublicKey:
    """Parsed once per key and process (the registry normalised the PEM on the way in)."""
    return load_public_key(pem.encode("ascii"))


@functools.cache
def _verifier() -> ear.VerifierId:
    try:
        version = metadata.version("simattest")
    except metadata.PackageNotFoundError:
        version = "0"
    return ear.VerifierId(developer="https://simattest.dev", build=f"simattest {version}")


# --- challenge -------------------------------------------------------------------------

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


def _issue(svc: Service, imei: str, client: str, limits: dict[str, int] | None) -> Challenge:
    """Store a fresh challenge (a decoy if ``imei`` has no paired card)."""
    now = utcnow()
    stored = NewChallenge(
        # Hex, 128 bits: base64url ids began with "-" one time in 64, which the desk CLI's
        # `--attestation ID` then took for an option.
        id=secrets.token_hex(16), imei=imei, app=APP_USIM, rand=secrets.token_bytes(16),
        nonce=b64url(secrets.token_bytes(NONCE_BYTES)), client=client[:64], created_at=now,
        expires_at=now + dt.timedelta(seconds=svc.config.challenge_ttl))
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


def _copy(stored: NewChallenge, paired: PairedCard, xres: bytes) -> Issued:
    """What the evidence's ``load`` would read, for evidence naming the paired card."""
    iccid, imsi = cast(str, paired.iccid), cast(str, paired.imsi)
    challenge = StoredChallenge(
        stored.id, stored.imei, stored.rand, stored.nonce, "pending", True,
        paired.public_key_pem, iccid, imsi, paired.profile, paired.algorithm, paired.k_enc,
        paired.opc_enc, appraisal.PooledCard(iccid, imsi, stored.imei))
    return Issued(challenge, xres, stored.expires_at)


def create_challenge(svc: Service, imei: str, client: str,
                     limits: dict[str, int] | None = None) -> Challenge:
    """A single-use challenge for the handset ``imei`` (see the module docstring).

    ``limits`` (``{counter key: per minute}``) are counted first;
    ``ratelimit.RateLimited`` when one is exceeded (nothing else written).
    """
    check_imei(imei)
    return _issue(svc, imei, client, limits)


# --- evidence --------------------------------------------------------------------------

def _facts(
    svc: Service, att: StoredChallenge, evidence: Evidence, signed: bytes, signature: bytes,
) -> tuple[appraisal.RegistryFacts, bytes | None]:
    """Registry facts for the appraisal, and SQN_MS of a valid AUTS."""
    handset_known = att.public_key_pem is not None
    signature_valid = _signed_by_handset(att, signed, signature)
    # A card's IMSI is NOT NULL: it is known whenever the challenge had a card.
    paired = None if att.iccid is None \
        else appraisal.PooledCard(att.iccid, cast(str, att.imsi), att.imei)
    evidence_card = paired if paired is not None and paired.iccid == evidence.iccid \
        else att.evidence_card
    auts_valid, sqn_ms = None, None
    if evidence.outcome.auts is not None and paired is not None and paired == evidence_card:
        try:
            alg = card_algorithm(svc, cast(CardSecrets, att))
            sqn_ms = resync(alg, att.rand, evidence.outcome.auts)
            auts_valid = True
        except AutsInvalid:
            auts_valid = False
    kind = classify(evidence.card_facts(), known_profiles())
    registered_profile = att.profile if paired is not None and paired == evidence_card else None
    profile_ok = not kind.reasons and registered_profile in (None, kind.profile)
    facts = appraisal.RegistryFacts(
        handset_known=handset_known, signature_valid=signature_valid,
        paired_card=paired, evidence_card=evidence_card,
        card_kind=_KINDS.get(kind.kind, "unknown"), profile_ok=profile_ok, auts_valid=auts_valid,
    )
    return facts, sqn_ms


def _sign(svc: Service, verdict: appraisal.Verdict, nonce: str) -> str:
    now = int(utcnow().timestamp())
    claims = ear.claims(verdict, nonce=nonce, verifier=_verifier(), iat=now,
                        ttl=int(svc.config.checkout_max_age))
    return ear.sign(claims, svc.signer.private_key, svc.signer.kid)


def _actor(att: StoredChallenge, signature_valid: bool, client: str) -> str:
    """Whom the audit log names for a device's submission: the handset when the evidence
    carries the signature of the key registered for the challenged handset, else only the
    address it came from — anyone may post evidence, and the IMEI it claims is no proof."""
    return f"handset:{att.imei}" if signature_valid else f"client:{client or 'unknown'}"


def _signed_by_handset(att: StoredChallenge, signed: bytes, signature: bytes) -> bool:
    return att.public_key_pem is not None \
        and _device_key(att.public_key_pem).verify(signed, signature)


def _stale_verdict(svc: Service, att: StoredChallenge, actor: str,
                   freshness: appraisal.Freshness) -> tuple[Outcome, audit.Entry]:
    verdict = appraisal.stale(freshness)
    token = _sign(svc, verdict, att.nonce)
    entry = audit.Entry(actor, f"attestation.{freshness}", f"attestation:{att.id}",
                        {"imei": att.imei, "status": verdict.status, "reasons": verdict.reasons})
    return Outcome(att.id, verdict.status, verdict.reasons, token), entry


def _stale(svc: Service, att: StoredChallenge, actor: str) -> Outcome:
    """Evidence for a challenge that is no longer pending and fresh: expired or used."""
    if att.state == "pending":
        # Expired while pending: that verdict is recorded on the row, once.
        outcome, entry = _stale_verdict(svc, att, actor, "expired")
        if svc.store.expire(att.id, utcnow(), outcome.status, outcome.reasons,
                            cast(str, outcome.ear), entry):
            return outcome
        # else another submission consumed or expired it meanwhile: a reuse
    outcome, entry = _stale_verdict(svc, att, actor, "reused")
    svc.store.audit(entry)
    return outcome


def submit_evidence(
    svc: Service, attestation_id: str, evidence: Any, signature: str, client: str,
    limits: dict[str, int] | None = None,
) -> Outcome:
    """Appraise the evidence for one challenge (see the module docstring).

    ``evidence`` is the decoded JSON object exactly as the device signed it; malformed
    evidence is refused (ValidationError naming the field) before the challenge is
    touched, so the device can retry.  ``limits`` as for ``create_challenge``.
    """
    try:
        parsed = parse_evidence(evidence)
    except FieldError as exc:
        # As the body checks answer: the detail names the field, the reason does not.
        raise ValidationError(str(exc), field=exc.field,
                              errors=[{"field": exc.field, "reason": exc.reason}]) from None
    raw_signature = b64url_decode(signature, "signature")
    signed = canonical_json(evidence)
    with metrics.appraisal_timer():
        now = utcnow()
        outcome = None
        issued = copies_of(svc).take(attestation_id, now)
        # Other cards and resynchronisations are rare: they are read back.
        if issued is not None and issued.challenge.iccid == parsed.iccid \
                and parsed.outcome.auts is None:
            # This process's copy; the limits are counted with the verdict.
            outcome = _appraise(svc, issued.challenge, now, parsed, signed, raw_signature,
                                client, issued, limits)
            limits = None  # counted, even if the copy was out of date
        if outcome is None:
            # No copy, or it was out of date (another submission consumed the challenge,
            # or it expired meanwhile): appraise what the database holds.
            att = svc.store.load(attestation_id, parsed.iccid, now, limits)
            if att is None:
                raise NotFound(f"attestation {attestation_id} does not exist",
                               field="attestation_id")
            outcome = cast(Outcome, _appraise(svc, att, now, parsed, signed, raw_signature,
                                              client, None, None)) if att.pending \
                else _stale(svc, att, _actor(att, _signed_by_handset(att, signed,
                                                                     raw_signature), client))
    metrics.count_outcome(outcome.status, outcome.reasons)
    return outcome


def _appraise(
    svc: Service, att: StoredChallenge, now: dt.datetime, evidence: Evidence, signed: bytes,
    signature: bytes, client: str, issued: Issued | None, limits: dict[str, int] | None,
) -> Outcome | None:
    """The verdict, recorded (``limits`` counted with it); None if ``issued`` (the copy
    ``att`` is) was out of date."""
    # XRES = f2(K, RAND) of the card the challenge was computed for (TS 33.102 clause
    # 6.3.2): the copy kept it; a decoy has no card, so no RES is expected.
    if issued is not None:
        xres: bytes | None = issued.xres
    elif att.iccid is None:
        xres = None
    else:
        xres = card_algorithm(svc, cast(CardSecrets, att)).f2345(att.rand)[0]
    challenge = appraisal.ChallengeFacts(att.id, att.nonce, att.imei, xres)
    facts, sqn_ms = _facts(svc, att, evidence, signed, signature)
    actor = _actor(att, facts.signature_valid, client)
    verdict = appraisal.appraise(challenge, evidence, facts)
    status, reasons = verdict.status, verdict.reasons  # derived properties: once
    subject = f"attestation:{att.id}"
    if sqn_ms is not None and att.iccid is not None and status == "affirming":
        # (Never from a copy: submit_evidence reads resynchronisations back.)
        # Never moves SEQ backwards, so it is safe on its own even if this submission
        # then loses the challenge to a concurrent one.
        registry.resync_sqn(svc, att.iccid, sqn_ms)
        fresh = _issue(svc, att.imei, client, None)  # this request was counted already
        recorded = svc.store.record(
            att.id, now,
            Verdict("resync", [], None, evidence.iccid, evidence.imsi, evidence.to_json(),
                    resync_id=fresh.id),
            audit.Entry(actor, "attestation.resync", subject,
                        {"imei": att.imei, "iccid": att.iccid, "next": fresh.id}))
        if recorded:
            return Outcome(att.id, "resync", [], challenge=fresh)
        return _stale(svc, replace(att, state="consumed"), actor)
    token = _sign(svc, verdict, att.nonce)
    recorded = svc.store.record(
        att.id, now,
        Verdict(status, reasons, token, evidence.iccid, evidence.imsi, evidence.to_json()),
        audit.Entry(actor, "attestation", subject,
                    {"imei": att.imei, "iccid": evidence.iccid, "status": status,
                     "reasons": reasons}), limits)
    if recorded:
        return Outcome(att.id, status, reasons, token)
    if issued is not None:
        return None
    return _stale(svc, replace(att, state="consumed"), actor)


# --- queries (API, desk pages, CLI) ----------------------------------------------------

@dataclass(frozen=True, slots=True)
class AttestationView:
    """An attestation as the desk sees it.  The evidence summary leaves out RES/AUTS."""

    id: str
    imei: str
    state: str
    status: str | None
    reasons: list[str]
    iccid: str | None
    imsi: str | None
    created_at: dt.datetime
    appraised_at: dt.datetime | None
    evidence: dict[str, Any] | None
    ear: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "imei": self.imei, "state": self.state, "status": self.status,
            "reasons": self.reasons, "iccid": self.iccid, "imsi": self.imsi,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "appraised_at": None if self.appraised_at is None
            else self.appraised_at.isoformat(timespec="seconds"),
            "evidence": self.evidence, "ear": self.ear,
        }


def _summary(evidence: dict[str, Any] | None) -> dict[str, Any] | None:
    if evidence is None:
        return None
    summary = dict(evidence)
    summary["outcome"] = {"outcome": evidence["outcome"]["outcome"]}
    return summary


def _attestation_view(att: Attestation) -> AttestationView:
    return AttestationView(att.id, att.imei, att.state, att.status, list(att.reasons or []),
                           att.iccid, att.imsi, att.created_at, att.appraised_at,
                           _summary(att.evidence), att.ear)


def get_attestation(svc: Service, attestation_id: str) -> AttestationView:
    with svc.db.read_session() as session:
        att = session.get(Attestation, attestation_id)
        if att is None:
            raise NotFound(f"attestation {attestation_id} does not exist",
                           field="attestation_id")
        return _attestation_view(att)


def latest_attestations(svc: Service, imeis: list[str]) -> dict[str, AttestationView]:
    """The newest appraised attestation of each of these handsets (one query)."""
    if not imeis:
        return {}
    newest = (select(Attestation.imei, func.max(Attestation.appraised_at).label("at"))
              .where(Attestation.imei.in_(imeis), Attestation.status.is_not(None))
              .group_by(Attestation.imei).subquery())
    with svc.db.read_session() as session:
        rows = session.scalars(
            select(Attestation).join(newest, and_(Attestation.imei == newest.c.imei,
                                                  Attestation.appraised_at == newest.c.at))
        ).all()
        return {att.imei: _attestation_view(att) for att in rows}


def latest_attestation(svc: Service, imei: str) -> AttestationView:
    """The handset's newest appraised attestation: what the desk checks a handset out
    from when it is handed the handset rather than an attestation id."""
    check_imei(imei)
    found = latest_attestations(svc, [imei]).get(imei)
    if found is None:
        raise NotFound(f"handset {imei} has no appraised attestation; run the checkout "
                       "attestation on it first", field="imei")
    return found


def alerts(svc: Service, *, offset: int = 0, limit: int = 50) -> list[AttestationView]:
    """Contraindicated attestations, newest first (the desk's alert list)."""
    with svc.db.read_session() as session:
        rows = session.scalars(
            select(Attestation).where(Attestation.status == "contraindicated")
            .order_by(Attestation.appraised_at.desc(), Attestation.id)
            .offset(max(0, offset)).limit(max(1, min(limit, 500)))
        ).all()
        return [_attestation_view(att) for att in rows]


def count_alerts(svc: Service) -> int:
    with svc.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Attestation)
                              .where(Attestation.status == "contraindicated")) or 0
