"""Attestation detail (the decoded EAR and whether it verifies) and the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jwt
from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

from attest import ear
from attest.errors import InputError
from server.attestation import views
from server.core.errors import NotFound
from server.http.api.auth import service
from server.http.api.request_models import INT64_MAX
from server.http.web import queries
from server.http.web.auth import ANY_ROLE, require_role
from server.http.web.blueprint import bp, int_arg
from server.pool import registry


@dataclass(frozen=True)
class DecodedEar:
    header: dict[str, Any]
    claims: dict[str, Any]
    signature_ok: bool
    verdict: str  # one line for people: valid, expired, or why it does not verify


def decode_ear(token: str, jwks: dict[str, Any]) -> DecodedEar:
    """Header and claims as sent, plus the relying party's check (``attest.ear.verify``).

    An expired token still had its signature checked first (PyJWT verifies the
    signature before the time claims), so "expired" says the signature is good.
    """
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    try:
        ear.verify(token, jwks)
    except InputError as exc:
        if isinstance(exc.__cause__, jwt.ExpiredSignatureError):
            return DecodedEar(header, claims, True,
                              "signature valid; the token has expired (exp passed)")
        return DecodedEar(header, claims, False, str(exc))
    return DecodedEar(header, claims, True, "signature valid against the service's JWKS")


@bp.get("/desk/attestations/<attestation_id>")
@require_role(*ANY_ROLE)
def attestation_detail(attestation_id: str) -> ResponseReturnValue:
    svc = service()
    try:
        view = views.get_attestation(svc, attestation_id[:64])
    except NotFound:
        abort(404)
    handset = registry.get_handset(svc, view.imei)
    decoded = decode_ear(view.ear, svc.signer.jwks()) if view.ear else None
    return render_template(
        "attestation.html", a=view, label=handset.label if handset else None,
        checkout_id=queries.checkout_of(svc, view.id),
        evidence=queries.evidence_summary(view.evidence), ear=decoded,
        submods=decoded.claims.get("submods", {}) if decoded else {},
        me_facts=decoded.claims.get("simattest_me") if decoded else None,
        pretty=lambda value: json.dumps(value, indent=2, sort_keys=True),
    )


@bp.get("/desk/audit")
@require_role(*ANY_ROLE)
def audit() -> ResponseReturnValue:
    svc = service()
    subject = request.args.get("subject", "")[:200] or None
    entries = queries.audit_entries(svc, subject, int_arg("before", INT64_MAX))
    more = len(entries) == queries.AUDIT_PAGE
    # A handset's history: its verdicts too (their audit entries name the attestation).
    imei = subject.removeprefix("imei:") if subject and subject.startswith("imei:") else None
    attestations = queries.handset_attestations(svc, imei) if imei else []
    return render_template("audit.html", entries=entries, subject=subject, imei=imei,
                           attestations=attestations,
                           history_limit=queries.HISTORY_ATTESTATIONS,
                           next_before=entries[-1].seq if more else None,
                           compact=lambda value: json.dumps(value, sort_keys=True))
