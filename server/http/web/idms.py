"""Desk pages of identity management: the MC user directory (the desk reads it, an admin
changes it) and reporting a handset lost or stolen (desk).  Each form calls one service
function of ``server.idms``."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.core.errors import ServiceError
from server.http.api.auth import service
from server.http.api.request_models import INT32_MAX, ascii_int
from server.http.web import queries
from server.http.web.auth import DESK, require_role
from server.http.web.blueprint import bp
from server.http.web.forms import LostForm, McUserActionForm, McUserForm, show_refusal
from server.idms import desk, users

ADMIN = "admin"


@bp.route("/desk/mc-users", methods=["GET", "POST"])
@require_role(DESK)
def mc_users() -> ResponseReturnValue:
    svc = service()
    form = McUserForm()
    status = 200
    if request.method == "POST":
        if g.operator.role != ADMIN:
            abort(403)
        if form.validate_on_submit():
            try:
                user, _uri = users.add_user(
                    svc, mc_id=form.mc_id.data or "", mcptt_id=form.mcptt_id.data or "",
                    display_name=form.display_name.data or "",
                    password=form.password.data or "", agency=form.agency.data or "",
                    actor=g.operator.actor)
            except ServiceError as exc:
                show_refusal(form, "Not added", exc)
                status = exc.status
            else:
                flash(f"MC user {user.mc_id} ({user.mcptt_id}) added.", "ok")
                return redirect(url_for("web.mc_users"))
        else:
            status = 422
    search = request.args.get("q", "")[:100]
    try:
        page = users.list_users(svc, search=search, limit=500)
    except ServiceError as exc:
        flash(f"Search: {exc.detail}", "error")
        page = users.list_users(svc, limit=500)
        status = exc.status
    return render_template("mc_users.html", page=page, q=search, form=form,
                           action_form=McUserActionForm(),
                           idms_enabled=svc.config.idms.enabled), status


@bp.post("/desk/mc-users/<mc_id>/<action>")
@require_role(ADMIN)
def mc_user_action(mc_id: str, action: str) -> ResponseReturnValue:
    svc = service()
    form = McUserActionForm()
    if action not in ("disable", "enable", "password") or not form.validate_on_submit():
        abort(400 if action in ("disable", "enable", "password") else 404)
    try:
        if action == "disable":
            done = users.disable_user(svc, mc_id, actor=g.operator.actor)
        elif action == "enable":
            done = users.enable_user(svc, mc_id, actor=g.operator.actor)
        else:
            done = users.reset_password(svc, mc_id, form.password.data or "",
                                        actor=g.operator.actor)
    except ServiceError as exc:
        flash(f"MC user {mc_id[:255]}: {exc.detail}", "error")
        return redirect(url_for("web.mc_users")), 303
    flash({"disable": f"MC user {done.mc_id} disabled: no sign-in, identities ended.",
           "enable": f"MC user {done.mc_id} enabled.",
           "password": f"New password set for MC user {done.mc_id}."}[action], "ok")
    return redirect(url_for("web.mc_users")), 303


@bp.post("/desk/handsets/<handset_id>/<action>")
@require_role(DESK)
def handset_lost(handset_id: str, action: str) -> ResponseReturnValue:
    svc = service()
    number = ascii_int(handset_id, INT32_MAX)
    row = None if number is None else queries.handset_row(svc, number)
    if row is None or action not in ("lost", "found"):
        abort(404)
    form = LostForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        if action == "lost":
            done = desk.report_lost(svc, row.imei, actor=g.operator.actor,
                                    note=form.note.data or "")
            ended = len(done["identities_ended"])
            flash(f"{row.label or row.imei} reported lost or stolen; no checkout until the "
                  f"report is cleared. MC identities ended: {ended}.", "ok")
        else:
            desk.clear_lost(svc, row.imei, actor=g.operator.actor, note=form.note.data or "")
            flash(f"Lost report of {row.label or row.imei} cleared.", "ok")
    except ServiceError as exc:
        show_refusal(form, "Not changed", exc)
    return redirect(url_for("web.checkout", handset_id=number)), 303


@bp.post("/desk/sign-ins/<identity_id>/end")
@require_role(ADMIN)
def end_sign_in(identity_id: str) -> ResponseReturnValue:
    svc = service()
    number = ascii_int(identity_id, INT32_MAX)
    if number is None or not LostForm().validate_on_submit():  # the CSRF token alone
        abort(400 if number is not None else 404)
    try:
        ended = desk.end_sign_in(svc, number, actor=g.operator.actor)
    except ServiceError as exc:
        flash(f"Sign-in not ended: {exc.detail}", "error")
        return redirect(url_for("web.mc_users")), 303
    flash(f"Sign-in of {ended.mc_id} ({ended.impu2}) ended.", "ok")
    handset = queries.find_handsets(svc, ended.imei)
    return redirect(url_for("web.checkout", handset_id=handset[0].handset_id)
                    if len(handset) == 1 else url_for("web.returns")), 303
