"""Read-only queries behind the desk pages (SQLAlchemy selects on the service's models).

Every page is one query plus at most a count, so a page costs about the same with ten
handsets or ten thousand:

- the pool joins each handset's active pairing and card (partial unique index on
  ``pairings(handset_id) WHERE ended_at IS NULL``), its open checkout (likewise on
  ``checkouts``) and its latest appraised attestation — a correlated subquery that
  walks ``ix_attestations_imei_appraised`` backwards and stops at the first row (a
  LATERAL join would say the same, but SQLite has none) — and pages by keyset
  ``(label, id)``, never by OFFSET;
- alerts read ``ix_attestations_status_appraised`` newest first, keyset ``(appraised_at, id)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Text, and_, cast, func, or_, select
from sqlalchemy.orm import aliased

from attest.evidence import summary
from server.attestation.alerts import Acknowledgement, view
from server.core.service import Service
from server.store.models import (
    AlertAcknowledgement,
    Attestation,
    AuditEntry,
    Card,
    Checkout,
    Handset,
    HandsetAttestation,
    Pairing,
    utcnow,
)

AUDIT_PAGE = 50
POOL_PAGE = 50
ALERTS_PAGE = 25
ALERT_WINDOW = dt.timedelta(hours=24)
VERDICTS = ("affirming", "warning", "contraindicated")
PROBLEM_STATUSES = ("warning", "contraindicated")
# Card states that stop a checkout until ``pool verify`` passes (server.checkout.desk).
CARD_PROBLEMS = ("failed", "unchecked-key")
# Evidence fields shown on the alerts page and the detail page.  An allow-list, so a
# field added to the evidence later is not shown until someone decides it may be;
# the card's answer is reduced to its kind (RES and AUTS values are never shown).
# The reported facts the desk lists, in this order (from attest.evidence.summary).
DESK_FACTS = ("imei", "imeisv", "iccid", "imsi", "prose", "ust")

Status = Literal["affirming", "warning", "contraindicated", "none"]


# --- pool -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolFilter:
    """What the pool page shows: all fields optional, combined with AND."""

    status: Status | None = None
    checked_out: bool | None = None
    problems_only: bool = False
    search: str = ""
    device: DeviceFilter | None = None


# The pool's device filter: handsets with a software key (a bare public key, or an
# attestation of a software key), or whose latest verdict found the handset tampered with.
DeviceFilter = Literal["software-key", "tampered"]
DEVICE_FILTERS: dict[str, DeviceFilter] = {"software-key": "software-key",
                                           "tampered": "tampered"}
TAMPERING = ("ME_BOOTLOADER_UNLOCKED", "ME_UNVERIFIED_BOOT", "ME_BOOT_KEY_CHANGED",
             "ME_ATTESTATION_REVOKED", "ME_ATTESTATION_INVALID")


@dataclass(frozen=True)
class PoolRow:
    handset_id: int
    label: str
    imei: str
    iccid: str | None
    imsi: str | None
    profile: str | None
    verification: str | None
    attestation_id: str | None
    attested_at: dt.datetime | None
    status: str | None
    reasons: list[str]
    checkout_id: int | None
    checked_out_to: str | None
    checked_out_at: dt.datetime | None
    key_kind: str  # software | tee | strongbox (server.pool.registry.key_kind)

    @property
    def problem(self) -> bool:
        return (self.status in PROBLEM_STATUSES or self.iccid is None
                or self.verification in CARD_PROBLEMS)


@dataclass(frozen=True)
class PoolPage:
    rows: list[PoolRow]
    total: int
    next_after: int | None  # handset id to continue after, if there is a next page
    prev_before: int | None  # handset id to go back before, if there is a previous page


def _latest(handset: Any, column: str) -> Any:
    """Correlated scalar subquery: ``column`` of the newest verdict of ``handset``."""
    inner = aliased(Attestation)
    return (
        select(getattr(inner, column))
        .where(inner.imei == handset.imei, inner.appraised_at.is_not(None),
               inner.status.in_(VERDICTS))
        .order_by(inner.appraised_at.desc())
        .limit(1)
        .correlate(handset)
        .scalar_subquery()
    )


# The newest verdict's status, for filters and counts: with an index on
# attestations(imei, appraised_at, status) it is answered from the index alone.
latest_status = _latest(Handset, "status")
ACTIVE_PAIRING = and_(Pairing.handset_id == Handset.id, Pairing.ended_at.is_(None))
OPEN_CHECKOUT = and_(Checkout.handset_id == Handset.id, Checkout.returned_at.is_(None))


@dataclass(frozen=True)
class _Joins:
    """Which tables a statement over handsets needs beyond ``handsets``."""

    card: bool = True
    attestation: bool = True
    checkout: bool = True

    def apply(self, query: Select) -> Select:
        if self.card:
            query = query.outerjoin(Pairing, ACTIVE_PAIRING).outerjoin(
                Card, Card.id == Pairing.card_id)
        if self.attestation:
            query = query.outerjoin(Attestation, Attestation.id == _latest(Handset, "id"))
        if self.checkout:
            query = query.outerjoin(Checkout, OPEN_CHECKOUT)
        return query


def _pool_select() -> Select:  # columns: see _pool_row
    return _Joins().apply(
        select(
            Handset.id, Handset.label, Handset.imei,
            Card.iccid, Card.imsi, Card.profile, Card.verification,
            Attestation.id, Attestation.appraised_at, Attestation.status, Attestation.reasons,
            Checkout.id, Checkout.user, Checkout.started_at,
            func.coalesce(HandsetAttestation.key_kind, "software"),
        ).select_from(Handset).outerjoin(HandsetAttestation,
                                         HandsetAttestation.handset_id == Handset.id)
    )


def _pool_row(r: Any) -> PoolRow:
    return PoolRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                   list(r[10] or []), r[11], r[12], r[13], r[14])


def _device_condition(device: DeviceFilter) -> ColumnElement[bool]:
    if device == "software-key":
        record = aliased(HandsetAttestation)  # the pool's own join is to the unaliased one
        hardware = select(record.id).where(
            record.handset_id == Handset.id, record.key_kind != "software"
        ).correlate(Handset).exists()
        return ~hardware
    # The newest verdict's reasons (a JSON list) name a tampering finding: its text has
    # the code in quotes, on both databases.
    reasons = cast(_latest(Handset, "reasons"), Text)
    return or_(*(reasons.contains(f'"{code}"') for code in TAMPERING))


def _pool_conditions(flt: PoolFilter) -> tuple[list[ColumnElement[bool]], _Joins]:
    """The WHERE clauses of ``flt`` and the joins they need (a count needs no more)."""
    conditions: list[ColumnElement[bool]] = []
    if flt.status == "none":
        conditions.append(latest_status.is_(None))
    elif flt.status is not None:
        conditions.append(latest_status == flt.status)
    if flt.checked_out is True:
        conditions.append(Checkout.id.is_not(None))
    elif flt.checked_out is False:
        conditions.append(Checkout.id.is_(None))
    if flt.problems_only:
        conditions.append(or_(latest_status.in_(PROBLEM_STATUSES), Card.id.is_(None),
                              Card.verification.in_(CARD_PROBLEMS)))
    if flt.device is not None:
        conditions.append(_device_condition(flt.device))
    term = flt.search.strip()
    if term:
        matches = [Handset.label.icontains(term, autoescape=True)]
        if term.isdigit():
            matches += [Handset.imei.startswith(term), Card.iccid.startswith(term)]
        conditions.append(or_(*matches))
    joins = _Joins(card=flt.problems_only or term.isdigit(), attestation=False,
                   checkout=flt.checked_out is not None)
    return conditions, joins


def pool_page(
    svc: Service, flt: PoolFilter, *, after: int | None = None, before: int | None = None,
    limit: int = POOL_PAGE,
) -> PoolPage:
    """One page of the pool ordered by (label, id), continuing after/before a handset id."""
    conditions, count_joins = _pool_conditions(flt)
    query = _pool_select().where(*conditions)
    backwards = before is not None and after is None
    cursor_id = after if after is not None else before
    if cursor_id is not None:
        cursor = aliased(Handset)
        cursor_label = select(cursor.label).where(cursor.id == cursor_id).scalar_subquery()
        # (label, id) > (cursor label, cursor id), spelt out so the label index serves it.
        if backwards:
            query = query.where(or_(Handset.label < cursor_label,
                                    and_(Handset.label == cursor_label, Handset.id < cursor_id)))
        else:
            query = query.where(or_(Handset.label > cursor_label,
                                    and_(Handset.label == cursor_label, Handset.id > cursor_id)))
    if backwards:
        query = query.order_by(Handset.label.desc(), Handset.id.desc())
    else:
        query = query.order_by(Handset.label, Handset.id)
    with svc.db.read_session() as db:
        raw = list(db.execute(query.limit(limit + 1)))
        count_query = count_joins.apply(select(func.count(Handset.id)).select_from(Handset))
        total = db.scalar(count_query.where(*conditions)) or 0
    more = len(raw) > limit
    raw = raw[:limit]
    if backwards:
        raw.reverse()
    rows = [_pool_row(r) for r in raw]
    has_next = more if not backwards else True
    has_prev = (more if backwards else after is not None) and bool(rows)
    return PoolPage(
        rows=rows,
        total=total,
        next_after=rows[-1].handset_id if rows and has_next else None,
        prev_before=rows[0].handset_id if has_prev else None,
    )


def checked_out_count(svc: Service) -> int:
    """Handsets out right now (partial unique index on open checkouts: a cheap count)."""
    with svc.db.read_session() as db:
        return db.scalar(select(func.count(Checkout.id)).where(
            Checkout.returned_at.is_(None))) or 0


# --- alerts -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AlertRow:
    attestation_id: str
    appraised_at: dt.datetime
    imei: str
    label: str | None
    registered_iccid: str | None  # the card the challenge was computed for (paired card)
    reasons: list[str]
    evidence: dict[str, Any]
    acknowledgement: Acknowledgement | None


def evidence_summary(evidence: dict[str, Any] | None) -> dict[str, Any]:
    """What the device reported, as the desk lists it: the shown fields of
    ``attest.evidence.summary`` (the one allow-list), flattened for a facts list."""
    if not evidence:
        return {}
    shown = summary(evidence)
    facts = {name: shown[name] for name in DESK_FACTS if name in shown}
    if isinstance(shown.get("isim"), dict):
        facts["impi"] = shown["isim"].get("impi")
    if "outcome" in shown:
        facts["card_answer"] = shown["outcome"]["outcome"]
    return facts


def _contraindicated() -> ColumnElement[bool]:
    return and_(Attestation.status == "contraindicated", Attestation.appraised_at.is_not(None))


def alerts_page(svc: Service, *, before: str | None = None, limit: int = ALERTS_PAGE
                ) -> tuple[list[AlertRow], str | None]:
    """Contraindicated attestations, newest first; returns the rows and the next cursor."""
    paired_card = aliased(Card)
    query = (
        select(Attestation, Handset.label, paired_card.iccid, AlertAcknowledgement)
        .outerjoin(Handset, Handset.id == Attestation.handset_id)
        .outerjoin(paired_card, paired_card.id == Attestation.card_id)
        .outerjoin(AlertAcknowledgement,
                   AlertAcknowledgement.attestation_id == Attestation.id)
        .where(_contraindicated())
        .order_by(Attestation.appraised_at.desc(), Attestation.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        cursor = aliased(Attestation)
        cursor_at = select(cursor.appraised_at).where(cursor.id == before).scalar_subquery()
        query = query.where(or_(Attestation.appraised_at < cursor_at,
                                and_(Attestation.appraised_at == cursor_at,
                                     Attestation.id < before)))
    with svc.db.read_session() as db:
        raw = list(db.execute(query))
    rows = [
        AlertRow(a.id, a.appraised_at, a.imei, label, iccid, list(a.reasons or []),
                 evidence_summary(a.evidence), None if ack is None else view(ack))
        for a, label, iccid, ack in raw[:limit]
        if a.appraised_at is not None
    ]
    return rows, rows[-1].attestation_id if len(raw) > limit and rows else None


def recent_alert_count(svc: Service, window: dt.timedelta = ALERT_WINDOW) -> int:
    """Contraindicated attestations in the last ``window`` that nobody acknowledged
    (the badge on every page)."""
    acknowledged = select(AlertAcknowledgement.attestation_id).where(
        AlertAcknowledgement.attestation_id == Attestation.id).exists()
    query = select(func.count()).where(_contraindicated(), ~acknowledged,
                                       Attestation.appraised_at >= utcnow() - window)
    with svc.db.read_session() as db:
        return db.scalar(query) or 0


# --- desk -----------------------------------------------------------

def checkout_of(svc: Service, attestation_id: str) -> int | None:
    """The checkout an attestation was used for, if any (each is good for one)."""
    with svc.db.read_session() as db:
        return db.scalar(select(Checkout.id).where(Checkout.attestation_id == attestation_id))


def find_handsets(svc: Service, scanned: str, limit: int = 20) -> list[PoolRow]:
    """Handsets whose IMEI or label is exactly ``scanned`` (a barcode scan), else whose
    label contains it — what a desk operator typing part of a label expects."""
    term = scanned.strip()
    if not term:
        return []
    exact = or_(Handset.imei == term, func.lower(Handset.label) == term.lower())
    with svc.db.read_session() as db:
        for condition in (exact, Handset.label.icontains(term, autoescape=True)):
            raw = list(db.execute(_pool_select().where(condition)
                                  .order_by(Handset.label, Handset.id).limit(limit)))
            if raw:
                return [_pool_row(r) for r in raw]
    return []


def handset_row(svc: Service, handset_id: int) -> PoolRow | None:
    with svc.db.read_session() as db:
        found = db.execute(_pool_select().where(Handset.id == handset_id)).first()
    return None if found is None else _pool_row(found)


def open_checkouts(svc: Service, search: str = "", limit: int = 200) -> list[PoolRow]:
    """Handsets out right now, longest out first."""
    query = _pool_select().where(Checkout.id.is_not(None))
    if search.strip():
        term = search.strip()
        query = query.where(or_(Handset.imei == term,
                                Handset.label.icontains(term, autoescape=True),
                                Checkout.user.icontains(term, autoescape=True)))
    with svc.db.read_session() as db:
        raw = list(db.execute(query.order_by(Checkout.started_at, Checkout.id).limit(limit)))
    return [_pool_row(r) for r in raw]


# --- handset history --------------------------------------------------------------------

HISTORY_ATTESTATIONS = 20


@dataclass(frozen=True)
class HistoryAttestation:
    attestation_id: str
    appraised_at: dt.datetime
    state: str
    status: str | None
    reasons: list[str]


def handset_attestations(svc: Service, imei: str, limit: int = HISTORY_ATTESTATIONS
                         ) -> list[HistoryAttestation]:
    """A handset's newest attestations (index ``ix_attestations_imei_appraised``);
    challenges that never got evidence are left out, as they say nothing of the
    handset."""
    query = (select(Attestation.id, Attestation.appraised_at, Attestation.state,
                    Attestation.status, Attestation.reasons)
             .where(Attestation.imei == imei, Attestation.appraised_at.is_not(None))
             .order_by(Attestation.appraised_at.desc(), Attestation.id.desc()).limit(limit))
    with svc.db.read_session() as db:
        rows = list(db.execute(query))
    return [HistoryAttestation(i, at, state, status, list(reasons or []))
            for i, at, state, status, reasons in rows if at is not None]


# --- audit ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: dt.datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]


def audit_entries(
    svc: Service, subject: str | None, before: int | None, limit: int = AUDIT_PAGE
) -> list[AuditRow]:
    """Audit entries, newest first, optionally for one subject; keyset on ``seq``."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if subject:
        query = query.where(AuditEntry.subject == subject)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    with svc.db.read_session() as db:
        return [
            AuditRow(e.seq, e.at, e.actor, e.action, e.subject, dict(e.details))
            for e in db.scalars(query)
        ]
