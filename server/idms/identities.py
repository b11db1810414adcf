"""The MCPTT-specific identities of a sign-in and the mapping (the seed's IMPI1 ↔ IMPI2
↔ IMPU2 ↔ MCPTT ID ↔ IMEI ↔ checkout ↔ card), their validity and their end.

IMPI2 is ``<random>@<mcptt_domain>`` (an NAI, TS 23.003 clause 13.3's form), IMPU2 and
each alias ``sip:<random>@<mcptt_domain>`` (TS 23.003 clause 13.4), each random part
128 bits from ``secrets`` in lower-case base32 — nothing in them derives from the user,
the card, the handset or an earlier sign-in, so one checkout's identities cannot be
linked to the next one's.  IMPI1 is the card's ISIM IMPI as the pool recorded it, else
derived from its IMSI (TS 23.003 clause 13.3: ``<IMSI>@ims.mnc<MNC>.mcc<MCC>.
3gppnetwork.org``, the MNC padded to 3 digits; the MNC's length from the card's
profile PLMN, else 2 as for the card files).

Validity and ending: ``server.idms``' docstring.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from server.core.config import IdmsConfig
from server.core.errors import Conflict, ValidationError
from server.core.service import Service
from server.pool.profiles import known_profiles
from server.store import audit_chain as audit
from server.store.models import (
    Attestation,
    Card,
    Checkout,
    Handset,
    IdmsSignIn,
    IdmsThrottle,
    McIdentity,
    McIdentityAlias,
    McUser,
    utcnow,
)

# Why a mapping is not (or no longer) valid: ``end_reason`` values.
RETURNED, LOST, USER_DISABLED = "returned", "lost", "user-disabled"
ATTESTATION = "attestation-not-affirming"
ENDED_BY_ADMIN, SUPERSEDED = "ended-by-admin", "superseded"
OTHER_USER = "checkout-other-user"
# Statuses of appraised attestations that say nothing of the handset (the card asked
# for a resynchronisation and a new challenge follows): they do not end a sign-in.
_NOT_VERDICTS = ("resync",)


class SignInRefused(Conflict):
    """The handset may not sign this MC user in now (``checkout_for_sign_in``)."""

    slug = "sign-in-refused"
    title = "Sign-in refused on this handset"

    def __init__(self, detail: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class McIdentities:
    """One mapping.  ``end_reason`` is None while it is valid (derived, not only
    recorded: ``server.idms``); ``ended_at`` is when the end was recorded."""

    id: int
    checkout_id: int
    mc_user_id: int
    mc_id: str
    mcptt_id: str
    imei: str
    iccid: str
    impi1: str
    impi2: str
    impu2: str
    aliases: tuple[str, ...]
    instance_id: str
    allocated_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None

    @property
    def valid(self) -> bool:
        return self.end_reason is None

    @property
    def impus(self) -> tuple[str, ...]:
        """The implicit registration set: IMPU2 first, then the aliases."""
        return (self.impu2, *self.aliases)

    def to_json(self) -> dict[str, Any]:
        """Everything, for operators (desk, API, CLI) — not for handsets or the MCPTT
        server, which must not learn IMPI1 or the IMEI."""
        return {"id": self.id, "checkout_id": self.checkout_id, "mc_id": self.mc_id,
                "mcptt_id": self.mcptt_id, "imei": self.imei, "iccid": self.iccid,
                "impi1": self.impi1, "impi2": self.impi2, "impu2": self.impu2,
                "aliases": list(self.aliases), "instance_id": self.instance_id,
                "allocated_at": self.allocated_at.isoformat(timespec="seconds"),
                "ended_at": None if self.ended_at is None
                else self.ended_at.isoformat(timespec="seconds"),
                "end_reason": self.end_reason, "valid": self.valid}


@dataclass(frozen=True, slots=True)
class Validity:
    valid: bool
    reason: str | None  # why not, an ``end_reason`` value


# --- IMPI1 ----------------------------------------------------------------------------

def derived_impi(imsi: str, mnc_length: int) -> str:
    """TS 23.003 clause 13.3: the IMPI of a UICC without an ISIM."""
    mcc, mnc = imsi[:3], imsi[3:3 + mnc_length]
    return f"{imsi}@ims.mnc{mnc.zfill(3)}.mcc{mcc}.3gppnetwork.org"


def impi1_for_card(card: Card) -> str:
    """The card's own IMS private identity: its ISIM IMPI, else derived from its IMSI."""
    if card.impi:
        return card.impi
    profile = known_profiles().get(card.profile or "")
    mnc_length = (profile.mnc_length_for(card.imsi) if profile is not None else None) or 2
    return derived_impi(card.imsi, mnc_length)


# --- validity -------------------------------------------------------------------------

def _newest_status() -> Any:
    """The status of the handset's newest appraised attestation (a correlated scalar)."""
    return (select(Attestation.status)
            .where(Attestation.imei == Handset.imei, Attestation.appraised_at.is_not(None),
                   Attestation.status.not_in(_NOT_VERDICTS))
            .order_by(Attestation.appraised_at.desc()).limit(1)
            .correlate(Handset).scalar_subquery())


def mapping_query() -> Select:
    """Mappings with every column the validity rule (``invalid_reason``) reads; add the
    ``where`` (by IMPI2, IMPU2, checkout…)."""
    return (select(McIdentity, McUser.mc_id, McUser.mcptt_id, McUser.enabled, Handset.imei,
                   Handset.lost_at, Card.iccid, Checkout.returned_at, Checkout.mc_user_id,
                   _newest_status().label("newest"))
            .join(McUser, McUser.id == McIdentity.mc_user_id)
            .join(Handset, Handset.id == McIdentity.handset_id)
            .join(Card, Card.id == McIdentity.card_id)
            .join(Checkout, Checkout.id == McIdentity.checkout_id))


# The statements of every sign-in and token use, built once (building one cost about as
# much as running it: see server.pool.devicecerts).
_QUERY = mapping_query()
_BY_ID = _QUERY.where(McIdentity.id == bindparam("identity_id"))
_ALIASES = (select(McIdentityAlias.identity_id, McIdentityAlias.impu)
            .where(McIdentityAlias.identity_id.in_(bindparam("ids", expanding=True)))
            .order_by(McIdentityAlias.position))
# lookup_by_sign_in: the mapping with the sign-in's client and end, in one statement.
_BY_SIGN_IN = (_QUERY.add_columns(IdmsSignIn.client_id.label("sign_in_client_id"),
                                  IdmsSignIn.ended_at.label("sign_in_ended_at"),
                                  IdmsSignIn.end_reason.label("sign_in_end_reason"))
               .join(IdmsSignIn, IdmsSignIn.identity_id == McIdentity.id)
               .where(IdmsSignIn.id == bindparam("sign_in_id")))
# checkout_for_sign_in: the handset locked first, then what the rule reads, in a
# statement of its own — so that it sees whatever committed while it waited for the lock
# (a return, a loss report, an attestation), which one statement taking the lock as it
# reads would not (READ COMMITTED re-checks only the locked row then).
_LOCK_HANDSET = (select(Handset.id, Handset.lost_at).where(Handset.imei == bindparam("imei"))
                 .with_for_update())
_CHECKOUT_NOW = (select(Checkout, _newest_status().label("newest")).select_from(Handset)
                 .outerjoin(Checkout, and_(Checkout.handset_id == Handset.id,
                                           Checkout.returned_at.is_(None)))
                 .where(Handset.id == bindparam("handset_id")))
# allocate_identities: the newest mapping of this checkout and user not recorded ended.
_CURRENT = (select(McIdentity.id)
            .where(McIdentity.checkout_id == bindparam("checkout_id"),
                   McIdentity.mc_user_id == bindparam("mc_user_id"),
                   McIdentity.ended_at.is_(None), McIdentity.end_reason.is_(None))
            .order_by(McIdentity.allocated_at.desc(), McIdentity.id.desc()).limit(1))


def invalid_reason(row: Any) -> str | None:
    """Why the mapping on ``row`` (of ``mapping_query``) is not valid, in the order an operator
    would look for it; None: valid."""
    identity: McIdentity = row[0]
    if identity.end_reason is not None or identity.ended_at is not None:
        return identity.end_reason or ENDED_BY_ADMIN
    if row.returned_at is not None:
        return RETURNED
    if row.lost_at is not None:
        return LOST
    if not row.enabled:
        return USER_DISABLED
    if row.mc_user_id != identity.mc_user_id:
        return OTHER_USER
    if row.newest != "affirming":
        return ATTESTATION
    return None


def _views(session: Session, rows: list[Any]) -> list[McIdentities]:
    ids = [row[0].id for row in rows]
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for identity_id, impu in session.execute(_ALIASES, {"ids": ids}):
            aliases[identity_id].append(impu)
    return [McIdentities(
        row[0].id, row[0].checkout_id, row[0].mc_user_id, row.mc_id, row.mcptt_id, row.imei,
        row.iccid, row[0].impi1, row[0].impi2, row[0].impu2, tuple(aliases[row[0].id]),
        row[0].instance_id, row[0].allocated_at, row[0].ended_at, invalid_reason(row))
        for row in rows]


def identities_valid(session: Session, identity_id: int) -> Validity:
    """Whether mapping ``identity_id`` is valid now, and if not why (the derived rule of
    ``server.idms``; a mapping that does not exist is not valid: "unknown")."""
    row = session.execute(_BY_ID, {"identity_id": identity_id}).first()
    if row is None:
        return Validity(False, "unknown")
    reason = invalid_reason(row)
    return Validity(reason is None, reason)


def lookup_by_id(session: Session, identity_id: int) -> McIdentities | None:
    rows = session.execute(_BY_ID, {"identity_id": identity_id}).all()
    return next(iter(_views(session, list(rows))), None)


@dataclass(frozen=True, slots=True)
class SignInMapping:
    """The mapping allocated at a sign-in (``server.idms.oidc``), with the sign-in's
    client and its recorded end (None: not ended)."""

    client_id: str
    ended_at: dt.datetime | None
    end_reason: str | None
    identities: McIdentities


def lookup_by_sign_in(session: Session, sign_in_id: int) -> SignInMapping | None:
    """``lookup_by_id`` of the sign-in's mapping, and the sign-in, in one statement (the
    identities endpoint and introspection, at every token use)."""
    row = session.execute(_BY_SIGN_IN, {"sign_in_id": sign_in_id}).first()
    if row is None:
        return None
    return SignInMapping(row.sign_in_client_id, row.sign_in_ended_at,
                         row.sign_in_end_reason, _views(session, [row])[0])


def lookup_by_impi2(session: Session, impi2: str) -> McIdentities | None:
    """The mapping of IMPI2 (valid or not: ``end_reason`` says), for the Cx peer."""
    rows = session.execute(_QUERY.where(McIdentity.impi2 == impi2)).all()
    return next(iter(_views(session, list(rows))), None)


def lookup_by_impu(session: Session, impu: str) -> McIdentities | None:
    """The mapping IMPU2 or one of its aliases belongs to (valid or not), for the Cx
    peer and the MCPTT server's look-up."""
    alias_of = select(McIdentityAlias.identity_id).where(McIdentityAlias.impu == impu)
    rows = session.execute(_QUERY.where(or_(McIdentity.impu2 == impu,
                                              McIdentity.id.in_(alias_of)))).all()
    return next(iter(_views(session, list(rows))), None)


def identities_for_checkout(session: Session, checkout_id: int) -> list[McIdentities]:
    """A checkout's mappings, newest first (the desk's view of who signed in on it)."""
    rows = session.execute(_QUERY.where(McIdentity.checkout_id == checkout_id)
                           .order_by(McIdentity.allocated_at.desc(),
                                     McIdentity.id.desc())).all()
    return _views(session, list(rows))


def list_identities(svc: Service, *, active_only: bool = False, limit: int = 200
                    ) -> list[McIdentities]:
    """Mappings newest first; ``active_only``: those not yet recorded ended (their
    validity still derived)."""
    query = _QUERY.order_by(McIdentity.allocated_at.desc(), McIdentity.id.desc())
    if active_only:
        query = query.where(McIdentity.ended_at.is_(None))
    with svc.db.read_session() as session:
        return _views(session, list(session.execute(query.limit(max(1, min(limit, 500))))))


# --- sign-in and allocation -----------------------------------------------------------

def checkout_for_sign_in(session: Session, imei: str, mc_user_id: int) -> Checkout:
    """The checkout of handset ``imei`` that MC user ``mc_user_id`` may sign in on now,
    its handset row locked; else SignInRefused with the ``reason`` (an ``end_reason``
    value, or "not-checked-out").  The same rule as a mapping's validity."""
    handset = session.execute(_LOCK_HANDSET, {"imei": imei}).one_or_none()
    now = None if handset is None else session.execute(
        _CHECKOUT_NOW, {"handset_id": handset.id}).one()
    checkout: Checkout | None = None if now is None else now[0]
    if handset is None or checkout is None or checkout.card_id is None:
        raise SignInRefused(f"handset {imei} is not checked out", reason="not-checked-out")
    if handset.lost_at is not None:
        raise SignInRefused(f"handset {imei} is reported lost or stolen", reason=LOST)
    user = session.get(McUser, mc_user_id)
    if user is None or not user.enabled:
        raise SignInRefused("the MC user is disabled", reason=USER_DISABLED)
    if checkout.mc_user_id != mc_user_id:
        raise SignInRefused(f"handset {imei} is not checked out to {user.mc_id}",
                            reason=OTHER_USER)
    assert now is not None
    if now.newest != "affirming":
        raise SignInRefused(f"the newest attestation of handset {imei} is {now.newest}",
                            reason=ATTESTATION)
    return checkout


def _random_part() -> str:
    # 128 bits, RFC 4648 base32 lower-cased without padding: 26 characters valid in an
    # NAI's user part and a SIP URI's user part alike.
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def allocate_identities(session: Session, config: IdmsConfig, checkout: Checkout,
                        user: McUser, *, actor: str) -> McIdentities:
    """The MCPTT-specific identities of ``user`` signing in on ``checkout`` (which
    ``checkout_for_sign_in`` returned in this transaction): the valid mapping this
    checkout already has for this user (a sign-in again, e.g. after the MCPTT client
    restarted: the IMS registration stays good), else new ones — ending any other valid
    mapping of the checkout ("superseded")."""
    found = lookup_by_id(session, allocate_identity_id(session, config, checkout, user,
                                                       actor=actor))
    assert found is not None  # allocated in this transaction
    return found


def allocate_identity_id(session: Session, config: IdmsConfig, checkout: Checkout,
                         user: McUser, *, actor: str) -> int:
    """``allocate_identities`` without reading the mapping back: its id."""
    # checkout_for_sign_in established in this transaction everything of the rule but
    # the mapping's own end (not returned, not lost, user enabled, checked out to this
    # user, newest attestation affirming): a mapping of this checkout and user that is
    # not recorded ended is valid.
    current = session.execute(_CURRENT, {"checkout_id": checkout.id,
                                         "mc_user_id": user.id}).scalar()
    if current is not None:
        return int(current)
    _end(session, select(McIdentity.id).where(McIdentity.checkout_id == checkout.id),
         SUPERSEDED, actor)
    card = session.get_one(Card, checkout.card_id)
    identity = McIdentity(
        checkout_id=checkout.id, mc_user_id=user.id, handset_id=checkout.handset_id,
        card_id=card.id, impi1=impi1_for_card(card),
        impi2=f"{_random_part()}@{config.mcptt_domain}",
        impu2=f"sip:{_random_part()}@{config.mcptt_domain}",
        instance_id=f"urn:uuid:{uuid.UUID(bytes=secrets.token_bytes(16), version=4)}",
        allocated_at=utcnow(), allocated_by=actor)
    session.add(identity)
    session.flush()
    session.add_all(McIdentityAlias(impu=f"sip:{_random_part()}@{config.mcptt_domain}",
                                    identity_id=identity.id, position=i)
                    for i in range(config.alias_count))
    session.flush()
    imei = session.scalar(select(Handset.imei).where(Handset.id == checkout.handset_id))
    audit.append(session, actor, "idms.identities.allocate", f"imei:{imei}",
                 {"checkout_id": checkout.id, "mc_id": user.mc_id, "impi2": identity.impi2,
                  "impu2": identity.impu2, "identity_id": identity.id})
    return identity.id


# --- ending ---------------------------------------------------------------------------

def _end(session: Session, which: Any, reason: str, actor: str) -> list[McIdentities]:
    """Record the end of the not-yet-ended mappings whose ids ``which`` selects."""
    now = utcnow()
    ended = list(session.scalars(
        update(McIdentity)
        .where(McIdentity.id.in_(which), McIdentity.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason, ended_by=actor)
        .returning(McIdentity.id)))
    if not ended:
        return []
    views = _views(session, list(session.execute(
        _QUERY.where(McIdentity.id.in_(ended)).order_by(McIdentity.id)
        .execution_options(populate_existing=True))))
    for v in views:
        audit.append(session, actor, "idms.identities.end", f"imei:{v.imei}",
                     {"identity_id": v.id, "checkout_id": v.checkout_id, "mc_id": v.mc_id,
                      "impu2": v.impu2, "reason": reason})
    return views


def end_identities(session: Session, identity_id: int, reason: str, *, actor: str
                   ) -> list[McIdentities]:
    """End one mapping now (an admin ending a sign-in: ``ENDED_BY_ADMIN``); returns it,
    or nothing if it had ended already."""
    return _end(session, select(McIdentity.id).where(McIdentity.id == identity_id),
                reason, actor)


def end_for_checkout(session: Session, checkout_id: int, reason: str, actor: str
                     ) -> list[McIdentities]:
    return _end(session, select(McIdentity.id).where(McIdentity.checkout_id == checkout_id),
                reason, actor)


def end_for_handset(session: Session, handset_id: int, reason: str, actor: str
                    ) -> list[McIdentities]:
    return _end(session, select(McIdentity.id).where(McIdentity.handset_id == handset_id),
                reason, actor)


def end_for_user(session: Session, mc_user_id: int, reason: str, actor: str
                 ) -> list[McIdentities]:
    return _end(session, select(McIdentity.id).where(McIdentity.mc_user_id == mc_user_id),
                reason, actor)


def settle(svc: Service, *, actor: str) -> list[McIdentities]:
    """Record the end of every mapping not recorded ended whose validity has ended below
    this package (an attestation, a return that bypassed it), with the derived reason;
    returns what it ended (a Cx peer sends RTRs for those)."""
    with svc.db.session() as session:
        rows = session.execute(_QUERY.where(McIdentity.ended_at.is_(None))).all()
        by_reason: dict[str, list[int]] = {}
        for row in rows:
            reason = invalid_reason(row)
            if reason is not None:
                by_reason.setdefault(reason, []).append(row[0].id)
        return [v for reason, ids in sorted(by_reason.items())
                for v in _end(session, ids, reason, actor)]


@dataclass(frozen=True, slots=True)
class PruneReport:
    settled: int  # mappings whose end ``settle`` recorded first
    pruned: int  # ended mappings deleted (older than the retention)
    throttle_rows: int  # sign-in failure counts forgotten

    def to_json(self) -> dict[str, int]:
        return {"settled": self.settled, "pruned": self.pruned,
                "throttle_rows": self.throttle_rows}


def prune(svc: Service, *, actor: str, retention_days: int | None = None) -> PruneReport:
    """Delete mappings ended more than ``retention_days`` (default the configuration's)
    ago, with their aliases, and forgotten throttle counts.  The audit log keeps every
    allocation and end; one entry records the prune."""
    days = svc.config.idms.retention_days if retention_days is None else retention_days
    if not 0 <= days <= 3650:
        raise ValidationError(f"retention must be 0..3650 days, got {days}",
                              field="retention_days")
    settled = settle(svc, actor=actor)
    now = utcnow()
    cutoff = now - dt.timedelta(days=days)
    with svc.db.session() as session:
        old = select(McIdentity.id).where(McIdentity.ended_at < cutoff)
        session.execute(delete(McIdentityAlias).where(McIdentityAlias.identity_id.in_(old)))
        pruned = len(session.scalars(delete(McIdentity).where(McIdentity.ended_at < cutoff)
                                     .returning(McIdentity.id)).all())
        forgotten = len(session.scalars(delete(IdmsThrottle).where(
            IdmsThrottle.last_failure_at < now - dt.timedelta(days=1))
            .returning(IdmsThrottle.key)).all())
        audit.append(session, actor, "idms.prune", "idms",
                     {"retention_days": days, "settled": len(settled), "pruned": pruned})
    return PruneReport(len(settled), pruned, forgotten)
