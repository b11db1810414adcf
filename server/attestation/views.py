"""Attestations as the API, the desk pages and the CLI read them: one by id, each
handset's newest, and the alerts (contraindicated verdicts, newest first).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select

from attest.evidence import summary
from server.core.errors import NotFound
from server.core.identifiers import check_imei
from server.core.service import Service
from server.store.models import Attestation


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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "imei": self.imei, "state": self.state, "status": self.status,
            "reasons": self.reasons, "iccid": self.iccid, "imsi": self.imsi,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "appraised_at": None if self.appraised_at is None
            else self.appraised_at.isoformat(timespec="seconds"),
            "evidence": self.evidence, "ear": self.ear,
            "device_certificate": self.device_certificate,
        }


def _attestation_view(att: Attestation) -> AttestationView:
    return AttestationView(att.id, att.imei, att.state, att.status, list(att.reasons or []),
                           att.iccid, att.imsi, att.created_at, att.appraised_at,
                           None if att.evidence is None else summary(att.evidence), att.ear,
                           att.device_certificate)


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
