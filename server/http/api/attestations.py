"""The desk's read access to attestations and alerts, and the OpenAPI description of
the device-facing attestation endpoints (served by ``server.http.api.device``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.attestation import views
from server.http.api.auth import require_role, service
from server.http.api.body import int_arg
from server.http.api.openapi import BEARER, json_request, json_response, problem_response, ref

blueprint = Blueprint("attestations", __name__, url_prefix="/v1")

_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


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
    return {"items": [a.to_json() for a in items], "total": views.count_alerts(svc)}


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
    "429": problem_response("Rate limit per IMEI or per client exceeded (Retry-After)"),
    "503": problem_response("Database unavailable; nothing was changed"),
}
_SCHEMAS: dict[str, Any] = {
    "ChallengeRequest": {
        "type": "object", "additionalProperties": False,
        "required": ["imei", "signed_at", "signature"],
        "description": "Signed with the handset's device key. Only a request the key "
                       "registered for the IMEI signed, at a time later than any of the "
                       "handset's requests taken before, counts against the handset's "
                       "per-IMEI limit and gets a challenge for its card; any other "
                       "(forged, replayed, unregistered IMEI) gets a decoy challenge, "
                       "answered alike.",
        "properties": {
            "imei": {"type": "string", "pattern": "^[0-9]{15}$",
                     "description": "IMEI with a valid Luhn check digit"},
            "signed_at": {"type": "integer", "description":
                          "the handset's clock, milliseconds since the Unix epoch; at most "
                          "120 s from the service's clock"},
            "signature": {"type": "string", "maxLength": 200, "description":
                          "base64url signature (as for evidence) over the canonical JSON "
                          "(keys sorted, no spaces, UTF-8) of {\"imei\": imei, "
                          "\"purpose\": \"simattest challenge request v1\", "
                          "\"signed_at\": signed_at}"},
        },
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
                "requestBody": json_request(ref("ChallengeRequest")),
                "responses": {"201": json_response("The challenge", ref("Challenge")),
                              **_DEVICE_ERRORS},
            }
        },
        "/v1/attestations/{attestation_id}/evidence": {
            "post": {
                "summary": "Submit signed evidence; get the verdict and EAR (device-facing)",
                "operationId": "submitEvidence", "parameters": [_ID],
                "requestBody": json_request(ref("EvidenceSubmission")),
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
                        "total": {"type": "integer"}}}),
                    "401": problem_response("No or unknown token"),
                    "403": problem_response("Role not allowed")},
            }
        },
    },
    "components": {"schemas": _SCHEMAS},
}
