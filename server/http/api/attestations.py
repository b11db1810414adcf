"""The desk's read access to attestations and alerts, and the OpenAPI description of
the device-facing attestation endpoints (served by ``server.http.api.device``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.attestation import views
from server.http.api.auth import require_role, service
from server.http.api.body import path, query
from server.http.api.openapi import (
    BEARER,
    json_request,
    json_response,
    parameters,
    problem_response,
    ref,
)
from server.http.api.request_models import (
    AlertQuery,
    AttestationPath,
    ChallengeRequest,
    EvidenceSubmission,
    ImeiPath,
)

blueprint = Blueprint("attestations", __name__, url_prefix="/v1")

_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


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
    return {"items": [a.to_json() for a in items], "total": views.count_alerts(svc)}


# --- OpenAPI --------------------------------------------------------------------------

_HEX = {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$"}
_ID = parameters(path=AttestationPath)
_DEVICE_ERRORS = {
    "400": problem_response("Malformed JSON"),
    "413": problem_response("Body too large"),
    "415": problem_response("Not application/json"),
    "422": problem_response("A field is missing, unknown or malformed (named in errors)"),
    "429": problem_response("Rate limit per IMEI or per client exceeded (Retry-After)"),
    "405": problem_response("Not POST (Allow)"),
    "503": problem_response("Database unavailable; nothing was changed"),
}
_SCHEMAS: dict[str, Any] = {
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
            "reasons": {"type": "array", "items": {"enum": [
                "CHALLENGE_EXPIRED", "CHALLENGE_REUSED", "NONCE_MISMATCH", "IMEI_MISMATCH",
                "ME_UNKNOWN", "ME_SIGNATURE_INVALID", "COMMERCIAL_SIM", "CLONED_SIM",
                "SIM_SWAPPED", "HANDSET_NOT_PAIRED", "PROFILE_MISMATCH"]}},
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
            "reasons": {"type": "array", "items": {"type": "string"}},
            "iccid": {"type": ["string", "null"]}, "imsi": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "appraised_at": {"type": ["string", "null"], "format": "date-time"},
            "evidence": {"type": ["object", "null"],
                         "description": "The evidence without RES/AUTS"},
            "ear": {"type": ["string", "null"]},
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
            }
        },
        "/v1/attestations/{attestation_id}/evidence": {
            "post": {
                "summary": "Submit signed evidence; get the verdict and EAR (device-facing)",
                "operationId": "submitEvidence", "parameters": _ID,
                "requestBody": json_request(EvidenceSubmission),
                "responses": {
                    "200": json_response("Verdict (also for expired or reused challenges)",
                                         ref("Verdict")),
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
                        "total": {"type": "integer"}}}),
                    "401": problem_response("No or unknown token"),
                    "403": problem_response("Role not allowed")},
            }
        },
    },
    "components": {"schemas": _SCHEMAS},
}
