"""Checkout and return at the desk, and the queries the desk needs.

A checkout starts only from an attestation that is affirming and younger than
``ServiceConfig.checkout_max_age`` seconds.  "One checkout per attestation" is the
unique ``checkouts.attestation_id``; "one active checkout per handset" is a partial
unique index — the database decides between concurrent desks in any number of
processes, and the loser gets a 409 naming what beat it.  A handset reported lost or
stolen (``handsets.lost_at``) is not checked out until the report is cleared.  Both
changes append an audit entry in the same transaction.

A checkout also needs the handset still paired with the card the attestation affirmed.
It holds the handset's row lock (``server.pool.registry.lock_handset``) from that check
to its commit, and pairing and unpairing take the same lock and refuse a checked-out
handset, so neither can slip between the check and the checkout.

The card's ``pool verify`` state is weighed last, as ``ServiceConfig.card_verification``
says (``card_check``): a refusal, a warning that goes with the checkout, or nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.core.config import CardVerificationPolicy
from server.core.errors import Conflict, NotFound
from server.core.identifiers import check_imei, check_text
from server.core.service import Service
from server.pool.registry import (
    UNVERIFIED,
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


class CardNotVerified(Conflict):
    slug = "card-not-verified"
    title = "The card must pass pool verify first"


@dataclass(frozen=True, slots=True)
class CardCheck:
    """What the checkout policy (``ServiceConfig.card_verification``) says of a card."""

    refusal: str | None = None  # why the checkout may not happen
    warning: str | None = None  # what goes with a checkout that may


# The policy in a sentence, for the pages that show a card's verification.
POLICY_TEXT: dict[CardVerificationPolicy, str] = {
    "off": "this service does not enforce card verification (simattest serve "
           "--card-verification off).",
    "warn": "a card never verified is checked out with a warning; a card imported under an "
            "unchecked transport key, or one that failed, is refused until pool verify "
            "passes (simattest serve --card-verification warn, the default).",
    "require": "only verified cards are checked out (simattest serve --card-verification "
               "require).",
}


def card_check(iccid: str | None, verification: str | None,
               policy: CardVerificationPolicy) -> CardCheck:
    """The card-verification part of the checkout policy (``server.core.config``)."""
    if verification is None or verification == "verified" or policy == "off":
        return CardCheck()
    if verification == UNVERIFIED and policy == "warn":
        return CardCheck(warning=f"card {iccid} has never been checked by simattest pool "
                                 "verify; run it when the card is next at the bench")
    why = {"failed": "failed simattest pool verify (it does not hold the pool's keys)",
           UNVERIFIED: "has never been checked by simattest pool verify"}.get(
        verification, "was imported under a transport key that could not be checked")
    return CardCheck(refusal=f"card {iccid} {why}; the checkout needs simattest pool "
                             "verify to pass on it first")


class HandsetLost(Conflict):
    slug = "handset-lost"
    title = "Handset reported lost or stolen"


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
    warnings: tuple[str, ...] = ()  # what the desk should know of this checkout

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "attestation_id": self.attestation_id, "imei": self.imei,
            "iccid": self.iccid, "user": self.user,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "started_by": self.started_by,
            "returned_at": None if self.returned_at is None
            else self.returned_at.isoformat(timespec="seconds"),
            "returned_by": self.returned_by, "warnings": list(self.warnings),
        }


def _view(checkout: Checkout, imei: str, iccid: str | None) -> CheckoutView:
    return CheckoutView(checkout.id, checkout.attestation_id, imei, iccid, checkout.user,
                        checkout.started_at, checkout.started_by, checkout.returned_at,
                        checkout.returned_by)


def check_user(user: str) -> str:
    """The user identity typed at the desk: 1-200 printable characters."""
    return check_text(user, "user", max_chars=MAX_USER_CHARS, required=True)


def _refuse(session: Session, att: Attestation, max_age: float,
            policy: CardVerificationPolicy) -> CardCheck:
    """Raise the 409 that says why this attestation cannot start a checkout; else say
    what the card's verification adds to it."""
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
    lost = session.execute(select(Handset.lost_at, Handset.lost_by).where(
        Handset.id == att.handset_id)).one()
    if lost.lost_at is not None:
        raise HandsetLost(
            f"handset {att.imei} was reported lost or stolen by {lost.lost_by} at "
            f"{lost.lost_at:%Y-%m-%d %H:%M} UTC; clear the report before a checkout",
            field="attestation_id")
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
    check = card_check(att.iccid, session.scalar(select(Card.verification).where(
        Card.id == att.card_id)), policy)
    if check.refusal is not None:
        raise CardNotVerified(check.refusal, field="attestation_id")
    return check


def start_checkout(svc: Service, attestation_id: str, user: str, actor: str, *,
                   mc_user_id: int | None = None) -> CheckoutView:
    """Hand the attested handset to ``user`` (``mc_user_id``: the MC user of the
    directory ``user`` names — ``server.idms.desk.start_checkout`` checked it)."""
    user = check_user(user)
    try:
        with svc.db.session() as session:
            att = session.get(Attestation, attestation_id)
            if att is None:
                raise NotFound(f"attestation {attestation_id} does not exist",
                               field="attestation_id")
            if att.handset_id is not None:
                lock_handset(session, att.handset_id)
            check = _refuse(session, att, svc.config.checkout_max_age,
                            svc.config.card_verification)
            assert att.handset_id is not None
            checkout = Checkout(attestation_id=att.id, handset_id=att.handset_id,
                                card_id=att.card_id, user=user, started_by=actor,
                                started_at=utcnow(), mc_user_id=mc_user_id)
            session.add(checkout)
            session.flush()
            audit.append(session, actor, "checkout.start", f"imei:{att.imei}",
                         {"checkout_id": checkout.id, "attestation_id": att.id,
                          "iccid": att.iccid, "user": user,
                          **({"warning": check.warning} if check.warning else {})})
            return replace(_view(checkout, att.imei, att.iccid),
                           warnings=(check.warning,) if check.warning else ())
    except IntegrityError:
        # A concurrent desk won the unique index; say what beat us.
        with svc.db.read_session() as session:
            att = session.get(Attestation, attestation_id)
            assert att is not None
            _refuse(session, att, svc.config.checkout_max_age, svc.config.card_verification)
        raise AlreadyCheckedOut("checked out concurrently by another desk",
                                field="attestation_id") from None


def return_checkout(svc: Service, checkout_id: int, actor: str) -> CheckoutView:
    """End a checkout (the handset is back at the desk)."""
    with svc.db.session() as session:
        return return_in(session, checkout_id, actor)


def return_in(session: Session, checkout_id: int, actor: str) -> CheckoutView:
    """``return_checkout`` in the caller's transaction (identity management ends the
    checkout's identities in the same one: ``server.idms.desk``)."""
    now = utcnow()
    ended = session.execute(
        update(Checkout).where(Checkout.id == checkout_id, Checkout.returned_at.is_(None))
        .values(returned_at=now, returned_by=actor).returning(Checkout.id)
    ).first()
    checkout, imei, iccid = _checkout_row(session, checkout_id)
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
        return _view(*_checkout_row(session, checkout_id))


def _checkout_row(session: Session, checkout_id: int) -> tuple[Checkout, str, str | None]:
    """The checkout with its handset's IMEI and card's ICCID (NotFound naming
    ``checkout_id``)."""
    row = session.execute(
        select(Checkout, Handset.imei, Card.iccid)
        .join(Handset, Handset.id == Checkout.handset_id)
        .outerjoin(Card, Card.id == Checkout.card_id)
        .where(Checkout.id == checkout_id)
    ).first()
    if row is None:
        raise NotFound(f"checkout {checkout_id} does not exist", field="checkout_id")
    checkout, imei, iccid = row
    return checkout, imei, iccid


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
