"""Alerts: contraindicated attestations, newest first, with what the device reported."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

from server.http.api.auth import service
from server.http.web import queries
from server.http.web.auth import ANY_ROLE, require_role
from server.http.web.blueprint import bp


@bp.get("/desk/alerts")
@require_role(*ANY_ROLE)
def alerts() -> ResponseReturnValue:
    before = request.args.get("before", "")[:64] or None
    rows, next_before = queries.alerts_page(service(), before=before)
    return render_template("alerts.html", rows=rows, next_before=next_before,
                           window_hours=int(queries.ALERT_WINDOW.total_seconds() // 3600))
