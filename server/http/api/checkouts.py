"""Desk endpoints: start a checkout from an affirming attestation, return it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.checkout import desk as checkout
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
from server.http.api.request_models import CheckoutPath, CheckoutQuery, NewCheckout
from server.idms import desk as idms_desk

blueprint = Blueprint("checkouts", __name__, url_prefix="/v1")


@blueprint.post("/checkouts")
@require_role("desk")
def start() -> tuple[dict[str, Any], int]:
    body = json_body(NewCheckout)
    view = idms_desk.start_checkout(service(), body.attestation_id, body.user,
                                    current_actor())
    return view.to_json(), 201


@blueprint.get("/checkouts")
@require_role("desk")
def listing() -> dict[str, Any]:
    args = query(CheckoutQuery)
    page = checkout.list_checkouts(service(), open_only=args.open == "true", imei=args.imei,
                                   offset=args.offset, limit=args.limit)
    return page_json(page, checkout.CheckoutView.to_json)


@blueprint.post("/checkouts/<checkout_id>/return")
@require_role("desk")
@path(CheckoutPath)
def give_back(checkout_id: int) -> dict[str, Any]:
    return idms_desk.return_checkout(service(), checkout_id, current_actor()).to_json()


@blueprint.get("/checkouts/<checkout_id>")
@require_role("desk")
@path(CheckoutPath)
def get(checkout_id: int) -> dict[str, Any]:
    return checkout.get_checkout(service(), checkout_id).to_json()


_ID = parameters(path=CheckoutPath)
_AUTH = {"401": problem_response("No or unknown token"),
         "403": problem_response("Role not allowed")}

OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/v1/checkouts": {
            "post": {
                "summary": "Check a handset out to a user from an affirming attestation",
                "operationId": "startCheckout", "security": BEARER,
                "requestBody": json_request(NewCheckout),
                "responses": {
                    "201": json_response("Checked out", ref("Checkout"), {
                        op: {"checkout_id": "$response.body#/id"}
                        for op in ("getCheckout", "returnCheckout")}), **_AUTH,
                    "404": problem_response("No such attestation, or (identity management "
                                            "enabled) no such MC user"),
                    "409": problem_response("Not affirming, too old, handset reported lost "
                                            "(handset-lost), MC user disabled, handset no "
                                            "longer "
                                            "paired with the attested card "
                                            "(pairing-changed), attestation already used, "
                                            "handset already checked out, or the card "
                                            "must pass pool verify first "
                                            "(card-not-verified)"),
                    "422": problem_response("Invalid user (identity management enabled: "
                                            "not an MC ID)")},
            },
            "get": {
                "summary": "Checkouts, newest first", "operationId": "listCheckouts",
                "security": BEARER,
                "parameters": parameters(query=CheckoutQuery),
                "responses": {"200": json_response("A page", page_of("Checkout")), **_AUTH,
                              "422": problem_response("A parameter is malformed (named in "
                                                      "errors)")},
            },
        },
        "/v1/checkouts/{checkout_id}": {
            "get": {
                "summary": "One checkout", "operationId": "getCheckout", "security": BEARER,
                "parameters": _ID,
                "responses": {"200": json_response("The checkout", ref("Checkout")), **_AUTH,
                              "404": problem_response("No such checkout")},
            }
        },
        "/v1/checkouts/{checkout_id}/return": {
            "post": {
                "summary": "Return a checked-out handset", "operationId": "returnCheckout",
                "security": BEARER, "parameters": _ID,
                "responses": {"200": json_response("Returned", ref("Checkout")), **_AUTH,
                              "404": problem_response("No such checkout"),
                              "409": problem_response("Already returned")},
            }
        },
    },
    "components": {"schemas": {"Checkout": {
        "type": "object",
        "required": ["id", "attestation_id", "imei", "user", "started_at", "started_by"],
        "properties": {
            "id": {"type": "integer"}, "attestation_id": {"type": "string"},
            "imei": {"type": "string"}, "iccid": {"type": ["string", "null"]},
            "user": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "started_by": {"type": "string"},
            "returned_at": {"type": ["string", "null"], "format": "date-time"},
            "returned_by": {"type": ["string", "null"]},
            "warnings": {"type": "array", "items": {"type": "string"}, "description":
                         "what the desk should know, e.g. a card never checked by pool "
                         "verify (the service's card-verification policy)"},
        }}}},
}
