"""Identity management endpoints: the MC user directory (admin changes it, the desk reads
it to choose whom a checkout goes to) and a handset's lost-or-stolen state (desk)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

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
    CheckoutPath,
    Disabling,
    ImeiPath,
    LostReport,
    McUserPath,
    McUserQuery,
    NewMcUser,
    NewPassword,
    SignInPath,
)
from server.idms import desk, users

blueprint = Blueprint("idms", __name__, url_prefix="/v1")


@blueprint.post("/mc-users")
@require_role("admin")
def add_user() -> tuple[dict[str, Any], int]:
    body = json_body(NewMcUser)
    user, uri = users.add_user(
        service(), mc_id=body.mc_id, mcptt_id=body.mcptt_id, display_name=body.display_name,
        password=body.password, actor=current_actor(), agency=body.agency,
        mcvideo_id=body.mcvideo_id, mcdata_id=body.mcdata_id, totp=body.totp)
    return {**user.to_json(), **({"totp_uri": uri} if uri else {})}, 201


@blueprint.get("/mc-users")
@require_role("desk")
def list_users() -> dict[str, Any]:
    args = query(McUserQuery)
    page = users.list_users(service(), search=args.search,
                            enabled=None if args.enabled is None else args.enabled == "true",
                            offset=args.offset, limit=args.limit)
    return page_json(page, users.McUserView.to_json)


@blueprint.get("/mc-users/<mc_id>")
@require_role("desk")
@path(McUserPath)
def get_user(mc_id: str) -> dict[str, Any]:
    return users.get_user(service(), mc_id).to_json()


@blueprint.post("/mc-users/<mc_id>/disable")
@require_role("admin")
@path(McUserPath)
def disable_user(mc_id: str) -> dict[str, Any]:
    body = json_body(Disabling)
    return users.disable_user(service(), mc_id, actor=current_actor(),
                              reason=body.reason).to_json()


@blueprint.post("/mc-users/<mc_id>/enable")
@require_role("admin")
@path(McUserPath)
def enable_user(mc_id: str) -> dict[str, Any]:
    return users.enable_user(service(), mc_id, actor=current_actor()).to_json()


@blueprint.post("/mc-users/<mc_id>/password")
@require_role("admin")
@path(McUserPath)
def reset_password(mc_id: str) -> dict[str, Any]:
    body = json_body(NewPassword)
    return users.reset_password(service(), mc_id, body.password,
                                actor=current_actor()).to_json()


@blueprint.post("/mc-users/<mc_id>/totp")
@require_role("admin")
@path(McUserPath)
def set_totp(mc_id: str) -> dict[str, Any]:
    user, uri = users.set_totp(service(), mc_id, actor=current_actor())
    return {**user.to_json(), "totp_uri": uri}


@blueprint.delete("/mc-users/<mc_id>/totp")
@require_role("admin")
@path(McUserPath)
def clear_totp(mc_id: str) -> dict[str, Any]:
    return users.clear_totp(service(), mc_id, actor=current_actor()).to_json()


@blueprint.post("/handsets/<imei>/lost")
@require_role("desk")
@path(ImeiPath)
def report_lost(imei: str) -> dict[str, Any]:
    body = json_body(LostReport)
    return desk.report_lost(service(), imei, actor=current_actor(), note=body.note)


@blueprint.post("/handsets/<imei>/found")
@require_role("desk")
@path(ImeiPath)
def clear_lost(imei: str) -> dict[str, Any]:
    body = json_body(LostReport)
    return desk.clear_lost(service(), imei, actor=current_actor(), note=body.note)


@blueprint.get("/checkouts/<checkout_id>/sign-ins")
@require_role("desk")
@path(CheckoutPath)
def sign_ins(checkout_id: int) -> dict[str, Any]:
    return {"items": [s.to_json() for s in desk.sign_ins(service(), checkout_id)]}


@blueprint.post("/sign-ins/<identity_id>/end")
@require_role("admin")
@path(SignInPath)
def end_sign_in(identity_id: int) -> dict[str, Any]:
    return desk.end_sign_in(service(), identity_id, actor=current_actor()).to_json()


_AUTH = {"401": problem_response("No or unknown token"),
         "403": problem_response("Role not allowed")}
_USER = parameters(path=McUserPath)
_NOT_FOUND = {"404": problem_response("No such MC user")}


def _change(summary: str, operation: str, body: Any = None) -> dict[str, Any]:
    return {"post": {
        "summary": summary, "operationId": operation, "security": BEARER,
        "parameters": _USER, **({"requestBody": json_request(body)} if body else {}),
        "responses": {"200": json_response("The MC user", ref("McUser")), **_AUTH,
                      **_NOT_FOUND, "422": problem_response("A field is malformed")}}}


def _lost(summary: str, operation: str, conflict: str | None) -> dict[str, Any]:
    return {"post": {
        "summary": summary, "operationId": operation, "security": BEARER,
        "parameters": parameters(path=ImeiPath), "requestBody": json_request(LostReport),
        "responses": {"200": json_response("The handset", {"type": "object"}), **_AUTH,
                      "404": problem_response("Handset not registered"),
                      **({"409": problem_response(conflict)} if conflict else {})}}}


OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/v1/mc-users": {
            "post": {
                "summary": "Add an MC user to the directory", "operationId": "addMcUser",
                "security": BEARER, "requestBody": json_request(NewMcUser),
                "responses": {
                    "201": json_response("Added (with totp_uri, once, when asked)",
                                         ref("McUser"), {
                        "getMcUser": {"mc_id": "$response.body#/mc_id"}}), **_AUTH,
                    "409": problem_response("MC ID, MCPTT ID, MCVideo ID or MCData ID "
                                            "already another user's (named in errors)"),
                    "422": problem_response("A field is malformed")},
            },
            "get": {
                "summary": "MC users by MC ID", "operationId": "listMcUsers",
                "security": BEARER, "parameters": parameters(query=McUserQuery),
                "responses": {"200": json_response("A page", page_of("McUser")), **_AUTH,
                              "422": problem_response("A parameter is malformed")},
            },
        },
        "/v1/mc-users/{mc_id}": {"get": {
            "summary": "One MC user", "operationId": "getMcUser", "security": BEARER,
            "parameters": _USER,
            "responses": {"200": json_response("The MC user", ref("McUser")), **_AUTH,
                          **_NOT_FOUND}}},
        "/v1/mc-users/{mc_id}/disable": _change(
            "Disable an MC user: no sign-in, their identities end now", "disableMcUser",
            Disabling),
        "/v1/mc-users/{mc_id}/enable": _change("Enable an MC user", "enableMcUser"),
        "/v1/mc-users/{mc_id}/password": _change(
            "Set a new password (the old one stops working)", "resetMcUserPassword",
            NewPassword),
        "/v1/mc-users/{mc_id}/totp": {
            "post": {**_change("Enrol a new TOTP second factor (its provisioning URI "
                               "in totp_uri, once)", "setMcUserTotp")["post"]},
            "delete": {**_change("Remove the TOTP second factor",
                                 "clearMcUserTotp")["post"]},
        },
        "/v1/checkouts/{checkout_id}/sign-ins": {"get": {
            "summary": "Who signed in on a checkout: MC user, when, IMPU2 and the mapping "
                       "(IMPI1, IMPI2, aliases), newest first",
            "operationId": "listCheckoutSignIns", "security": BEARER,
            "parameters": parameters(path=CheckoutPath),
            "responses": {"200": json_response("The sign-ins", {
                "type": "object", "properties": {"items": {
                    "type": "array", "items": ref("SignIn")}}}), **_AUTH,
                "404": problem_response("No such checkout")}}},
        "/v1/sign-ins/{identity_id}/end": {"post": {
            "summary": "End a sign-in: its MCPTT identities end now",
            "operationId": "endSignIn", "security": BEARER,
            "parameters": parameters(path=SignInPath),
            "responses": {"200": json_response("The sign-in, ended", ref("SignIn")),
                          **_AUTH, "404": problem_response("No such sign-in")}}},
        "/v1/handsets/{imei}/lost": _lost(
            "Report a handset lost or stolen: no checkout until cleared, its MC "
            "identities end now", "reportHandsetLost", None),
        "/v1/handsets/{imei}/found": _lost(
            "Clear a handset's lost/stolen report", "clearHandsetLost",
            "The handset is not reported lost"),
    },
    "components": {"schemas": {"SignIn": {
        "type": "object",
        "required": ["id", "checkout_id", "mc_id", "impu2", "valid"],
        "properties": {
            "id": {"type": "integer"}, "checkout_id": {"type": "integer"},
            "mc_id": {"type": "string"}, "mcptt_id": {"type": "string"},
            "imei": {"type": "string"}, "iccid": {"type": "string"},
            "impi1": {"type": "string"}, "impi2": {"type": "string"},
            "impu2": {"type": "string"},
            "aliases": {"type": "array", "items": {"type": "string"}},
            "instance_id": {"type": "string"},
            "allocated_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "end_reason": {"type": ["string", "null"], "description":
                           "why the identities are not valid (derived on every read)"},
            "valid": {"type": "boolean"},
        }}, "McUser": {
        "type": "object",
        "required": ["mc_id", "mcptt_id", "display_name", "agency", "enabled", "totp"],
        "properties": {
            "mc_id": {"type": "string"}, "mcptt_id": {"type": "string"},
            "mcvideo_id": {"type": ["string", "null"]},
            "mcdata_id": {"type": ["string", "null"]},
            "display_name": {"type": "string"}, "agency": {"type": "string"},
            "enabled": {"type": "boolean"},
            "totp": {"type": "boolean", "description": "a TOTP second factor is enrolled"},
            "totp_uri": {"type": "string", "description": "otpauth:// provisioning URI, "
                         "only in the answer that enrolled it"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        }}}},
}
