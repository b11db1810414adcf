"""Registry endpoints: handsets, cards (no key material, ever), pairings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.core.errors import NotFound
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
from server.http.api.request_models import (
    CardQuery,
    HandsetQuery,
    IccidPath,
    ImeiPath,
    NewAttestedHandset,
    NewHandset,
    NewPairing,
    NewRegistrationNonce,
)
from server.pool import attested, registry

blueprint = Blueprint("registry", __name__, url_prefix="/v1")

READERS = ("provisioner", "desk")


def page_json(page: registry.Page, render: Any) -> dict[str, Any]:
    """A page as the list endpoints answer it (``openapi.page_of``)."""
    return {"items": [render(x) for x in page.items], "total": page.total,
            "offset": page.offset, "limit": page.limit}


@blueprint.post("/handsets")
@require_role("provisioner")
def add_handset() -> tuple[dict[str, Any], int]:
    body = json_body(NewHandset)
    handset = registry.add_handset(
        service(), body.imei, body.public_key, actor=current_actor(),
        imeisv=body.imeisv, label=body.label)
    return registry.handset_json(handset), 201


@blueprint.post("/registration-nonces")
@require_role("provisioner")
def registration_nonce() -> tuple[dict[str, Any], int]:
    body = json_body(NewRegistrationNonce)
    return attested.issue_registration_nonce(service(), body.imei,
                                             actor=current_actor()).to_json(), 201


@blueprint.post("/registrations")
@require_role("provisioner")
def add_attested_handset() -> tuple[dict[str, Any], int]:
    body = json_body(NewAttestedHandset)
    handset = attested.add_attested_handset(
        service(), body.imei, body.attestation, body.nonce, actor=current_actor(),
        imeisv=body.imeisv, label=body.label)
    return registry.handset_json(handset), 201


@blueprint.get("/handsets")
@require_role(*READERS)
def list_handsets() -> dict[str, Any]:
    args = query(HandsetQuery)
    page = registry.list_handsets(service(), search=args.search, offset=args.offset,
                                  limit=args.limit, key_kind=args.key_kind)
    return page_json(page, registry.handset_json)


@blueprint.get("/handsets/<imei>")
@require_role(*READERS)
@path(ImeiPath)
def get_handset(imei: str) -> dict[str, Any]:
    svc = service()
    handset = registry.get_handset(svc, imei)
    if handset is None:
        raise NotFound(f"handset {imei} is not registered")
    pairing = registry.active_pairing_for_imei(svc, imei)
    return {**registry.handset_json(handset),
            "pairing": None if pairing is None else registry.pairing_json(pairing)}


@blueprint.get("/handsets/<imei>/pairings")
@require_role(*READERS)
@path(ImeiPath)
def pairing_history(imei: str) -> dict[str, Any]:
    svc = service()
    if registry.get_handset(svc, imei) is None:
        raise NotFound(f"handset {imei} is not registered")
    return {"items": [registry.pairing_json(p) for p in registry.pairing_history(svc, imei)]}


@blueprint.delete("/handsets/<imei>/pairing")
@require_role("provisioner")
@path(ImeiPath)
def unpair(imei: str) -> dict[str, Any]:
    return registry.pairing_json(registry.unpair(service(), imei, actor=current_actor()))


@blueprint.post("/pairings")
@require_role("provisioner")
def pair() -> tuple[dict[str, Any], int]:
    body = json_body(NewPairing)
    pairing = registry.pair(service(), body.imei, body.iccid, actor=current_actor())
    return registry.pairing_json(pairing), 201


@blueprint.get("/cards")
@require_role(*READERS)
def list_cards() -> dict[str, Any]:
    args = query(CardQuery)
    page = registry.list_cards(service(), search=args.search, verification=args.verification,
                               offset=args.offset, limit=args.limit)
    return page_json(page, registry.card_json)


@blueprint.get("/cards/<iccid>")
@require_role(*READERS)
@path(IccidPath)
def get_card(iccid: str) -> dict[str, Any]:
    svc = service()
    card = registry.get_card(svc, iccid)
    if card is None:
        raise NotFound(f"card {iccid} is not in the pool")
    pairing = registry.active_pairing_for_iccid(svc, iccid)
    return {**registry.card_json(card),
            "pairing": None if pairing is None else registry.pairing_json(pairing)}


@blueprint.delete("/cards/<iccid>")
@require_role("provisioner")
@path(IccidPath)
def remove_card(iccid: str) -> dict[str, Any]:
    return registry.card_json(registry.remove_card(service(), iccid, actor=current_actor()))


# --- OpenAPI --------------------------------------------------------------------------

_ERRORS = {"401": problem_response("No or unknown token"),
           "403": problem_response("Role not allowed")}


_IMEI = parameters(path=ImeiPath)
_ICCID = parameters(path=IccidPath)

OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/v1/handsets": {
            "post": {
                "summary": "Register a handset and its device public key",
                "operationId": "addHandset", "security": BEARER,
                "requestBody": json_request(NewHandset),
                "responses": {"201": json_response("Registered", ref("Handset"), {
                    op: {"imei": "$response.body#/imei"}
                    for op in ("getHandset", "pairingHistory")}), **_ERRORS,
                              "409": problem_response("IMEI already registered"),
                              "422": problem_response("Invalid IMEI, IMEISV or key")},
            },
            "get": {
                "summary": "List handsets", "operationId": "listHandsets", "security": BEARER,
                "parameters": parameters(query=HandsetQuery),
                "responses": {"200": json_response("A page", page_of("Handset")), **_ERRORS},
            },
        },
        "/v1/registration-nonces": {
            "post": {
                "summary": "A single-use registration nonce for registering a handset from "
                           "its Android key attestation (the attestationChallenge)",
                "operationId": "createRegistrationNonce", "security": BEARER,
                "requestBody": json_request(NewRegistrationNonce),
                "responses": {"201": json_response("The nonce", ref("RegistrationNonce")),
                              **_ERRORS, "422": problem_response("Invalid IMEI")},
            },
        },
        "/v1/registrations": {
            "post": {
                "summary": "Register a handset from its Android key attestation: the "
                           "attested key becomes its device key",
                "operationId": "addAttestedHandset", "security": BEARER,
                "requestBody": json_request(NewAttestedHandset),
                "responses": {"201": json_response("Registered", ref("Handset"), {
                    op: {"imei": "$response.body#/imei"}
                    for op in ("getHandset", "pairingHistory")}), **_ERRORS,
                    "404": problem_response("The nonce is not one the service issued"),
                    "409": problem_response("IMEI or key already registered, or the nonce "
                                            "used or expired"),
                    "422": problem_response("The attestation does not verify, does not "
                                            "carry the nonce, names another IMEI, or shows "
                                            "what the device policy refuses (the detail "
                                            "names the reason code and field)")},
            },
        },
        "/v1/handsets/{imei}": {
            "get": {
                "summary": "One handset with its active pairing", "operationId": "getHandset",
                "security": BEARER, "parameters": _IMEI,
                "responses": {"200": json_response("The handset", ref("Handset")), **_ERRORS,
                              "404": problem_response("Unknown handset")},
            }
        },
        "/v1/handsets/{imei}/pairings": {
            "get": {
                "summary": "Pairing history, newest first", "operationId": "pairingHistory",
                "security": BEARER, "parameters": _IMEI,
                "responses": {"200": json_response("History", {"type": "object", "properties": {
                    "items": {"type": "array", "items": ref("Pairing")}}}), **_ERRORS,
                    "404": problem_response("Unknown handset")},
            }
        },
        "/v1/handsets/{imei}/pairing": {
            "delete": {
                "summary": "End the handset's active pairing", "operationId": "unpair",
                "security": BEARER, "parameters": _IMEI,
                "responses": {"200": json_response("The ended pairing", ref("Pairing")),
                              **_ERRORS, "404": problem_response("No active pairing"),
                              "409": problem_response("Handset checked out "
                                                      "(already-checked-out)")},
            }
        },
        "/v1/pairings": {
            "post": {
                "summary": "Pair a handset with a card", "operationId": "pair",
                "security": BEARER,
                "requestBody": json_request(NewPairing),
                "responses": {"201": json_response("Paired", ref("Pairing"), {
                    "getHandset": {"imei": "$response.body#/imei"},
                    "getCard": {"iccid": "$response.body#/iccid"},
                    "unpair": {"imei": "$response.body#/imei"}}), **_ERRORS,
                              "404": problem_response("Unknown handset or card"),
                              "409": problem_response("Either side already paired "
                                                      "(pairing-conflict), or the handset "
                                                      "checked out (already-checked-out)")},
            }
        },
        "/v1/cards": {
            "get": {
                "summary": "List pooled cards (never key material)", "operationId": "listCards",
                "security": BEARER,
                "parameters": parameters(query=CardQuery),
                "responses": {"200": json_response("A page", page_of("Card")), **_ERRORS},
            }
        },
        "/v1/cards/{iccid}": {
            "get": {
                "summary": "One card with its active pairing", "operationId": "getCard",
                "security": BEARER, "parameters": _ICCID,
                "responses": {"200": json_response("The card", ref("Card")), **_ERRORS,
                              "404": problem_response("Unknown card")},
            },
            "delete": {
                "summary": "Take a never-used card out of the pool (e.g. imported under a "
                           "wrong transport key, to import it again)",
                "operationId": "removeCard", "security": BEARER, "parameters": _ICCID,
                "responses": {"200": json_response("The removed card", ref("Card")),
                              **_ERRORS, "404": problem_response("Unknown card"),
                              "409": problem_response("The card was paired or challenged: "
                                                      "its record stays (conflict)")},
            },
        },
    },
    "components": {"schemas": {
        "Handset": {"type": "object", "properties": {
            "imei": {"type": "string"}, "imeisv": {"type": ["string", "null"]},
            "label": {"type": "string"}, "key_algorithm": {"enum": ["ed25519", "ecdsa-p256"]},
            "public_key": {"type": "string"}, "created_at": {"type": "string"},
            "key_kind": {"enum": ["software", "tee", "strongbox"],
                         "description": "where the device key lives: software (a bare "
                                        "public key) or attested in the TEE/StrongBox"},
            "attestation": {"oneOf": [ref("HandsetAttestation"), {"type": "null"}]},
            "pairing": {"oneOf": [ref("Pairing"), {"type": "null"}]}}},
        "HandsetAttestation": {"type": "object", "description": (
            "what the handset's registration attestation showed (Android KeyDescription)"),
            "properties": {
            "security_level": {"enum": ["software", "tee", "strongbox"]},
            "attestation_version": {"type": "integer"}, "keymint_version": {"type": "integer"},
            "device_locked": {"type": "boolean"},
            "verified_boot_state": {"enum": ["verified", "self-signed", "unverified",
                                             "failed"]},
            "verified_boot_key": {"type": "string"},
            "verified_boot_hash": {"type": ["string", "null"]},
            "os_version": {"type": ["integer", "null"]},
            "os_patch_level": {"type": ["integer", "null"]},
            "vendor_patch_level": {"type": ["integer", "null"]},
            "boot_patch_level": {"type": ["integer", "null"]},
            "attested_imei": {"type": ["string", "null"]},
            "attested_second_imei": {"type": ["string", "null"]},
            "application_id": {"type": ["object", "null"]},
            "device_ids": {"type": ["object", "null"]},
            "root": {"type": "string"}, "chain_sha256": {"type": "string"},
            "policy_id": {"type": "string"},
            "findings": {"type": "array", "items": {"type": "string"}},
            "registered_at": {"type": "string"}}},
        "RegistrationNonce": {"type": "object", "properties": {
            "imei": {"type": "string"},
            "nonce": {"type": "string", "description": "base64url; its 32 bytes are the "
                      "attestationChallenge (setAttestationChallenge)"},
            "expires_at": {"type": "string"}}},
        "Card": {"type": "object", "properties": {
            "iccid": {"type": "string"}, "imsi": {"type": "string"},
            "profile": {"type": ["string", "null"]}, "algorithm": {"type": "string"},
            "impi": {"type": ["string", "null"]}, "impu": {"type": ["string", "null"]},
            "batch": {"type": "string"}, "imported_at": {"type": "string"},
            "verification": {"enum": list(registry.VERIFICATION_STATES)},
            "verified_at": {"type": ["string", "null"]},
            "verification_reason": {"type": ["string", "null"]}}},
        "Pairing": {"type": "object", "properties": {
            "id": {"type": "integer"}, "imei": {"type": "string"}, "iccid": {"type": "string"},
            "created_at": {"type": "string"}, "ended_at": {"type": ["string", "null"]},
            "active": {"type": "boolean"}}},
    }},
}
