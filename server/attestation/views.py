"""Attestations as the API, the desk pages and the CLI read them: one by id, each
handset's newest, and the alerts (contraindicated verdicts, newest first).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import and_, func, select

from attest.evidence import summary
from server.attestation.alerts import Acknowledgement, view
from server.core.errors import NotFound, ValidationError
from server.core.identifiers import check_imei
from server.core.service import Service
from server.pool.registry import Page, paginate
from server.store.models import AlertAcknowledgement, Attestation


@dataclass(frozen=True, slots=True)
class AttestationView:
    """An attestation as the desk sees it: the evidence as ``attest.evidence.summary``
    shows it (never the card's answer values)."""

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
    device_certificate: str | None  # SHA-256 (hex) of the handset's TLS certificate
    acknowledgement: Acknowledgement | None = None  # of a contraindicated verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "imei": self.imei, "state": self.state, "status": self.status,
            "reasons": self.reasons, "iccid": self.iccid, "imsi": self.imsi,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "appraised_at": None if self.appraised_at is None
            else self.appraised_at.isoformat(timespec="seconds"),
            "evidence": self.evidence, "ear": self.ear,
            "device_certificate": self.device_certificate,
            "acknowledgement": None if self.acknowledgement is None
            else self.acknowledgement.to_json(),
            "hardware": hardware_facts(self.ear),
        }


def hardware_facts(token: str | None) -> dict[str, Any] | None:
    """The handset's hardware facts the verdict judged: the EAR's ``simattest_me`` (key
    kind, fresh attestation or not, boot state, bootloader, patch levels; ``attest.ear``).
    The token is the service's own, read back from its database: not verified again."""
    if token is None:
        return None
    facts = jwt.decode(token, options={"verify_signature": False}).get("simattest_me")
    return facts if isinstance(facts, dict) else None


def _attestation_view(att: Attestation, ack: AlertAcknowledgement | None = None
                      ) -> AttestationView:
    return AttestationView(att.id, att.imei, att.state, att.status, list(att.reasons or []),
                           att.iccid, att.imsi, att.created_at, att.appraised_at,
                           None if att.evidence is None else summary(att.evidence), att.ear,
                           att.device_certificate, None if ack is None else view(ack))


def get_attestation(svc: Service, attestation_id: str) -> AttestationView:
    with svc.db.read_session() as session:
        att = session.get(Attestation, attestation_id)
        if att is None:
            raise NotFound(f"attestation {attestation_id} does not exist",
                           field="attestation_id")
        return _attestation_view(att, session.get(AlertAcknowledgement, attestation_id))


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


# What ``list_attestations`` filters on: a verdict, or "none" for not appraised (yet).
STATUS_FILTERS = ("affirming", "warning", "contraindicated", "none")


def list_attestations(svc: Service, *, imei: str | None = None, status: str | None = None,
                      offset: int = 0, limit: int = 50) -> Page:
    """Attestations newest first (items: AttestationView), optionally one handset's and
    only those with one verdict (``STATUS_FILTERS``)."""
    query = select(Attestation).order_by(Attestation.created_at.desc(), Attestation.id.desc())
    if imei is not None:
        query = query.where(Attestation.imei == check_imei(imei))
    if status == "none":
        query = query.where(Attestation.status.is_(None))
    elif status is not None:
        if status not in STATUS_FILTERS:
            raise ValidationError(f"status must be one of {', '.join(STATUS_FILTERS)}",
                                  field="status")
        query = query.where(Attestation.status == status)
    with svc.db.read_session() as session:
        page = paginate(session, query, offset, limit)
        return dataclasses.replace(page, items=[_attestation_view(a) for a in page.items])


def alerts(svc: Service, *, offset: int = 0, limit: int = 50) -> list[AttestationView]:
    """Contraindicated attestations, newest first (the desk's alert list)."""
    with svc.db.read_session() as session:
        rows = session.execute(
            select(Attestation, AlertAcknowledgement)
            .outerjoin(AlertAcknowledgement,
                       AlertAcknowledgement.attestation_id == Attestation.id)
            .where(Attestation.status == "contraindicated")
            .order_by(Attestation.appraised_at.desc(), Attestation.id)
            .offset(max(0, offset)).limit(max(1, min(limit, 500)))
        ).all()
        return [_attestation_view(att, ack) for att, ack in rows]


def count_alerts(svc: Service, *, unacknowledged: bool = False) -> int:
    """Contraindicated attestations (only those nobody acknowledged, if asked)."""
    query = select(func.count()).select_from(Attestation).where(
        Attestation.status == "contraindicated")
    if unacknowledged:
        query = query.where(~select(AlertAcknowledgement.attestation_id).where(
            AlertAcknowledgement.attestation_id == Attestation.id).exists())
    with svc.db.read_session() as session:
        return session.scalar(query) or 0
