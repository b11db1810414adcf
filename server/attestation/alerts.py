"""Alerts (contraindicated verdicts) and their acknowledgement.

An operator who has looked at an alert — a bench engineer's typo, a card already taken
to provisioning — acknowledges it with a note.  The acknowledgement is recorded once
(the table's primary key decides between two desks), audited in the same transaction,
takes the alert off the desk's badge and leaves it listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from server.core.errors import Conflict, NotFound
from server.core.identifiers import check_text
from server.core.service import Service
from server.store import audit_chain as audit
from server.store.models import AlertAcknowledgement, Attestation, utcnow

MAX_NOTE_CHARS = 500


class NotAnAlert(Conflict):
    slug = "not-an-alert"
    title = "Not an alert"


class AlreadyAcknowledged(Conflict):
    slug = "already-acknowledged"
    title = "Alert already acknowledged"


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    attestation_id: str
    acknowledged_at: dt.datetime
    acknowledged_by: str
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"attestation_id": self.attestation_id,
                "acknowledged_at": self.acknowledged_at.isoformat(timespec="seconds"),
                "acknowledged_by": self.acknowledged_by, "note": self.note}


def view(ack: AlertAcknowledgement) -> Acknowledgement:
    return Acknowledgement(ack.attestation_id, ack.acknowledged_at, ack.acknowledged_by,
                           ack.note)


def acknowledge(svc: Service, attestation_id: str, note: str, actor: str) -> Acknowledgement:
    """Record that ``actor`` has dealt with this alert, and why (``note``)."""
    note = check_text(note, "note", max_chars=MAX_NOTE_CHARS, required=True)
    try:
        with svc.db.session() as session:
            att = session.get(Attestation, attestation_id)
            if att is None:
                raise NotFound(f"attestation {attestation_id} does not exist",
                               field="attestation_id")
            if att.status != "contraindicated":
                raise NotAnAlert(f"attestation {attestation_id} is "
                                 f"{att.status or att.state}, not an alert: only "
                                 "contraindicated verdicts are acknowledged",
                                 field="attestation_id")
            _refuse_if_acknowledged(session.get(AlertAcknowledgement, attestation_id))
            ack = AlertAcknowledgement(attestation_id=attestation_id,
                                       acknowledged_at=utcnow(), acknowledged_by=actor,
                                       note=note)
            session.add(ack)
            session.flush()
            audit.append(session, actor, "alert.acknowledge", f"attestation:{attestation_id}",
                         {"imei": att.imei, "reasons": list(att.reasons or []), "note": note})
            return view(ack)
    except IntegrityError:
        # another desk acknowledged it between our read and our insert
        with svc.db.read_session() as session:
            _refuse_if_acknowledged(session.get(AlertAcknowledgement, attestation_id))
        raise


def _refuse_if_acknowledged(ack: AlertAcknowledgement | None) -> None:
    if ack is not None:
        raise AlreadyAcknowledged(
            f"acknowledged at {ack.acknowledged_at.isoformat(timespec='seconds')} by "
            f"{ack.acknowledged_by}: {ack.note}", field="attestation_id")
