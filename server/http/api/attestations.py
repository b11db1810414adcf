"""The desk's read access to attestations and alerts, and the OpenAPI description of
the device-facing attestation endpoints (served by ``server.http.api.device``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from attest.reasons import REASONS
from server.attestation import alerts as alert_acks
from server.attestation import views
from server.http.api.auth import current_actor, require_role, service
from server.http.api.body import Field, int_arg, json_body
from server.http.api.openapi import (
    BEARER,
    PAGING,
    json_request,
    json_response,
    page_of,
    problem_response,
    ref,
)
from server.http.api.problems import validation
from server.http.api.registry import page_json
from server.pool.registry import MAX_PAGE

blueprint = Blueprint("attestations", __name__, url_prefix="/v1")

_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


@blueprint.get("/attestations")
@require_role("desk")
def listing() -> dict[str, Any]:
    status = request.args.get("status")
    if status is not None and status not in views.STATUS_FILTERS:
        raise validation("status", f"must be one of {', '.join(views.STATUS_FILTERS)}")
    page = views.list_attestations(service(), imei=request.args.get("imei"), status=status,
                                   offset=int_arg("offset", 0),
                                   limit=int_arg("limit", 50, 1, MAX_PAGE))
    return page_json(page, views.AttestationView.to_json)


@blueprint.get("/attestations/<attestation_id>")
@require_role("desk")
def get(attestation_id: str) -> dict[str, Any]:
    return views.get_attestation(service(), attestation_id).to_json()


@blueprint.get("/handsets/<imei>/attestation")
@require_role("desk")
def latest(imei: str) -> dict[str, Any]:
    return views.latest_attestation(service(), imei).to_json()


@blueprint.get("/alerts")
@require_role("desk")
def alerts() -> dict[str, Any]:
    svc = service()
    items = views.alerts(svc, offset=int_arg("offset", 0),
                               limit=int_arg("limit", 50, 1, 500))
    return {"items": [a.to_json() for a in items], "total": views.count_alerts(svc),
            "unacknowledged": views.count_alerts(svc, unacknowledged=True)}


@blueprint.post("/alerts/<attestation_id>/acknowledgement")
@require_role("desk", "provisioner")
def acknowledge(attestation_id: str) -> tuple[dict[str, Any], int]:
    body = json_body({"note": Field(str)})
    ack = alert_acks.acknowledge(service(), attestation_id[:64], body["note"], current_actor())
    return ack.to_json(), 201


# --- OpenAPI --------------------------------------------------------------------------

_HEX = {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$"}
_SERVICES = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 1024}}
_ID = {"name": "attestation_id", "in": "path", "required": True,
       "schema": {"type": "string", "pattern": _ID_PATTERN}}
_DEVICE_ERRORS = {
    "400": problem_response("Malformed JSON"),
    "413": problem_response("Body too large"),
    "415": problem_response("Not application/json"),
    "422": problem_response("A field is missing, unknown or malformed (named in errors)"),
    "403": problem_response("The service asks for device certificates (serve --client-ca) "
                            "and the request came without the named handset's"),
    "429": problem_response("Rate limit per IMEI or per client exceeded (Retry-After)"),
    "503": problem_response("Database unavailable; nothing was changed"),
}
_SCHEMAS: dict[str, Any] = {
    "Reason": {
        "enum": list(REASONS),
        "description": "Why a verdict is not affirming (simattest explain CODE):\n\n"
                       + "\n".join(f"- `{r.code}`: {r.meaning}. Next: {r.next_step}."
                                    for r in REASONS.values()),
    },
    "ChallengeRequest": {
        "type": "object", "additionalProperties": False, "required": ["imei"],
        "properties": {"imei": {"type": "string", "pattern": "^[0-9]{15}$",
                                "description": "IMEI with a valid Luhn check digit"}},
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
    "Outcome": {
        "oneOf": [
            {"type": "object", "additionalProperties": False,
             "required": ["outcome", "res"],
             "properties": {"outcome": {"const": "success"},
                            "res": {**_HEX, "minLength": 8, "maxLength": 32}}},
            {"type": "object", "additionalProperties": False,
             "required": ["outcome", "auts"],
             "properties": {"outcome": {"const": "sync_failure"},
                            "auts": {**_HEX, "minLength": 28, "maxLength": 28}}},
            {"type": "object", "additionalProperties": False, "required": ["outcome"],
             "properties": {"outcome": {"const": "mac_failure"}}},
        ],
    },
    "Evidence": {
        "type": "object", "additionalProperties": False,
        "description": "Signed by the device key over its canonical JSON (keys sorted, "
                       "no spaces, UTF-8).",
        "required": ["attestation_id", "nonce", "imei", "imeisv", "iccid", "imsi",
                     "mnc_length", "ust", "prose", "isim", "outcome"],
        "properties": {
            "attestation_id": {"type": "string", "pattern": _ID_PATTERN},
            "nonce": {"type": "string"},
            "imei": {"type": "string", "pattern": "^[0-9]{15}$"},
            "imeisv": {"type": ["string", "null"], "pattern": "^[0-9]{16}$"},
            "iccid": {"type": "string", "pattern": "^[0-9]{18,20}$"},
            "imsi": {"type": "string", "pattern": "^[0-9]{6,15}$"},
            "mnc_length": {"enum": [2, 3, None]},
            "ust": {**_SERVICES, "description": "EF.UST services present, ascending"},
            "prose": {"type": "boolean", "description": "DF.ProSe (5F90) present"},
            "isim": {"oneOf": [{"type": "null"}, {
                "type": "object", "additionalProperties": False,
                "required": ["impi", "impu", "ist"],
                "properties": {"impi": {"type": ["string", "null"]},
                               "impu": {"type": "array", "items": {"type": "string"}},
                               "ist": _SERVICES}}]},
            "outcome": ref("Outcome"),
        },
    },
    "EvidenceSubmission": {
        "type": "object", "additionalProperties": False, "required": ["evidence", "signature"],
        "properties": {
            "evidence": ref("Evidence"),
            "signature": {"type": "string", "description":
                          "base64url: Ed25519 (64 bytes) or ECDSA P-256/SHA-256 "
                          "(DER or 64-byte r||s)"},
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
                "requestBody": json_request(ref("ChallengeRequest")),
                "responses": {"201": json_response("The challenge", ref("Challenge")),
                              **_DEVICE_ERRORS},
            },
            "get": {
                "summary": "Attestations, newest first (desk)", "security": BEARER,
                "operationId": "listAttestations",
                "parameters": [
                    *PAGING[1:],
                    {"name": "imei", "in": "query", "schema": {"type": "string"},
                     "description": "only this handset's"},
                    {"name": "status", "in": "query",
                     "schema": {"enum": list(views.STATUS_FILTERS)},
                     "description": "only this verdict (none: not appraised)"}],
                "responses": {"200": json_response("A page", page_of("Attestation")),
                              "401": problem_response("No or unknown token"),
                              "403": problem_response("Role not allowed"),
                              "422": problem_response("Invalid IMEI or status")},
            },
        },
        "/v1/attestations/{attestation_id}/evidence": {
            "post": {
                "summary": "Submit signed evidence; get the verdict and EAR (device-facing)",
                "operationId": "submitEvidence", "parameters": [_ID],
                "requestBody": json_request(ref("EvidenceSubmission")),
                "responses": {
                    "200": json_response("Verdict (also for expired or reused challenges)",
                                         ref("Verdict")),
                    "404": problem_response("No such challenge"), **_DEVICE_ERRORS},
            }
        },
        "/v1/attestations/{attestation_id}": {
            "get": {
                "summary": "One attestation with its verdict and EAR", "security": BEARER,
                "operationId": "getAttestation", "parameters": [_ID],
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
                "parameters": [{"name": "imei", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9]{15}$"}}],
                "responses": {"200": json_response("The attestation", ref("Attestation")),
                              "404": problem_response("Unknown handset, or none appraised "
                                                      "yet")},
            }
        },
        "/v1/alerts": {
            "get": {
                "summary": "Contraindicated attestations, newest first", "security": BEARER,
                "operationId": "listAlerts",
                "parameters": [
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
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
                "security": BEARER, "operationId": "acknowledgeAlert", "parameters": [_ID],
                "requestBody": json_request({
                    "type": "object", "additionalProperties": False, "required": ["note"],
                    "properties": {"note": {
                        "type": "string", "minLength": 1,
                        "maxLength": alert_acks.MAX_NOTE_CHARS,
                        "description": "why the alert needs no further action"}}}),
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
