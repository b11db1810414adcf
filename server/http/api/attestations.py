"""The desk's read access to attestations and alerts, and the OpenAPI description of
the device-facing attestation endpoints (served by ``server.http.api.device``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from attest.reasons import REASONS
from server.attestation import alerts as alert_acks
from server.attestation import views
from server.http.api.auth import current_actor, require_role, service
from server.http.api.body import json_body, path, query
from server.http.api.openapi import (
    BEARER,
    json_request,
    json_response,
    page_of,
    parameters,
    problem_response,
    ref,
)
from server.http.api.registry import page_json
from server.http.api.request_models import (
    AlertQuery,
    AttestationPath,
    AttestationQuery,
    ChallengeRequest,
    EvidenceSubmission,
    ImeiPath,
    NewAcknowledgement,
)

blueprint = Blueprint("attestations", __name__, url_prefix="/v1")

_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


@blueprint.get("/attestations")
@require_role("desk")
def listing() -> dict[str, Any]:
    args = query(AttestationQuery)
    page = views.list_attestations(service(), imei=args.imei, status=args.status,
                                   offset=args.offset, limit=args.limit)
    return page_json(page, views.AttestationView.to_json)


@blueprint.get("/attestations/<attestation_id>")
@require_role("desk")
@path(AttestationPath)
def get(attestation_id: str) -> dict[str, Any]:
    return views.get_attestation(service(), attestation_id).to_json()


@blueprint.get("/handsets/<imei>/attestation")
@require_role("desk")
@path(ImeiPath)
def latest(imei: str) -> dict[str, Any]:
    return views.latest_attestation(service(), imei).to_json()


@blueprint.get("/alerts")
@require_role("desk")
def alerts() -> dict[str, Any]:
    svc = service()
    args = query(AlertQuery)
    items = views.alerts(svc, offset=args.offset, limit=args.limit)
    return {"items": [a.to_json() for a in items], "total": views.count_alerts(svc),
            "unacknowledged": views.count_alerts(svc, unacknowledged=True)}


@blueprint.post("/alerts/<attestation_id>/acknowledgement")
@require_role("desk", "provisioner")
@path(AttestationPath)
def acknowledge(attestation_id: str) -> tuple[dict[str, Any], int]:
    body = json_body(NewAcknowledgement)
    ack = alert_acks.acknowledge(service(), attestation_id, body.note, current_actor())
    return ack.to_json(), 201


# --- OpenAPI --------------------------------------------------------------------------

_HEX = {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$"}
_ID = parameters(path=AttestationPath)
_DEVICE_ERRORS = {
    "400": problem_response("Malformed JSON"),
    "413": problem_response("Body too large"),
    "415": problem_response("Not application/json"),
    "422": problem_response("A field is missing, unknown or malformed (named in errors)"),
    "403": problem_response("The service asks for device certificates (serve --client-ca) "
                            "and the request came without the named handset's"),
    "429": problem_response("Rate limit per IMEI or per client exceeded (Retry-After)"),
    "405": problem_response("Not POST (Allow)"),
    "503": problem_response("Database unavailable; nothing was changed"),
}
_SCHEMAS: dict[str, Any] = {
    "Reason": {
        "enum": list(REASONS),
        "description": "Why a verdict is not affirming (simattest explain CODE):\n\n"
                       + "\n".join(f"- `{r.code}`: {r.meaning}. Next: {r.next_step}."
                                    for r in REASONS.values()),
    },
    "Challenge": {
        "type": "object",
        "description": "Run AUTHENTICATE (3G context, P2=81) with rand/autn on the "
                       "application 'app'. An unregistered IMEI gets a decoy challenge too: "
                       "its evidence is appraised ME_UNKNOWN.",
        "required": ["id", "rand", "autn", "app", "nonce", "expires_at"],
        "properties": {
            "id": {"type": "string", "pattern": _ID_PATTERN},
            "rand": {**_HEX, "minLength": 32, "maxLength": 32},
            "autn": {**_HEX, "minLength": 32, "maxLength": 32},
            "app": {"enum": ["usim"]},
            "nonce": {"type": "string", "description": "256 bits, base64url without padding"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "Verdict": {
        "type": "object",
        "description": "status 'resync': the card's SQN was re-synchronised; run the "
                       "fresh challenge. Otherwise the appraisal with its EAR (JWT, ES256, "
                       "verify with /.well-known/jwks.json).",
        "required": ["attestation_id", "status"],
        "properties": {
            "attestation_id": {"type": "string"},
            "status": {"enum": ["affirming", "warning", "contraindicated", "resync"]},
            "reasons": {"type": "array", "items": ref("Reason")},
            "ear": {"type": "string"},
            "challenge": ref("Challenge"),
        },
    },
    "Attestation": {
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "imei": {"type": "string"},
            "state": {"enum": ["pending", "consumed", "expired"]},
            "status": {"type": ["string", "null"]},
            "reasons": {"type": "array", "items": ref("Reason")},
            "iccid": {"type": ["string", "null"]}, "imsi": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "appraised_at": {"type": ["string", "null"], "format": "date-time"},
            "evidence": {"type": ["object", "null"],
                         "description": "The evidence without RES/AUTS"},
            "ear": {"type": ["string", "null"]},
            "hardware": {"type": ["object", "null"], "description": (
                "the handset's hardware facts the verdict judged (the EAR's simattest_me): "
                "key_kind (software, tee, strongbox), fresh_attestation, and for an "
                "attested handset device_locked, verified_boot_state, os/vendor/boot "
                "patch levels")},
            "acknowledgement": {"oneOf": [{"type": "null"}, ref("Acknowledgement")]},
            "device_certificate": {
                "type": ["string", "null"], "pattern": "^[0-9a-f]{64}$",
                "description": "SHA-256 (hex) of the device certificate the evidence came "
                               "with (serve --client-ca); null without one"},
        },
    },
    "Acknowledgement": {
        "type": "object",
        "required": ["attestation_id", "acknowledged_at", "acknowledged_by", "note"],
        "properties": {
            "attestation_id": {"type": "string"},
            "acknowledged_at": {"type": "string", "format": "date-time"},
            "acknowledged_by": {"type": "string"}, "note": {"type": "string"},
        },
    },
}

OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/v1/attestations": {
            "post": {
                "summary": "Get a single-use AKA challenge for a handset (device-facing)",
                "operationId": "createChallenge",
                "requestBody": json_request(ChallengeRequest),
                "responses": {"201": json_response("The challenge", ref("Challenge"), {
                    "submitEvidence": {"attestation_id": "$response.body#/id"}}),
                              **_DEVICE_ERRORS},
            },
            "get": {
                "summary": "Attestations, newest first (desk)", "security": BEARER,
                "operationId": "listAttestations",
                "parameters": parameters(query=AttestationQuery),
                "responses": {"200": json_response("A page", page_of("Attestation")),
                              "401": problem_response("No or unknown token"),
                              "403": problem_response("Role not allowed"),
                              "422": problem_response("Invalid IMEI or status")},
            },
        },
        "/v1/attestations/{attestation_id}/evidence": {
            "post": {
                "summary": "Submit signed evidence; get the verdict and EAR (device-facing)",
                "operationId": "submitEvidence", "parameters": _ID,
                "requestBody": json_request(EvidenceSubmission),
                "responses": {
                    "200": json_response("Verdict (also for expired or reused challenges)",
                                         ref("Verdict")),
                    "403": problem_response("The challenge is a registered handset's and "
                                            "the evidence is not signed by its device key; "
                                            "the challenge stays pending"),
                    "404": problem_response("No such challenge"), **_DEVICE_ERRORS},
            }
        },
        "/v1/attestations/{attestation_id}": {
            "get": {
                "summary": "One attestation with its verdict and EAR", "security": BEARER,
                "operationId": "getAttestation", "parameters": _ID,
                "responses": {"200": json_response("The attestation", ref("Attestation")),
                              "401": problem_response("No or unknown token"),
                              "403": problem_response("Role not allowed"),
                              "404": problem_response("No such attestation")},
            }
        },
        "/v1/handsets/{imei}/attestation": {
            "get": {
                "summary": "The handset's newest appraised attestation (the desk checks out "
                           "from it)", "security": BEARER,
                "operationId": "getLatestAttestation",
                "parameters": parameters(path=ImeiPath),
                "responses": {"200": json_response("The attestation", ref("Attestation")),
                              "404": problem_response("Unknown handset, or none appraised "
                                                      "yet")},
            }
        },
        "/v1/alerts": {
            "get": {
                "summary": "Contraindicated attestations, newest first", "security": BEARER,
                "operationId": "listAlerts",
                "parameters": parameters(query=AlertQuery),
                "responses": {"200": json_response("Alerts", {
                    "type": "object", "properties": {
                        "items": {"type": "array", "items": ref("Attestation")},
                        "total": {"type": "integer"},
                        "unacknowledged": {"type": "integer",
                                           "description": "of total, those nobody has "
                                                          "acknowledged"}}}),
                    "401": problem_response("No or unknown token"),
                    "403": problem_response("Role not allowed")},
            }
        },
        "/v1/alerts/{attestation_id}/acknowledgement": {
            "post": {
                "summary": "Acknowledge an alert: it stays listed, and leaves the desk's "
                           "badge (who and when are recorded, with the note; audited)",
                "security": BEARER, "operationId": "acknowledgeAlert", "parameters": _ID,
                "requestBody": json_request(NewAcknowledgement),
                "responses": {
                    "201": json_response("Acknowledged", ref("Acknowledgement")),
                    "401": problem_response("No or unknown token"),
                    "403": problem_response("Role not allowed"),
                    "404": problem_response("No such attestation"),
                    "409": problem_response("Not contraindicated (not-an-alert), or "
                                            "already acknowledged (already-acknowledged)"),
                    "422": problem_response("Invalid note")},
            }
        },
    },
    "components": {"schemas": _SCHEMAS},
}
