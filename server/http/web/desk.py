"""The desk's own work: check a handset out to a user, and take it back.

The "Check out" button is enabled only for a handset whose latest attestation is
affirming, younger than ``ServiceConfig.checkout_max_age`` and not already used for a
checkout.  That is a convenience for the operator: ``server.checkout.desk.start_checkout``
(the same function the JSON API calls) enforces the same rules and appends the audit
entry, and its refusal is shown when the page was stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.checkout import desk as checkouts
from server.core.config import CardVerificationPolicy
from server.core.errors import ServiceError
from server.http.api.auth import service
from server.http.api.request_models import INT32_MAX, ascii_int
from server.http.web import queries
from server.http.web.auth import DESK, require_role, safe_next
from server.http.web.blueprint import bp
from server.http.web.forms import CheckoutForm, LostForm, ReturnForm, show_refusal
from server.idms import desk as idms_desk
from server.idms import users as idms_users
from server.ims.hss import registrations_of
from server.pool import registry
from server.store.models import utcnow


@dataclass(frozen=True)
class Eligibility:
    allowed: bool
    reason: str  # why not, or what the operator is about to rely on


def eligibility(row: queries.PoolRow, used_by_checkout: int | None, max_age: float,
                now: dt.datetime, policy: CardVerificationPolicy) -> Eligibility:
    """Whether the desk may hand this handset out now, and why (or why not)."""
    if row.checkout_id is not None:
        return Eligibility(False, f"Already checked out to {row.checked_out_to}. "
                                  "Take it back on the Return page first.")
    if row.attestation_id is None or row.attested_at is None:
        return Eligibility(False, "No attestation yet. Run the checkout check on the handset "
                                  "(simattest checkout), then reload this page.")
    if row.status != "affirming":
        return Eligibility(False, f"The latest attestation is {row.status}: do not hand this "
                                  "handset out. See Alerts and take it to provisioning.")
    age = (now - row.attested_at).total_seconds()
    if age > max_age:
        return Eligibility(False, f"The latest attestation is {_minutes(age)} old; checkout "
                                  f"needs one younger than {_minutes(max_age)}. Run the check "
                                  "on the handset again, then reload this page.")
    if used_by_checkout is not None:
        return Eligibility(False, "The latest attestation was already used for a checkout. "
                                  "Run the check on the handset again, then reload this page.")
    card = checkouts.card_check(row.iccid, row.verification, policy)
    if card.refusal is not None:
        return Eligibility(False, f"Not allowed: {card.refusal}. Take the card to the bench.")
    warning = f" Warning: {card.warning}." if card.warning else ""
    return Eligibility(True, f"Affirming attestation from {_minutes(age)} ago.{warning}")


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@bp.get("/desk/checkout")
@require_role(DESK)
def checkout_search() -> ResponseReturnValue:
    scanned = request.args.get("q", "")[:100]
    matches = queries.find_handsets(service(), scanned) if scanned.strip() else []
    if len(matches) == 1:
        return redirect(url_for("web.checkout", handset_id=matches[0].handset_id))
    return render_template("checkout_search.html", q=scanned, matches=matches)


@bp.route("/desk/checkout/<handset_id>", methods=["GET", "POST"])
@require_role(DESK)
def checkout(handset_id: str) -> ResponseReturnValue:
    svc = service()
    # Not Werkzeug's int converter: it takes any Unicode digits, and any size.
    number = ascii_int(handset_id, INT32_MAX)
    row = None if number is None else queries.handset_row(svc, number)
    if row is None:
        abort(404)
    form = CheckoutForm(attestation_id=row.attestation_id or "")
    status = 200
    confirming = False
    submitted = form.validate_on_submit()
    if submitted and form.confirmed.data != "yes":
        # First press: show who gets which handset, and ask once more.
        confirming = True
    elif submitted:
        try:
            done = idms_desk.start_checkout(svc, form.attestation_id.data or "",
                                            (form.user.data or "").strip(),
                                            actor=g.operator.actor)
        except ServiceError as exc:
            show_refusal(form, "Not checked out", exc)
            status = exc.status
        else:
            flash(f"{row.label or row.imei} checked out to {done.user}.", "ok")
            for warning in done.warnings:
                flash(f"Warning: {warning}.", "info")
            return redirect(url_for("web.checkout", handset_id=number))
    elif form.errors:
        status = 422
    used_by = queries.checkout_of(svc, row.attestation_id) if row.attestation_id else None
    verdict = eligibility(row, used_by, svc.config.checkout_max_age, utcnow(),
                          svc.config.card_verification)
    # A fresh check by the device would change the answer (not so for a verdict that
    # is simply bad, or a handset that is out).
    attestation_needed = row.checkout_id is None and row.status in (None, "affirming")
    handset = registry.get_handset(svc, row.imei)
    # Identity management: the checkout names an MC user of the directory (offered).
    mc_users = idms_users.list_users(svc, enabled=True, limit=500).items \
        if svc.config.idms.enabled else []
    hardware = None if handset is None or handset.attestation is None \
        else registry.attestation_json(handset.attestation)
    sign_ins = idms_desk.sign_ins(svc, row.checkout_id) if row.checkout_id else []
    # Where each sign-in's IMPU2 is registered in IMS (the Cx peer's records).
    ims = registrations_of(svc, [s.impu2 for s in sign_ins])
    return render_template("checkout.html", row=row, verdict=verdict, confirming=confirming,
                           attestation_needed=attestation_needed, hardware=hardware,
                           handset=handset,
                           mc_users=mc_users, idms_enabled=svc.config.idms.enabled,
                           sign_ins=sign_ins, ims=ims,
                           lost_form=LostForm(),
                           form=form, return_form=ReturnForm(checkout_id=row.checkout_id)), status


@bp.route("/desk/returns", methods=["GET", "POST"])
@require_role(DESK)
def returns() -> ResponseReturnValue:
    svc = service()
    form = ReturnForm()
    status = 200
    if request.method == "POST":
        if form.validate() and form.checkout_id.data is not None:
            try:
                done = idms_desk.return_checkout(svc, form.checkout_id.data,
                                                 actor=g.operator.actor)
            except ServiceError as exc:
                flash(f"Not returned: {exc.detail}", "error")
                status = exc.status
            else:
                # Who took it back is the desk operator (recorded as returned_by);
                # the user it was out to is named too, so the line identifies it.
                flash(f"Checkout {done.id} (out to {done.user}) taken back by "
                      f"{g.operator.label or g.operator.actor}.", "ok")
                return redirect(safe_next(request.form.get("back")) if request.form.get("back")
                                else url_for("web.returns"))
        else:
            flash("Choose the checkout to end.", "error")
            status = 422
    search = request.args.get("q", "")[:100]
    rows = queries.open_checkouts(svc, search)
    return render_template("returns.html", rows=rows, q=search, return_form=form), status
