"""Checkout attestation: issue an AKA challenge, take the evidence, appraise, sign an EAR.

``create_challenge`` looks up the card paired with the handset, reserves the next SQN
in the service's IND slot (``server.registry.reserve_sqn``, TS 33.102 Annex C.1),
computes the authentication vector with the card's algorithm (Milenage or TUAK) and
stores the challenge: RAND, AUTN, XRES (encrypted), a 256-bit nonce, 60 s expiry.

An IMEI that is well-formed but not registered (or has no paired card) still gets a
challenge — a decoy with random RAND/AUTN and no XRES.  The handset must get a
verdict: its evidence is then appraised ``ME_UNKNOWN`` (or ``HANDSET_NOT_PAIRED``),
recorded, audited and listed among the desk's alerts, and a prober cannot tell
registered IMEIs from others.  The card answers the random AUTN with a MAC failure,
which leaves its SQN state untouched (TS 33.102 clause 6.3.3).

``submit_evidence`` selects the challenge ``FOR UPDATE`` only while ``state =
'pending' AND expires_at > now``, and the one UPDATE that records the verdict also
flips it to consumed: of two concurrent submissions exactly one finds the row pending
— on PostgreSQL the second waits for the first's row lock and then, re-checking the
condition on the committed row, finds it consumed; on SQLite the write transactions
are serialised (``BEGIN IMMEDIATE``).  The appraisal, the EAR, the stored verdict and
the audit entry are written in that same transaction, so a failure anywhere leaves
the challenge pending and nothing else.

Round trips are few on purpose (each costs more CPU in the driver and the server than
the cryptography does): on PostgreSQL a challenge is two statements (card lookup + SQN
reservation as one CTE; challenge insert + rate counters as one CTE), an evidence four
(challenge + registry facts; verdict + rate counters; audit head lock; audit entry +
head), each set in one transaction on one pooled connection.

A synchronisation failure with a valid AUTS (and nothing else wrong) re-synchronises
the card's SEQ (``server.registry.resync_sqn``) and answers ``resync`` with a fresh
challenge, issued in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
import secrets
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, select, true, update

from attest import appraisal, ear
from attest.aka.base import AkaAlgorithm
from attest.aka.milenage import Milenage
from attest.aka.sqn import AutsInvalid, join_sqn, resync
from attest.aka.tuak import Tuak
from attest.devicekey import DevicePublicKey, load_public_key
from attest.errors import InputError
from attest.evidence import Evidence, canonical_json, parse_evidence
from attest.profiles import CardProfile, classify
from hw.cardfile import load_profiles
from server import audit, metrics, ratelimit, registry
from server.context import Service
from server.errors import NotFound, ValidationError
from server.identifiers import check_imei
from server.store.models import Card, Handset, Pairing, UtcDateTime, utcnow
from server.store.models_attestation import Attestation

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


class CardSecrets(Protocol):
    """What ``card_algorithm`` needs of a card (an ORM ``Card`` or a selected row)."""

    iccid: str
    algorithm: str
    k_enc: bytes
    opc_enc: bytes


def card_algorithm(svc: Service, card: CardSecrets) -> AkaAlgorithm:
    """The card's AKA algorithm with its K and OPc (TOPc for TUAK) decrypted."""
    k = svc.keys.decrypt_secret(card.iccid, card.k_enc)
    opc = svc.keys.decrypt_secret(card.iccid, card.opc_enc)
    if card.algorithm == "tuak":
        return Tuak(k, topc=opc)
    return Milenage(k, opc=opc)


# Statements built once: their compiled form is cached, each call only binds values.
_ATT = cast(Table, Attestation.__table__)
_ACTIVE_PAIRING = and_(Pairing.handset_id == Handset.id, Pairing.ended_at.is_(None))
_HANDSET_AND_CARD = (
    select(Handset.id.label("handset_id"), Card.id.label("card_id"), Card.iccid,
           Card.algorithm, Card.k_enc, Card.opc_enc)
    .select_from(Handset)
    .outerjoin(Pairing, _ACTIVE_PAIRING)
    .outerjoin(Card, Card.id == Pairing.card_id)
    .where(Handset.imei == bindparam("imei"))
)
_CARDS = cast(Table, Card.__table__)
# PostgreSQL: look up the handset's card and reserve its next SQN in one statement.  The
# UPDATE in the CTE is the same atomic increment as ``registry.reserve_sqn``.
_HC = _HANDSET_AND_CARD.cte("hc")
_SQN = (update(_CARDS).where(_CARDS.c.id == _HC.c.card_id)
        .values(sqn_seq=_CARDS.c.sqn_seq + 1).returning(_CARDS.c.sqn_seq).cte("sqn"))
_HANDSET_CARD_SQN_PG = select(_HC, _SQN.c.sqn_seq).select_from(_HC.outerjoin(_SQN, true()))
# Explicit bind parameters: the statement also runs as a CTE (``ratelimit.count``).
_INSERT = insert(_ATT).values({name: bindparam(name) for name in (
    "id", "imei", "handset_id", "card_id", "app", "rand", "autn", "xres_enc", "nonce",
    "client", "created_at", "expires_at", "state")})
_FACT_COLUMNS = (Handset.public_key_pem, Card.iccid, Card.imsi, Card.profile, Card.algorithm,
                 Card.k_enc, Card.opc_enc)
# The challenge if still pending and fresh, with its handset's key and its card, its row
# locked until the verdict is written (PostgreSQL: a concurrent second submission waits,
# then finds it no longer pending; SQLite: BEGIN IMMEDIATE already serialises writers).
_PENDING = (
    select(_ATT.c.id, _ATT.c.imei, _ATT.c.rand, _ATT.c.nonce, _ATT.c.xres_enc, *_FACT_COLUMNS)
    .select_from(_ATT)
    .outerjoin(Handset, Handset.id == _ATT.c.handset_id)
    .outerjoin(Card, Card.id == _ATT.c.card_id)
    .where(_ATT.c.id == bindparam("att_id"), _ATT.c.state == "pending",
           _ATT.c.expires_at > bindparam("now", type_=UtcDateTime()))
    .with_for_update(of=_ATT)
)
_STALE = select(_ATT.c.imei, _ATT.c.state, _ATT.c.nonce).where(_ATT.c.id == bindparam("att_id"))
_POOLED = (
    select(Card.iccid, Card.imsi, Handset.imei)
    .select_from(Card)
    .outerjoin(Pairing, and_(Pairing.card_id == Card.id, Pairing.ended_at.is_(None)))
    .outerjoin(Handset, Handset.id == Pairing.handset_id)
    .where(Card.iccid == bindparam("iccid"))
)
# Consume the challenge and record its verdict: one row version, not two.
_RECORD = (
    update(_ATT).where(_ATT.c.id == bindparam("att_id"), _ATT.c.state == "pending")
    .values(state="consumed", appraised_at=bindparam("now", type_=UtcDateTime()),
            xres_enc=None, status=bindparam("status"), reasons=bindparam("reasons"),
            ear=bindparam("ear"), resync_id=bindparam("resync_id"),
            iccid=bindparam("iccid"), imsi=bindparam("imsi"), evidence=bindparam("evidence"))
)


_KINDS: dict[str, appraisal.CardKind] = {"public-safety": "public-safety",
                                         "commercial": "commercial"}


@functools.lru_cache(maxsize=4096)
def _device_key(pem: str) -> DevicePublicKey:
    """Parsed once per key and process (the registry normalised the PEM on the way in)."""
    return load_public_key(pem.encode("ascii"))


@functools.cache
def _profiles() -> dict[str, CardProfile]:
    return load_profiles()


@functools.cache
def _verifier() -> ear.VerifierId:
    try:
        version = metadata.version("simattest")
    except metadata.PackageNotFoundError:
        version = "0"
    return ear.VerifierId(developer="https://simattest.dev", build=f"simattest {version}")


# --- challenge -------------------------------------------------------------------------

def _handset_card_sqn(conn: Connection, svc: Service, imei: str) -> tuple[Any, bytes | None]:
    """The handset's ids, its paired card's secrets and the card's next SQN (if paired)."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(_HANDSET_CARD_SQN_PG, {"imei": imei}).first()
        if row is None or row.sqn_seq is None:
            return row, None
        return row, join_sqn(row.sqn_seq, svc.config.ind_slot)
    row = conn.execute(_HANDSET_AND_CARD, {"imei": imei}).first()
    if row is None or row.card_id is None:
        return row, None
    return row, registry.reserve_sqn(svc, row.iccid, conn)


def _issue(conn: Connection, svc: Service, imei: str, client: str,
           limits: dict[str, int] | None) -> Challenge:
    """Store a fresh challenge and count ``limits`` (one statement on PostgreSQL)."""
    row, sqn = _handset_card_sqn(conn, svc, imei)
    attestation_id = secrets.token_urlsafe(16)
    rand = secrets.token_bytes(16)
    if row is None or sqn is None:
        autn, xres_enc = secrets.token_bytes(16), None
    else:
        vector = card_algorithm(svc, row).vector(rand, sqn, AMF)
        autn = vector.autn
        xres_enc = svc.keys.encrypt_secret(attestation_id, vector.res)
    now = utcnow()
    challenge = Challenge(
        id=attestation_id, rand=rand, autn=autn, app=APP_USIM,
        nonce=b64url(secrets.token_bytes(NONCE_BYTES)),
        expires_at=now + dt.timedelta(seconds=svc.config.challenge_ttl),
    )
    ratelimit.count(conn, limits, along=(_INSERT, {
        "id": attestation_id, "imei": imei, "handset_id": None if row is None else row.handset_id,
        "card_id": None if row is None else row.card_id, "app": APP_USIM, "rand": rand,
        "autn": autn, "xres_enc": xres_enc, "nonce": challenge.nonce, "client": client[:64],
        "created_at": now, "expires_at": challenge.expires_at, "state": "pending",
    }))
    return challenge


def create_challenge(svc: Service, imei: str, client: str,
                     limits: dict[str, int] | None = None) -> Challenge:
    """A single-use challenge for the handset ``imei`` (see the module docstring).

    ``limits`` (``{counter key: per minute}``) are counted in the same transaction;
    ``ratelimit.RateLimited`` when one is exceeded (nothing written).
    """
    check_imei(imei)
    with svc.db.connection() as conn:
        return _issue(conn, svc, imei, client, limits)


# --- evidence --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Consumed:
    """A challenge just consumed, with its handset's key and its card (None if none)."""

    id: str
    imei: str
    rand: bytes
    nonce: str
    xres_enc: bytes | None
    public_key_pem: str | None
    iccid: str | None
    imsi: str | None
    profile: str | None
    algorithm: str
    k_enc: bytes
    opc_enc: bytes


_FIELDS = _Consumed.__slots__


def _consume(conn: Connection, attestation_id: str, now: dt.datetime) -> _Consumed | None:
    """The challenge if still pending and fresh, locked: the statement that decides which
    of two concurrent submissions wins (``_RECORD`` then consumes it)."""
    row = conn.execute(_PENDING, {"att_id": attestation_id, "now": now}).first()
    return None if row is None else _Consumed(**{f: row._mapping[f] for f in _FIELDS})


def _pooled(conn: Connection, iccid: str) -> appraisal.PooledCard | None:
    row = conn.execute(_POOLED, {"iccid": iccid}).first()
    return None if row is None else appraisal.PooledCard(row[0], row[1], row[2])


def _facts(
    conn: Connection, svc: Service, row: _Consumed, evidence: Evidence, signed: bytes,
    signature: bytes,
) -> tuple[appraisal.RegistryFacts, str | None, bytes | None]:
    """Registry facts for the appraisal, the challenged card's ICCID, SQN_MS of a valid AUTS."""
    handset_known = row.public_key_pem is not None
    signature_valid = handset_known and _device_key(row.public_key_pem).verify(signed, signature)
    # A card's IMSI is NOT NULL: it is known whenever the challenge had a card.
    paired = None if row.iccid is None \
        else appraisal.PooledCard(row.iccid, cast(str, row.imsi), row.imei)
    evidence_card = paired if paired is not None and paired.iccid == evidence.iccid \
        else _pooled(conn, evidence.iccid)
    auts_valid, sqn_ms = None, None
    if evidence.outcome.auts is not None and paired is not None and paired == evidence_card:
        try:
            alg = card_algorithm(svc, cast(CardSecrets, row))
            sqn_ms = resync(alg, row.rand, evidence.outcome.auts)
            auts_valid = True
        except AutsInvalid:
            auts_valid = False
    kind = classify(evidence.card_facts(), _profiles())
    registered_profile = row.profile if paired is not None and paired == evidence_card else None
    profile_ok = not kind.reasons and registered_profile in (None, kind.profile)
    facts = appraisal.RegistryFacts(
        handset_known=handset_known, signature_valid=signature_valid,
        paired_card=paired, evidence_card=evidence_card,
        card_kind=_KINDS.get(kind.kind, "unknown"), profile_ok=profile_ok, auts_valid=auts_valid,
    )
    return facts, row.iccid, sqn_ms


def _sign(svc: Service, verdict: appraisal.Verdict, nonce: str) -> str:
    now = int(utcnow().timestamp())
    claims = ear.claims(verdict, nonce=nonce, verifier=_verifier(), iat=now,
                        ttl=int(svc.config.checkout_max_age))
    return ear.sign(claims, svc.signer.private_key, svc.signer.kid)


def _stale(conn: Connection, svc: Service, attestation_id: str, actor: str,
           limits: dict[str, int] | None) -> Outcome:
    """Evidence for a challenge that is not pending and fresh: unknown, expired or used."""
    att = conn.execute(_STALE, {"att_id": attestation_id}).first()
    ratelimit.count(conn, limits)
    if att is None:
        raise NotFound(f"attestation {attestation_id} does not exist", field="attestation_id")
    freshness: appraisal.Freshness = "reused"
    if att.state == "pending":
        # Expired while pending: record that verdict on the row, once.
        freshness = "expired"
    verdict = appraisal.stale(freshness)
    token = _sign(svc, verdict, att.nonce)
    if freshness == "expired":
        conn.execute(
            update(_ATT).where(_ATT.c.id == attestation_id, _ATT.c.state == "pending")
            .values(state="expired", appraised_at=utcnow(), status=verdict.status,
                    reasons=verdict.reasons, xres_enc=None, ear=token)
        )
    audit.append(conn, actor, f"attestation.{freshness}", f"attestation:{attestation_id}",
                 {"imei": att.imei, "status": verdict.status, "reasons": verdict.reasons})
    return Outcome(attestation_id, verdict.status, verdict.reasons, token)


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
    except InputError as exc:
        raise ValidationError(str(exc), field="evidence") from None
    raw_signature = b64url_decode(signature, "signature")
    signed = canonical_json(evidence)
    actor = f"handset:{parsed.imei}"
    with metrics.appraisal_timer(), svc.db.connection() as conn:
        now = utcnow()
        att = _consume(conn, attestation_id, now)
        if att is None:
            outcome = _stale(conn, svc, attestation_id, actor, limits)
        else:
            outcome = _appraise(conn, svc, att, now, parsed, signed, raw_signature, client,
                                actor, limits)
    metrics.count_outcome(outcome.status, outcome.reasons)
    return outcome


def _appraise(
    conn: Connection, svc: Service, att: _Consumed, now: dt.datetime, evidence: Evidence,
    signed: bytes, signature: bytes, client: str, actor: str, limits: dict[str, int] | None,
) -> Outcome:
    xres = None if att.xres_enc is None else svc.keys.decrypt_secret(att.id, att.xres_enc)
    challenge = appraisal.ChallengeFacts(att.id, att.nonce, att.imei, xres)
    facts, card_iccid, sqn_ms = _facts(conn, svc, att, evidence, signed, signature)
    verdict = appraisal.appraise(challenge, evidence, facts)
    record = {"att_id": att.id, "now": now, "iccid": evidence.iccid, "imsi": evidence.imsi,
              "evidence": evidence.to_json(), "resync_id": None}
    subject = f"attestation:{att.id}"
    if sqn_ms is not None and card_iccid is not None and verdict.status == "affirming":
        registry.resync_sqn(svc, card_iccid, sqn_ms, conn)
        fresh = _issue(conn, svc, att.imei, client, limits)
        conn.execute(_RECORD, {**record, "status": "resync", "reasons": [], "ear": None,
                               "resync_id": fresh.id})
        audit.append(conn, actor, "attestation.resync", subject,
                     {"imei": att.imei, "iccid": card_iccid, "next": fresh.id})
        return Outcome(att.id, "resync", [], challenge=fresh)
    token = _sign(svc, verdict, att.nonce)
    # The last statements before commit: the counter rows and the audit head row are
    # locked (PostgreSQL) as briefly as possible.
    ratelimit.count(conn, limits, along=(_RECORD, {
        **record, "status": verdict.status, "reasons": verdict.reasons, "ear": token}))
    audit.append(conn, actor, "attestation", subject,
                 {"imei": att.imei, "iccid": evidence.iccid, "status": verdict.status,
                  "reasons": verdict.reasons})
    return Outcome(att.id, verdict.status, verdict.reasons, token)


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
