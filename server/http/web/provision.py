"""Provisioning pages (provisioner role): vendor batch import, handsets, pairings, cards.

Each form calls the same service function as the JSON API and the CLI
(``server.pool.provisioning.import_batch``, ``server.pool.registry.add_handset`` / ``pair`` /
``unpair``), which validate and append the audit entry; a refusal comes back as a
``ServiceError`` whose one-line detail the page shows next to the form.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.checkout.desk import POLICY_TEXT
from server.core.errors import ServiceError
from server.http.api.auth import service
from server.http.web.auth import PROVISIONER, require_role
from server.http.web.blueprint import bp, int_arg
from server.http.web.forms import (
    AttestedHandsetForm,
    HandsetForm,
    ImportForm,
    PairForm,
    RegistrationNonceForm,
    UnpairForm,
    show_refusal,
)
from server.pool import attested, provisioning, registry

CARDS_PER_PAGE = 50


@bp.get("/desk/provision/")
@require_role(PROVISIONER)
def provision() -> ResponseReturnValue:
    return render_template("provision/index.html")


@bp.route("/desk/provision/import", methods=["GET", "POST"])
@require_role(PROVISIONER)
def provision_import() -> ResponseReturnValue:
    form = ImportForm()
    report: provisioning.ImportReport | None = None
    status = 200
    if form.validate_on_submit():
        upload = form.batch.data
        filename = upload.filename or "upload"
        key_hex = (form.transport_key.data or "").strip()
        try:
            report = provisioning.import_batch(
                service(), upload.read(), filename,
                transport_key=provisioning.parse_transport_key(key_hex) if key_hex else None,
                partial=bool(form.partial.data), actor=g.operator.actor,
            )
        except provisioning.ImportRejected as exc:
            report, status = exc.report, exc.status
            flash(f"Import refused: {exc.detail}.", "error")
        except provisioning.AlreadyInPool as exc:
            flash(f"Nothing imported: {exc.detail}.", "info")
        except ServiceError as exc:
            show_refusal(form, "Nothing imported", exc)
            status = exc.status
        else:
            flash(f"Imported {report.imported} of {report.rows} cards from {filename}.", "ok")
    elif form.errors:
        status = 422
    return render_template("provision/import.html", form=form, report=report), status


@bp.route("/desk/provision/handsets", methods=["GET", "POST"])
@require_role(PROVISIONER)
def provision_handset() -> ResponseReturnValue:
    form = HandsetForm()
    status = 200
    if form.validate_on_submit():
        try:
            handset = registry.add_handset(
                service(), form.imei.data or "", form.public_key.data or "",
                actor=g.operator.actor, imeisv=form.imeisv.data or None,
                label=(form.label.data or "").strip(),
            )
        except ServiceError as exc:
            show_refusal(form, "Not registered", exc)
            status = exc.status
        else:
            flash(f"Handset {handset.imei} registered ({handset.key_algorithm} key).", "ok")
            return redirect(url_for("web.provision_pairings", imei=handset.imei))
    elif form.errors:
        status = 422
    return render_template("provision/handset.html", form=form), status


@bp.route("/desk/provision/attested", methods=["GET", "POST"])
@require_role(PROVISIONER)
def provision_attested() -> ResponseReturnValue:
    """Register a handset from its Android key attestation: a registration nonce for its
    IMEI first, then its chain (``server.pool.attested``)."""
    nonce_form = RegistrationNonceForm(prefix="nonce")
    form = AttestedHandsetForm(prefix="reg")
    status, issued = 200, None
    if request.method == "POST" and "nonce-imei" in request.form:
        if nonce_form.validate_on_submit():
            try:
                issued = attested.issue_registration_nonce(
                    service(), nonce_form.imei.data or "", actor=g.operator.actor)
            except ServiceError as exc:
                show_refusal(nonce_form, "No nonce", exc)
                status = exc.status
            else:
                form.imei.data, form.nonce.data = issued.imei, issued.nonce
        else:
            status = 422
    elif form.validate_on_submit():
        try:
            handset = attested.add_attested_handset(
                service(), form.imei.data or "", form.attestation.data or "",
                (form.nonce.data or "").strip(), actor=g.operator.actor,
                imeisv=form.imeisv.data or None, label=(form.label.data or "").strip())
        except ServiceError as exc:
            show_refusal(form, "Not registered", exc)
            if (exc.field or "").startswith("attestation."):
                form.attestation.errors = [*form.attestation.errors, exc.detail]
            status = exc.status
        else:
            flash(f"Handset {handset.imei} registered from its key attestation "
                  f"({registry.KEY_KIND_TEXT[registry.key_kind(handset)]}).", "ok")
            return redirect(url_for("web.provision_pairings", imei=handset.imei))
    elif form.errors:
        status = 422
    return render_template("provision/attested.html", nonce_form=nonce_form, form=form,
                           issued=issued), status


@bp.route("/desk/provision/pairings", methods=["GET", "POST"])
@require_role(PROVISIONER)
def provision_pairings() -> ResponseReturnValue:
    form = PairForm(imei=request.args.get("imei", ""))
    status = 200
    if form.validate_on_submit():
        try:
            pairing = registry.pair(service(), form.imei.data or "", form.iccid.data or "",
                                    actor=g.operator.actor)
        except ServiceError as exc:
            show_refusal(form, "Not paired", exc)
            status = exc.status
        else:
            flash(f"Handset {pairing.handset.imei} paired with card {pairing.card.iccid}.", "ok")
            return redirect(url_for("web.provision_pairings", imei=pairing.handset.imei))
    elif form.errors:
        status = 422
    imei = form.imei.data or ""
    history = registry.pairing_history(service(), imei) if imei and len(imei) == 15 else []
    return render_template("provision/pairings.html", form=form, imei=imei, history=history,
                           unpair_form=UnpairForm(imei=imei)), status


@bp.post("/desk/provision/pairings/end")
@require_role(PROVISIONER)
def provision_unpair() -> ResponseReturnValue:
    form = UnpairForm()
    imei = form.imei.data or ""
    if form.validate():
        try:
            pairing = registry.unpair(service(), imei, actor=g.operator.actor)
        except ServiceError as exc:
            flash(f"Not unpaired: {exc.detail}", "error")
        else:
            flash(f"Handset {imei} unpaired from card {pairing.card.iccid}.", "ok")
    return redirect(url_for("web.provision_pairings", imei=imei))


@bp.get("/desk/provision/cards")
@require_role(PROVISIONER)
def provision_cards() -> ResponseReturnValue:
    search = request.args.get("q", "").strip()
    verification = request.args.get("verification") or None
    if verification not in (None, *registry.VERIFICATION_STATES):
        verification = None
    offset = int_arg("offset") or 0
    svc = service()
    page = registry.list_cards(svc, search=search, verification=verification,
                               offset=offset, limit=CARDS_PER_PAGE)
    return render_template("provision/cards.html", page=page, q=search,
                           verification=verification, states=registry.VERIFICATION_STATES,
                           checkout_policy=POLICY_TEXT[svc.config.card_verification])
