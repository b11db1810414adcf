"""Alerts: contraindicated attestations, newest first, with what the device reported,
what each reason means, and their acknowledgement."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.attestation import alerts as alert_acks
from server.core.errors import ServiceError
from server.http.api.auth import service
from server.http.web import queries
from server.http.web.auth import ANY_ROLE, require_role
from server.http.web.blueprint import bp
from server.http.web.forms import AcknowledgeForm


@bp.get("/desk/alerts")
@require_role(*ANY_ROLE)
def alerts() -> ResponseReturnValue:
    before = request.args.get("before", "")[:64] or None
    rows, next_before = queries.alerts_page(service(), before=before)
    shown = sorted({code for row in rows for code in row.reasons})
    return render_template("alerts.html", rows=rows, next_before=next_before, shown=shown,
                           ack_form=AcknowledgeForm(),
                           window_hours=int(queries.ALERT_WINDOW.total_seconds() // 3600))


@bp.post("/desk/alerts/<attestation_id>/acknowledge")
@require_role(*ANY_ROLE)
def acknowledge_alert(attestation_id: str) -> ResponseReturnValue:
    form = AcknowledgeForm()
    back = url_for("web.alerts", before=request.args.get("before") or None)
    if not form.validate():
        flash("Not acknowledged: " + " ".join(form.note.errors), "error")
        return redirect(back)
    try:
        alert_acks.acknowledge(service(), attestation_id[:64], form.note.data or "",
                               actor=g.operator.actor)
    except ServiceError as exc:
        flash(f"Not acknowledged: {exc.detail}", "error")
    else:
        flash(f"Alert {attestation_id[:64]} acknowledged; it stays listed here and no longer "
              "counts on the badge.", "ok")
    return redirect(back)
