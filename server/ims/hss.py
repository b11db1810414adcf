"""What the IdM answers on Cx as the MCPTT domain's HSS (TS 29.228 clause 6): the
service functions behind MAR, SAR and the Registration-Termination of identities that
ended.  Diameter itself is in ``server.ims.cx``; these take and return plain values.

Every vector issued and every registration change is audited (the IMPI2/IMPU2, the
S-CSCF, how many vectors and whether a resynchronisation happened — never RAND, AUTN,
XRES, CK or IK).  A refused request changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.core.service import Service
from server.idms.identities import settle
from server.ims.config import CxConfig
from server.ims.subscribers import (
    Subscriber,
    SubscriberCard,
    find_by_impi,
    find_by_impu,
    find_with_cards,
)
from server.ims.subscription import ims_subscription
from server.ims.vectors import CxVector, ResyncRefused, VectorsWanted, issue_vectors
from server.store import audit_chain as audit
from server.store.models import ImsRegistration, utcnow

AKAV1_MD5 = "Digest-AKAv1-MD5"


class Result(IntEnum):
    """Result codes: base protocol (RFC 6733, ``Result-Code``) and Cx (TS 29.229 clause
    6.2, ``Experimental-Result`` with Vendor-Id 10415)."""

    SUCCESS = 2001
    FIRST_REGISTRATION = 12001  # Cx 2001
    SUBSEQUENT_REGISTRATION = 12002  # Cx 2002
    AUTHORIZATION_REJECTED = 5003  # base
    UNABLE_TO_COMPLY = 5012  # base
    USER_UNKNOWN = 15001  # Cx 5001 (offset so the enum keeps base and Cx apart)
    IDENTITIES_DONT_MATCH = 15002  # Cx 5002
    AUTH_SCHEME_NOT_SUPPORTED = 15006  # Cx 5006
    IDENTITY_NOT_REGISTERED = 15003  # Cx 5003

    @property
    def experimental(self) -> bool:
        return self.value > 10000

    @property
    def code(self) -> int:
        """The code on the wire."""
        return self.value - 10000 if self.experimental else self.value


@dataclass(frozen=True)
class MarOutcome:
    result: Result
    vectors: list[CxVector] = field(default_factory=list)


@dataclass(frozen=True)
class SarOutcome:
    result: Result
    user_data: bytes | None = None


# TS 29.229 clause 6.3.15, Server-Assignment-Type.
NO_ASSIGNMENT, REGISTRATION, RE_REGISTRATION, UNREGISTERED_USER = 0, 1, 2, 3
_DEREGISTRATIONS = {4, 5, 8, 9, 10, 11}  # timeout, user, administrative, auth failure…
_DEREGISTRATIONS_KEEP_SERVER = {6, 7}
AAA_USER_DATA_REQUEST = 12


def _actor(peer: str) -> str:
    return f"cx:{peer}"


def _check(sub: Subscriber | None, impu: str | None) -> Result | None:
    if sub is None or sub.state == "ended":
        return Result.USER_UNKNOWN
    if impu is not None and impu not in sub.impus:
        return Result.IDENTITIES_DONT_MATCH
    if sub.state == "barred":
        return Result.AUTHORIZATION_REJECTED
    return None


@dataclass(frozen=True)
class MarRequest:
    """What a MAR asks (TS 29.229 clause 6.1.7): vectors for IMPI2 ``impi``; with
    ``resync_data`` (RAND‖AUTS) after resynchronising the IdM's slot."""

    peer: str
    impi: str
    impu: str | None
    scheme: str
    count: int
    server_name: str
    resync_data: bytes | None


def multimedia_auth(svc: Service, cfg: CxConfig, requests: list[MarRequest]) -> list[MarOutcome]:
    """MARs (TS 29.228 clause 6.3.1), answered as one group: one transaction holds every
    SQN reservation of the group and every audit entry, so the vectors and their audit
    entries are committed together and no vector is answered before its entry is
    durable.  On PostgreSQL the group is four statements and a commit whatever its size:
    the subscribers with their cards' keys and their alias IMPUs (two,
    ``subscribers.find_with_cards``); every SEQ the group needs (``vectors.reserve``);
    every audit entry (``audit_chain.append_entries``).  A refusal in the group changes
    nothing (each is decided before any write); an exception rolls the whole group back
    and is raised.

    Locks are taken in one order by every group, on any thread or process: the cards'
    SQN rows by ascending card id, then the audit head, held only for the group's audit
    statement and its commit.  Groups therefore never deadlock, and overlap in everything
    but their audit entries."""
    outcomes: list[MarOutcome | None] = [None] * len(requests)
    with svc.db.session() as session:
        # The group's subscribers and their cards, each read once.
        found = find_with_cards(session, [r.impi for r in requests if r.scheme == AKAV1_MD5])
        ready: list[int] = []
        wanted: list[VectorsWanted] = []
        for i, r in enumerate(requests):
            refused = _refused_mar(r, found.get(r.impi))
            if isinstance(refused, Result):
                outcomes[i] = MarOutcome(refused)
            else:
                ready.append(i)
                wanted.append(VectorsWanted(refused, r.count, r.resync_data))
        entries: list[audit.Entry] = []
        for i, issued in zip(ready, issue_vectors(svc, session, cfg.ind_slot, wanted),
                             strict=True):
            r = requests[i]
            if isinstance(issued, ResyncRefused):  # this MAR changed no SQN
                entries.append(audit.Entry(_actor(r.peer), "cx.resync_refused",
                                           f"impi:{r.impi}", {
                    "server_name": r.server_name, "reason": "MAC-S does not verify"}))
                outcomes[i] = MarOutcome(Result.UNABLE_TO_COMPLY)
                continue
            entries.append(audit.Entry(_actor(r.peer), "cx.vectors", f"impi:{r.impi}", {
                "impu": r.impu, "server_name": r.server_name, "count": len(issued),
                "resync": r.resync_data is not None}))
            outcomes[i] = MarOutcome(Result.SUCCESS, issued)
        audit.append_entries(session, entries)
    return [outcome or MarOutcome(Result.UNABLE_TO_COMPLY) for outcome in outcomes]


def _refused_mar(r: MarRequest,
                 found: tuple[Subscriber, SubscriberCard] | None) -> Result | SubscriberCard:
    """Why MAR ``r`` is refused, or the card whose keys answer it."""
    if r.scheme != AKAV1_MD5:
        return Result.AUTH_SCHEME_NOT_SUPPORTED
    sub, card = found if found is not None else (None, None)
    refused = _check(sub, r.impu)
    if refused is not None or card is None:
        return refused or Result.USER_UNKNOWN
    return card


def _record(session: Session, peer: str, sub: Subscriber, impu: str, state: str,
            server_name: str) -> None:
    # The row exists first (concurrent SARs for a new IMPU must not both insert it),
    # then it is locked and changed.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(ImsRegistration).values(
        impu=impu, impi=sub.impi, state="unregistered", scscf_name="", scscf_host=peer,
        updated_at=utcnow()).on_conflict_do_nothing(index_elements=["impu"]))
    row = session.get_one(ImsRegistration, impu, with_for_update=True,
                          populate_existing=True)
    changed = row.state != state or row.scscf_name != server_name
    row.impi, row.state, row.scscf_name, row.scscf_host = sub.impi, state, server_name, peer
    row.updated_at = utcnow()
    if changed:
        audit.append(session, _actor(peer), f"ims.{state}", f"impu:{impu}",
                     {"impi": sub.impi, "server_name": server_name})


def server_assignment(svc: Service, cfg: CxConfig, *, peer: str, impi: str | None,
                      impu: str | None, assignment: int, server_name: str) -> SarOutcome:
    """SAR (TS 29.228 clause 6.1.2): record (de-)registration of ``impu`` at S-CSCF
    ``server_name`` and answer the IMSSubscription."""
    with svc.db.session() as session:
        sub = find_by_impi(session, impi) if impi else (
            find_by_impu(session, impu) if impu else None)
        deregistering = assignment in _DEREGISTRATIONS | _DEREGISTRATIONS_KEEP_SERVER
        if deregistering and sub is not None and (impu is None or impu in sub.impus):
            # De-registration is honoured whatever became of the identities since.
            for target in [impu] if impu else list(sub.impus):
                _record(session, peer, sub, target, "unregistered", server_name)
            return SarOutcome(Result.SUCCESS)
        refused = _check(sub, impu)
        if refused is not None or sub is None:
            return SarOutcome(refused or Result.USER_UNKNOWN)
        if assignment in (REGISTRATION, RE_REGISTRATION):
            _record(session, peer, sub, impu or sub.impus[0], "registered", server_name)
        elif assignment not in (NO_ASSIGNMENT, UNREGISTERED_USER, AAA_USER_DATA_REQUEST):
            return SarOutcome(Result.UNABLE_TO_COMPLY)
        data = ims_subscription(
            sub.impi, sub.impus, application_server=cfg.application_server,
            charging_impi=sub.impi1 if cfg.charging_impi1 else None)
    return SarOutcome(Result.SUCCESS, data)


@dataclass(frozen=True)
class ServerOutcome:
    """UAA/LIA: the result and the S-CSCF to use (None: the I-CSCF picks one)."""

    result: Result
    server_name: str | None = None


def _registered_at(session: Session, impus: tuple[str, ...]) -> ImsRegistration | None:
    rows = session.scalars(select(ImsRegistration).where(
        ImsRegistration.impu.in_(impus))).all()
    return next((r for r in rows if r.state == "registered"), None)


# TS 29.229 clause 6.3.24, User-Authorization-Type.
_DE_REGISTRATION = 1


def user_authorization(svc: Service, *, impi: str, impu: str,
                       authorization_type: int) -> ServerOutcome:
    """UAR from an I-CSCF (TS 29.228 clause 6.1.1): may IMPI2 register IMPU, and at
    which S-CSCF is it registered already."""
    with svc.db.read_session() as session:
        sub = find_by_impi(session, impi)
        refused = _check(sub, impu)
        if refused is not None or sub is None:
            return ServerOutcome(refused or Result.USER_UNKNOWN)
        current = _registered_at(session, sub.impus)
    if current is not None:
        return ServerOutcome(Result.SUBSEQUENT_REGISTRATION, current.scscf_name)
    if authorization_type == _DE_REGISTRATION:
        return ServerOutcome(Result.IDENTITY_NOT_REGISTERED)
    return ServerOutcome(Result.FIRST_REGISTRATION)


def location_info(svc: Service, *, impu: str) -> ServerOutcome:
    """LIR from an I-CSCF (TS 29.228 clause 6.1.4): the S-CSCF serving IMPU now.  The
    MCPTT identities have no services while unregistered."""
    with svc.db.read_session() as session:
        sub = find_by_impu(session, impu)
        if sub is None or sub.state == "ended":
            return ServerOutcome(Result.USER_UNKNOWN)
        # The implicit registration set: an alias is registered with IMPU2.
        current = _registered_at(session, sub.impus) if sub.state == "active" else None
    if current is None:
        return ServerOutcome(Result.IDENTITY_NOT_REGISTERED)
    return ServerOutcome(Result.SUCCESS, current.scscf_name)


@dataclass(frozen=True)
class Termination:
    """A registration whose identities ended: the RTR to send."""

    impu: str
    impi: str
    scscf_host: str


def terminations_due(svc: Service) -> list[Termination]:
    """Registered IMPUs whose identities are no longer active (returned, lost,
    contraindicated, revoked): the S-CSCF must be told (RTR, TS 29.228 clause 6.1.3).
    Ends that happened below identity management are recorded first (``settle``)."""
    settle(svc, actor="cx")
    with svc.db.read_session() as session:
        rows = session.scalars(select(ImsRegistration).where(
            ImsRegistration.state == "registered")).all()
        due = []
        for row in rows:
            sub = find_by_impi(session, row.impi)
            if sub is None or sub.state != "active":
                due.append(Termination(row.impu, row.impi, row.scscf_host))
    return due


def terminated(svc: Service, term: Termination, *, peer: str, accepted: bool) -> None:
    """Record the RTA for ``term``: the registration is gone (or the S-CSCF refused)."""
    with svc.db.session() as session:
        row = session.get(ImsRegistration, term.impu, with_for_update=True)
        if accepted and row is not None and row.state == "registered":
            row.state, row.updated_at = "unregistered", utcnow()
        audit.append(session, _actor(peer), "ims.terminated" if accepted else
                     "ims.termination_refused", f"impu:{term.impu}", {"impi": term.impi})


@dataclass(frozen=True)
class RegistrationView:
    """Where an IMPU is registered (for the desk and ``cx status``)."""

    impu: str
    state: str
    scscf_name: str
    updated_at: dt.datetime


def registration_of(svc: Service, impu: str) -> RegistrationView | None:
    return registrations_of(svc, [impu]).get(impu)


def registrations_of(svc: Service, impus: list[str]) -> dict[str, RegistrationView]:
    """Where each of ``impus`` is registered (those the Cx peer has seen), for the desk's
    checkout view."""
    with svc.db.read_session() as session:
        rows = session.scalars(select(ImsRegistration).where(
            ImsRegistration.impu.in_(impus))).all() if impus else []
        return {row.impu: RegistrationView(row.impu, row.state, row.scscf_name,
                                           row.updated_at) for row in rows}


def registration_counts(svc: Service) -> dict[str, int]:
    """IMPUs by registration state."""
    with svc.db.read_session() as session:
        return {state: count for state, count in session.execute(
            select(ImsRegistration.state, func.count()).group_by(ImsRegistration.state))}
