"""Registry service functions: handsets, cards, pairings, card verification, SQN state.

Every change appends an audit entry in the same transaction.  The at-most-once
changes are single statements the database arbitrates: pairing creation (partial
unique indexes), unpairing and SQN advance (conditional ``UPDATE … RETURNING``).
The HTTP API, the desk pages and the CLI all call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import (
    Connection,
    Select,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attest.aka.sqn import join_sqn, split_sqn
from server.core.errors import AlreadyExists, Conflict, NotFound, PairingConflict, ValidationError
from server.core.identifiers import check_iccid, check_imei, check_imeisv, check_text
from server.core.service import Service
from server.store import audit_chain as audit
from server.store.models import Attestation, Card, Checkout, Handset, Pairing, utcnow

# A card's verification state: set to one of the first two by the import, to one of the
# last two by ``simattest pool verify`` (``server.pool.verify``).
UNVERIFIED, UNCHECKED_KEY = "unverified", "unchecked-key"
VERIFICATION_STATES = (UNVERIFIED, UNCHECKED_KEY, "verified", "failed")
# What each state tells an operator (the desk shows it beside the state).
VERIFICATION_MEANING = {
    UNVERIFIED: "never checked by simattest pool verify: its keys are the vendor file's, "
                "not yet proven by the card itself",
    UNCHECKED_KEY: "imported under a transport key the vendor file gave no check value "
                   "for, so its keys may be wrong: simattest pool verify must pass before "
                   "it is checked out",
    "verified": "the self-check AKA of simattest pool verify passed: the card answered as "
                "the pool's keys for it predict",
    "failed": "the self-check AKA of simattest pool verify failed: the card does not hold "
              "the pool's keys for it; do not use it",
}
MAX_PAGE = 500
MAX_LABEL_CHARS = 200  # handsets.label is VARCHAR(200)


# --- handsets -------------------------------------------------------------------------

class AlreadyCheckedOut(Conflict):
    slug = "already-checked-out"
    title = "Already checked out"


def lock_handset(session: Session, handset_id: int) -> None:
    """Hold the handset's row until the transaction ends (PostgreSQL; a SQLite write
    transaction holds the whole database already).  ``NO KEY UPDATE``: attestations
    referencing the handset are still inserted meanwhile."""
    session.execute(select(Handset.id).where(Handset.id == handset_id)
                    .with_for_update(key_share=True))


def refuse_if_checked_out(session: Session, handset_id: int, imei: str, field: str) -> None:
    """409 already-checked-out, naming who has the handset, if it is out now."""
    active = session.scalar(select(Checkout).where(Checkout.handset_id == handset_id,
                                                   Checkout.returned_at.is_(None)))
    if active is not None:
        raise AlreadyCheckedOut(
            f"handset {imei} is checked out to {active.user} (checkout {active.id}); "
            "return it first", field=field)


def parse_device_key(pem: str, field: str = "public_key") -> tuple[str, str]:
    """Normalise a device public key (PEM SubjectPublicKeyInfo) → (pem, algorithm).

    Accepted: Ed25519 (``ed25519``) and EC P-256 (``ecdsa-p256``).
    """
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationError("not a PEM public key", field=field) from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = "ed25519"
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        algorithm = "ecdsa-p256"
    else:
        raise ValidationError("key must be Ed25519 or EC P-256", field=field)
    normalised = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return normalised, algorithm


def check_label(label: str) -> str:
    """A handset label: none, or 1-200 printable characters."""
    return check_text(label, "label", max_chars=MAX_LABEL_CHARS, required=False)


def _refuse_a_shared_key(session: Session, pem: str) -> None:
    """One key, one handset: the device signature is what tells the pooled handsets apart,
    so two sharing a key (one key file copied to both) could stand in for each other."""
    if session.get_bind().dialect.name == "postgresql":
        # Two registrations of one key at once in two processes: the second waits here.
        # (SQLite's write transactions are serialised already.)
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:pem, 0))"),
                        {"pem": pem})
    holder = session.scalar(select(Handset.imei).where(Handset.public_key_pem == pem))
    if holder is not None:
        raise AlreadyExists(f"this device key is already registered for handset {holder}; "
                            "each handset needs a key of its own (simattest device keygen)",
                            field="public_key")


def add_handset(
    svc: Service, imei: str, public_key_pem: str, *, actor: str,
    imeisv: str | None = None, label: str = "",
) -> Handset:
    """Register a handset: IMEI (Luhn-checked), its device public key (``parse_device_key``),
    optional IMEISV and label (``check_label``).  AlreadyExists (409) when the IMEI, or the
    device key, is registered already: one key, one handset."""
    check_imei(imei)
    label = check_label(label)
    if imeisv is not None:
        check_imeisv(imeisv)
        if imeisv[:14] != imei[:14]:
            raise ValidationError("IMEISV does not belong to this IMEI (TAC+SNR differ)",
                                  field="imeisv")
    pem, algorithm = parse_device_key(public_key_pem)
    try:
        with svc.db.session() as session:
            # The IMEI first: registering a handset twice is the likelier mistake.
            if session.scalar(select(Handset.id).where(Handset.imei == imei)) is not None:
                raise _already_registered(imei)
            _refuse_a_shared_key(session, pem)
            handset = Handset(imei=imei, imeisv=imeisv, label=label,
                              public_key_pem=pem, key_algorithm=algorithm)
            session.add(handset)
            session.flush()
            audit.append(session, actor, "handset.add", f"imei:{imei}",
                         {"imeisv": imeisv, "label": label, "key_algorithm": algorithm})
    except IntegrityError:  # registered meanwhile by another process
        raise _already_registered(imei) from None
    return handset


MAX_LOST_NOTE_CHARS = 500  # handsets.lost_note is VARCHAR(500)


class NotReportedLost(Conflict):
    slug = "not-reported-lost"
    title = "Handset is not reported lost"


def mark_lost(session: Session, imei: str, *, actor: str, note: str) -> Handset:
    """Record, in the caller's transaction, that the handset is reported lost or stolen
    (who, when, what is known); a second report keeps the first one's time and adds to
    the audit.  Checkouts are refused until ``clear_lost`` (``server.checkout.desk``)."""
    note = check_text(note, "note", max_chars=MAX_LOST_NOTE_CHARS, required=False)
    handset = _locked_handset(session, check_imei(imei))
    if handset.lost_at is None:
        handset.lost_at = utcnow()
    handset.lost_by, handset.lost_note = actor, note
    audit.append(session, actor, "handset.report-lost", f"imei:{imei}", {"note": note})
    return handset


def clear_lost(session: Session, imei: str, *, actor: str, note: str) -> Handset:
    """Clear a lost/stolen report (the handset is back and checked); 409 when none."""
    note = check_text(note, "note", max_chars=MAX_LOST_NOTE_CHARS, required=False)
    handset = _locked_handset(session, check_imei(imei))
    if handset.lost_at is None:
        raise NotReportedLost(f"handset {imei} is not reported lost", field="imei")
    reported = {"reported_at": handset.lost_at.isoformat(timespec="seconds"),
                "reported_by": handset.lost_by}
    handset.lost_at = handset.lost_by = handset.lost_note = None
    audit.append(session, actor, "handset.clear-lost", f"imei:{imei}",
                 {**reported, "note": note})
    return handset


def _already_registered(imei: str) -> AlreadyExists:
    return AlreadyExists(f"handset {imei} is already registered", field="imei")


def get_handset(svc: Service, imei: str) -> Handset | None:
    with svc.db.read_session() as session:
        return session.scalar(select(Handset).where(Handset.imei == imei))


@dataclass(frozen=True)
class Page:
    """A page of results with the total count (for pagination links)."""

    items: list[Any]
    total: int
    offset: int
    limit: int


def paginate(session: Session, query: Select, offset: int, limit: int) -> Page:
    """One page of ``query`` (``limit`` bounded by MAX_PAGE) and the count of all its
    rows; items are entities when it selects one, row tuples when it selects several."""
    limit = max(1, min(limit, MAX_PAGE))
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    bounded = query.offset(max(0, offset)).limit(limit)
    items = list(session.scalars(bounded) if len(query.column_descriptions) == 1
                 else session.execute(bounded))
    return Page(items, total or 0, max(0, offset), limit)


def list_handsets(svc: Service, *, search: str = "", offset: int = 0, limit: int = 50) -> Page:
    """Handsets ordered by IMEI; ``search`` matches IMEI prefix or label substring."""
    query = select(Handset).order_by(Handset.imei)
    if search:
        query = query.where(or_(Handset.imei.startswith(search, autoescape=True),
                                Handset.label.contains(search, autoescape=True)))
    with svc.db.read_session() as session:
        return paginate(session, query, offset, limit)


# --- cards ----------------------------------------------------------------------------

def get_card(svc: Service, iccid: str) -> Card | None:
    with svc.db.read_session() as session:
        return session.scalar(select(Card).where(Card.iccid == iccid))


def list_cards(
    svc: Service, *, search: str = "", verification: str | None = None,
    offset: int = 0, limit: int = 50,
) -> Page:
    query = select(Card).order_by(Card.iccid)
    if search:
        query = query.where(or_(Card.iccid.startswith(search, autoescape=True),
                                Card.imsi.startswith(search, autoescape=True)))
    if verification is not None:
        query = query.where(Card.verification == verification)
    with svc.db.read_session() as session:
        return paginate(session, query, offset, limit)


def set_card_verification(
    svc: Service, iccid: str, state: str, reason: str, *, actor: str,
    session: Session | None = None,
) -> None:
    """Record the outcome of ``pool verify``'s self-check AKA for one card (in
    ``session``'s transaction when given)."""
    if state not in VERIFICATION_STATES:
        raise ValidationError(f"state must be one of {', '.join(VERIFICATION_STATES)}",
                              field="verification")
    if session is None:
        with svc.db.session() as own:
            set_card_verification(svc, iccid, state, reason, actor=actor, session=own)
        return
    updated = session.execute(
        update(Card).where(Card.iccid == iccid)
        .values(verification=state, verified_at=utcnow(), verification_reason=reason)
        .returning(Card.id)
    ).first()
    if updated is None:
        raise NotFound(f"card {iccid} is not in the pool", field="iccid")
    audit.append(session, actor, f"card.{state}", f"iccid:{iccid}", {"reason": reason})


def remove_card(svc: Service, iccid: str, *, actor: str) -> Card:
    """Take a card out of the pool — one that was never used: imported by mistake (say,
    under a wrong transport key), or to be imported again.  A card that was ever paired
    or challenged keeps its record for the history that names it (409).  One conditional
    DELETE, so a pairing created meanwhile by another process wins."""
    check_iccid(iccid)
    with svc.db.session() as session:
        card = session.scalar(select(Card).where(Card.iccid == iccid))
        if card is None:
            raise NotFound(f"card {iccid} is not in the pool", field="iccid")
        deleted = session.execute(
            delete(Card).where(
                Card.id == card.id,
                ~exists().where(Pairing.card_id == Card.id),
                ~exists().where(Attestation.card_id == Card.id))
            .returning(Card.id)
        ).first()
        if deleted is None:
            raise Conflict(f"card {iccid} has been paired or challenged: its record stays "
                           "for the history that names it", field="iccid")
        audit.append(session, actor, "card.remove", f"iccid:{iccid}", {"imsi": card.imsi})
    return card


# --- SQN (TS 33.102 Annex C.1) --------------------------------------------------------

# Core (table) statements: they run on ORM sessions and on Core connections alike.
_CARDS = cast(Table, Card.__table__)
_RESERVE_SQN = (update(_CARDS).where(_CARDS.c.iccid == bindparam("card_iccid"))
                .values(sqn_seq=_CARDS.c.sqn_seq + 1).returning(_CARDS.c.sqn_seq))


def reserve_sqn(svc: Service, iccid: str, session: Session | Connection | None = None) -> bytes:
    """Advance the card's SEQ by one and return SQN = SEQ || IND (6 bytes).

    One ``UPDATE … SET sqn_seq = sqn_seq + 1 … RETURNING``: concurrent callers in any
    number of processes each get a different SQN.  Pass ``session`` to make the
    reservation part of the caller's transaction.
    """
    params = {"card_iccid": iccid}
    if session is None:
        with svc.db.session() as own:
            seq = own.scalar(_RESERVE_SQN, params)
    else:
        seq = session.scalar(_RESERVE_SQN, params)
    if seq is None:
        raise NotFound(f"card {iccid} is not in the pool", field="iccid")
    return join_sqn(seq, svc.config.ind_slot)


def resync_sqn(svc: Service, iccid: str, sqn_ms: bytes,
               session: Session | Connection | None = None) -> None:
    """Move the card's SEQ past SEQ_MS recovered from a valid AUTS (TS 33.102 6.3.5).

    Never moves backwards (``CASE`` inside the one UPDATE), so a late resync cannot
    re-issue SQNs handed out meanwhile.
    """
    seq_ms, _ind = split_sqn(sqn_ms)
    stmt = (update(_CARDS).where(_CARDS.c.iccid == iccid)
            .values(sqn_seq=case((_CARDS.c.sqn_seq < seq_ms, seq_ms), else_=_CARDS.c.sqn_seq))
            .returning(_CARDS.c.id))
    if session is None:
        with svc.db.session() as own:
            found = own.scalar(stmt)
    else:
        found = session.scalar(stmt)
    if found is None:
        raise NotFound(f"card {iccid} is not in the pool", field="iccid")


# --- pairings -------------------------------------------------------------------------

def _active_for(session: Session, *, handset_id: int | None = None,
                card_id: int | None = None) -> Pairing | None:
    query = select(Pairing).where(Pairing.ended_at.is_(None))
    if handset_id is not None:
        query = query.where(Pairing.handset_id == handset_id)
    if card_id is not None:
        query = query.where(Pairing.card_id == card_id)
    return session.scalar(query)


def _locked_handset(session: Session, imei: str) -> Handset:
    """The handset, its row locked against a concurrent checkout (``server.checkout.desk``)."""
    handset = session.scalar(select(Handset).where(Handset.imei == imei))
    if handset is None:
        raise NotFound(f"handset {imei} is not registered", field="imei")
    lock_handset(session, handset.id)
    return handset


def pair(svc: Service, imei: str, iccid: str, *, actor: str) -> Pairing:
    """Pair a handset with a card.  Refused (409 pairing-conflict) when either side
    already has an active pairing — the partial unique indexes decide under a race —
    and (409 already-checked-out) while the handset is checked out."""
    check_imei(imei)
    check_iccid(iccid)
    try:
        with svc.db.session() as session:
            handset = _locked_handset(session, imei)
            card = session.scalar(select(Card).where(Card.iccid == iccid))
            if card is None:
                raise NotFound(f"card {iccid} is not in the pool", field="iccid")
            # The checkout went out with the pairing the desk saw attested.
            refuse_if_checked_out(session, handset.id, imei, "imei")
            _refuse_if_paired(session, handset, card)
            pairing = Pairing(handset=handset, card=card)
            session.add(pairing)
            session.flush()
            audit.append(session, actor, "pairing.create", f"imei:{imei}",
                         {"iccid": iccid, "pairing_id": pairing.id})
    except IntegrityError:
        # Lost a race with another process; report the state that beat us.
        with svc.db.read_session() as session:
            raced = session.scalar(select(Handset).where(Handset.imei == imei))
            card = session.scalar(select(Card).where(Card.iccid == iccid))
            if card is None:  # taken out of the pool meanwhile (remove_card)
                raise NotFound(f"card {iccid} is not in the pool", field="iccid") from None
            assert raced is not None  # handsets are never deleted
            _refuse_if_paired(session, raced, card)
        raise PairingConflict("handset or card was paired concurrently", field="imei") from None
    return pairing


def _refuse_if_paired(session: Session, handset: Handset, card: Card) -> None:
    existing = _active_for(session, handset_id=handset.id)
    if existing is not None:
        raise PairingConflict(
            f"handset {handset.imei} is already paired with card {existing.card.iccid}",
            field="imei")
    existing = _active_for(session, card_id=card.id)
    if existing is not None:
        raise PairingConflict(
            f"card {card.iccid} is already paired with handset {existing.handset.imei}",
            field="iccid")


def unpair(svc: Service, imei: str, *, actor: str) -> Pairing:
    """End the handset's active pairing (kept as history); refused (409
    already-checked-out) while the handset is checked out."""
    check_imei(imei)
    with svc.db.session() as session:
        handset = _locked_handset(session, imei)
        refuse_if_checked_out(session, handset.id, imei, "imei")
        pairing_id = session.scalar(
            update(Pairing)
            .where(Pairing.handset_id == handset.id, Pairing.ended_at.is_(None))
            .values(ended_at=utcnow()).returning(Pairing.id)
        )
        if pairing_id is None:
            raise NotFound(f"handset {imei} has no active pairing", field="imei")
        pairing = session.get_one(Pairing, pairing_id, populate_existing=True)
        audit.append(session, actor, "pairing.end", f"imei:{imei}",
                     {"iccid": pairing.card.iccid, "pairing_id": pairing_id})
    return pairing


def active_pairing_for_imei(svc: Service, imei: str) -> Pairing | None:
    with svc.db.read_session() as session:
        handset = session.scalar(select(Handset).where(Handset.imei == imei))
        return None if handset is None else _active_for(session, handset_id=handset.id)


def active_pairing_for_iccid(svc: Service, iccid: str) -> Pairing | None:
    with svc.db.read_session() as session:
        card = session.scalar(select(Card).where(Card.iccid == iccid))
        return None if card is None else _active_for(session, card_id=card.id)


def pairing_history(svc: Service, imei: str) -> list[Pairing]:
    """Every pairing the handset ever had, newest first."""
    with svc.db.read_session() as session:
        return list(session.scalars(
            select(Pairing).join(Pairing.handset).where(Handset.imei == imei)
            .order_by(Pairing.created_at.desc(), Pairing.id.desc())
        ))


# --- JSON views (never any key material) ----------------------------------------------

def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def handset_json(handset: Handset) -> dict[str, Any]:
    return {"imei": handset.imei, "imeisv": handset.imeisv, "label": handset.label,
            "key_algorithm": handset.key_algorithm, "public_key": handset.public_key_pem,
            "created_at": _time(handset.created_at),
            "lost": None if handset.lost_at is None else {
                "reported_at": _time(handset.lost_at), "reported_by": handset.lost_by,
                "note": handset.lost_note}}


def card_json(card: Card) -> dict[str, Any]:
    return {"iccid": card.iccid, "imsi": card.imsi, "profile": card.profile,
            "algorithm": card.algorithm, "impi": card.impi, "impu": card.impu,
            "batch": card.batch, "imported_at": _time(card.imported_at),
            "verification": card.verification, "verified_at": _time(card.verified_at),
            "verification_reason": card.verification_reason}


def pairing_json(pairing: Pairing) -> dict[str, Any]:
    return {"id": pairing.id, "imei": pairing.handset.imei, "iccid": pairing.card.iccid,
            "created_at": _time(pairing.created_at), "ended_at": _time(pairing.ended_at),
            "active": pairing.ended_at is None}
