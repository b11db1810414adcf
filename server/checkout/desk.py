"""Checkout and return at the desk, and the queries the desk needs.

A checkout starts only from an attestation that is affirming and younger than
``ServiceConfig.checkout_max_age`` seconds.  "One checkout per attestation" is the
unique ``checkouts.attestation_id``; "one active checkout per handset" is a partial
unique index — the database decides between concurrent desks in any number of
processes, and the loser gets a 409 naming what beat it.  Both changes append an
audit entry in the same transaction.

A checkout also needs the handset still paired with the card the attestation affirmed.
It holds the handset's row lock (``server.pool.registry.lock_handset``) from that check
to its commit, and pairing and unpairing take the same lock and refuse a checked-out
handset, so neither can slip between the check and the checkout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.core.errors import Conflict, NotFound
from server.core.identifiers import check_imei, check_text
from server.core.service import Service
from server.pool.registry import (
    AlreadyCheckedOut,
    Page,
    lock_handset,
    paginate,
    refuse_if_checked_out,
)
from server.store import audit_chain as audit
from server.store.models import Attestation, Card, Checkout, Handset, Pairing, utcnow

MAX_USER_CHARS = 200


class NotAffirming(Conflict):
    slug = "attestation-not-affirming"
    title = "Attestation is not affirming"


class AttestationTooOld(Conflict):
    slug = "attestation-too-old"
    title = "Attestation is too old for a checkout"


class PairingChanged(Conflict):
    slug = "pairing-changed"
    title = "Handset no longer paired with the attested card"


class AttestationUsed(Conflict):
    slug = "attestation-used"
    title = "Attestation already used for a checkout"


class AlreadyReturned(Conflict):
    slug = "already-returned"
    title = "Already returned"


@dataclass(frozen=True, slots=True)
class CheckoutView:
    """A checkout as the API, the desk pages and the CLI show it."""

    id: int
    attestation_id: str
    imei: str
    iccid: str | None
    user: str
    started_at: dt.datetime
    started_by: str
    returned_at: dt.datetime | None
    returned_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "attestation_id": self.attestation_id, "imei": self.imei,
            "iccid": self.iccid, "user": self.user,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "started_by": self.started_by,
            "returned_at": None if self.returned_at is None
            else self.returned_at.isoformat(timespec="seconds"),
            "returned_by": self.returned_by,
        }


def _view(checkout: Checkout, imei: str, iccid: str | None) -> CheckoutView:
    return CheckoutView(checkout.id, checkout.attestation_id, imei, iccid, checkout.user,
                        checkout.started_at, checkout.started_by, checkout.returned_at,
                        checkout.returned_by)


def check_user(user: str) -> str:
    """The user identity typed at the desk: 1-200 printable characters."""
    return check_text(user, "user", max_chars=MAX_USER_CHARS, required=True)


def _refuse(session: Session, att: Attestation, max_age: float) -> None:
    """Raise the 409 that says why this attestation cannot start a checkout."""
    if att.status != "affirming" or att.handset_id is None:
        reasons = ", ".join(att.reasons or []) or "no verdict yet"
        raise NotAffirming(f"attestation {att.id} is {att.status or att.state} ({reasons})",
                           field="attestation_id")
    assert att.appraised_at is not None
    age = (utcnow() - att.appraised_at).total_seconds()
    if age > max_age:
        raise AttestationTooOld(
            f"attestation {att.id} is {int(age)} s old; a checkout needs one younger than "
            f"{int(max_age)} s — attest the handset again", field="attestation_id")
    paired_card = session.scalar(select(Pairing.card_id).where(
        Pairing.handset_id == att.handset_id, Pairing.ended_at.is_(None)))
    if att.card_id is None or paired_card != att.card_id:
        raise PairingChanged(
            f"handset {att.imei} is no longer paired with card {att.iccid}, the card it was "
            "attested with — attest it again", field="attestation_id")
    # Out now: who has it says more than which attestation started it.
    refuse_if_checked_out(session, att.handset_id, att.imei, "attestation_id")
    used = session.scalar(select(Checkout.id).where(Checkout.attestation_id == att.id))
    if used is not None:
        raise AttestationUsed(
            f"attestation {att.id} was used for checkout {used}, which has been returned; "
            "each attestation is good for one checkout — attest the handset again",
            field="attestation_id")


def start_checkout(svc: Service, attestation_id: str, user: str, actor: str) -> CheckoutView:
    """Hand the attested handset to ``user``."""
    user = check_user(user)
    try:
        with svc.db.session() as session:
            att = session.get(Attestation, attestation_id)
            if att is None:
                raise NotFound(f"attestation {attestation_id} does not exist",
                               field="attestation_id")
            if att.handset_id is not None:
                lock_handset(session, att.handset_id)
            _refuse(session, att, svc.config.checkout_max_age)
            assert att.handset_id is not None
            checkout = Checkout(attestation_id=att.id, handset_id=att.handset_id,
                                card_id=att.card_id, user=user, started_by=actor,
                                started_at=utcnow())
            session.add(checkout)
            session.flush()
            audit.append(session, actor, "checkout.start", f"imei:{att.imei}",
                         {"checkout_id": checkout.id, "attestation_id": att.id,
                          "iccid": att.iccid, "user": user})
            return _view(checkout, att.imei, att.iccid)
    except IntegrityError:
        # A concurrent desk won the unique index; say what beat us.
        with svc.db.read_session() as session:
            att = session.get(Attestation, attestation_id)
            assert att is not None
            _refuse(session, att, svc.config.checkout_max_age)
        raise AlreadyCheckedOut("checked out concurrently by another desk",
                                field="attestation_id") from None


def return_checkout(svc: Service, checkout_id: int, actor: str) -> CheckoutView:
    """End a checkout (the handset is back at the desk)."""
    with svc.db.session() as session:
        now = utcnow()
        ended = session.execute(
            update(Checkout).where(Checkout.id == checkout_id, Checkout.returned_at.is_(None))
            .values(returned_at=now, returned_by=actor).returning(Checkout.id)
        ).first()
        row = session.execute(
            select(Checkout, Handset.imei, Card.iccid)
            .join(Handset, Handset.id == Checkout.handset_id)
            .outerjoin(Card, Card.id == Checkout.card_id)
            .where(Checkout.id == checkout_id)
        ).first()
        if row is None:
            raise NotFound(f"checkout {checkout_id} does not exist", field="checkout_id")
        checkout, imei, iccid = row
        if ended is None:
            raise AlreadyReturned(
                f"checkout {checkout_id} was returned at "
                f"{checkout.returned_at} by {checkout.returned_by}",
                field="checkout_id")
        audit.append(session, actor, "checkout.return", f"imei:{imei}",
                     {"checkout_id": checkout_id, "user": checkout.user})
        return _view(checkout, imei, iccid)


def get_checkout(svc: Service, checkout_id: int) -> CheckoutView:
    with svc.db.read_session() as session:
        row = session.execute(
            select(Checkout, Handset.imei, Card.iccid)
            .join(Handset, Handset.id == Checkout.handset_id)
            .outerjoin(Card, Card.id == Checkout.card_id)
            .where(Checkout.id == checkout_id)
        ).first()
    if row is None:
        raise NotFound(f"checkout {checkout_id} does not exist", field="checkout_id")
    return _view(*row)


def list_checkouts(svc: Service, *, open_only: bool = False, imei: str | None = None,
                   offset: int = 0, limit: int = 50) -> Page:
    """Checkouts newest first (items: CheckoutView), optionally only those not returned
    yet and only one handset's."""
    query = (select(Checkout, Handset.imei, Card.iccid)
             .join(Handset, Handset.id == Checkout.handset_id)
             .outerjoin(Card, Card.id == Checkout.card_id)
             .order_by(Checkout.started_at.desc(), Checkout.id.desc()))
    if open_only:
        query = query.where(Checkout.returned_at.is_(None))
    if imei is not None:
        query = query.where(Handset.imei == check_imei(imei))
    with svc.db.read_session() as session:
        page = paginate(session, query, offset, limit)
    return dataclasses.replace(page, items=[_view(*row) for row in page.items])


def active_checkouts(svc: Service, imeis: list[str]) -> dict[str, CheckoutView]:
    """The active checkout of each of these handsets (absent: not checked out)."""
    if not imeis:
        return {}
    with svc.db.read_session() as session:
        rows = session.execute(
            select(Checkout, Handset.imei, Card.iccid)
            .join(Handset, and_(Handset.id == Checkout.handset_id, Handset.imei.in_(imeis)))
            .outerjoin(Card, Card.id == Checkout.card_id)
            .where(Checkout.returned_at.is_(None))
        ).all()
    return {imei: _view(c, imei, iccid) for c, imei, iccid in rows}
