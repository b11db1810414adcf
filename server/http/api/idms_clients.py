"""The IdMS's registered OpenID Connect clients (admin): native MC clients on the
handsets and the MCPTT server's service client (``server.idms.oidc``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.http.api.auth import current_actor, require_role, service
from server.http.api.body import json_body, path
from server.http.api.openapi import (
    BEARER,
    json_request,
    json_response,
    parameters,
    problem_response,
    ref,
)
from server.http.api.request_models import IdmsClientPath, NewNativeClient, NewServiceClient
from server.idms import oidc

blueprint = Blueprint("idms_clients", __name__, url_prefix="/v1/idms")


@blueprint.post("/native-clients")
@require_role("admin")
def add_native() -> tuple[dict[str, Any], int]:
    body = json_body(NewNativeClient)
    view, _secret = oidc.add_client(service(), body.client_id, "native", body.name,
                                    list(body.redirect_uris), list(body.scopes),
                                    current_actor())
    return view.to_json(), 201


@blueprint.post("/service-clients")
@require_role("admin")
def add_service() -> tuple[dict[str, Any], int]:
    body = json_body(NewServiceClient)
    view, secret = oidc.add_client(service(), body.client_id, "service", body.name, [],
                                   [oidc.LOOKUP_SCOPE], current_actor(),
                                   certificate_sha256=body.certificate_sha256)
    return view.to_json() | ({"client_secret": secret} if secret else {}), 201


@blueprint.get("/clients")
@require_role("admin")
def listing() -> dict[str, Any]:
    return {"items": [c.to_json() for c in oidc.list_clients(service())]}


@blueprint.delete("/clients/<client_id>")
@require_role("admin")
@path(IdmsClientPath)
def remove(client_id: str) -> dict[str, Any]:
    oidc.remove_client(service(), client_id, current_actor())
    return {"client_id": client_id, "removed": True}


_AUTH = {"401": problem_response("No or unknown token"),
         "403": problem_response("Role not allowed")}


def _add(summary: str, operation: str, model: Any) -> dict[str, Any]:
    return {"post": {
        "summary": summary, "operationId": operation, "security": BEARER,
        "requestBody": json_request(model),
        "responses": {"201": json_response("Registered", ref("IdmsClient"), {
            "removeIdmsClient": {"client_id": "$response.body#/client_id"}}), **_AUTH,
            "409": problem_response("The client id is registered already"),
            "422": problem_response("A field is malformed")}}}


OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/v1/idms/native-clients": _add(
            "Register a native MC client (public, PKCE S256, tokens bound to the handset's "
            "device certificate)", "addIdmsNativeClient", NewNativeClient),
        "/v1/idms/service-clients": _add(
            "Register the MCPTT server's look-up client (its client_secret in the answer, "
            "once, unless it authenticates with a TLS certificate)", "addIdmsServiceClient",
            NewServiceClient),
        "/v1/idms/clients": {"get": {
            "summary": "The registered clients (never secrets)", "operationId":
            "listIdmsClients", "security": BEARER,
            "responses": {"200": json_response("All of them", {
                "type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": ref("IdmsClient")}}}), **_AUTH}}},
        "/v1/idms/clients/{client_id}": {"delete": {
            "summary": "Remove a client: its codes go, its sign-ins end",
            "operationId": "removeIdmsClient", "security": BEARER,
            "parameters": parameters(path=IdmsClientPath),
            "responses": {"200": json_response("Removed", {"type": "object"}), **_AUTH,
                          "404": problem_response("No such client"),
                          "422": problem_response("A parameter is malformed")}}},
    },
    "components": {"schemas": {"IdmsClient": {
        "type": "object",
        "required": ["client_id", "kind", "name", "redirect_uris", "scopes", "has_secret",
                     "created_at", "created_by"],
        "properties": {
            "client_id": {"type": "string"}, "kind": {"enum": ["native", "service"]},
            "name": {"type": "string"},
            "redirect_uris": {"type": "array", "items": {"type": "string"}},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "certificate_sha256": {"type": ["string", "null"]},
            "has_secret": {"type": "boolean"},
            "client_secret": {"type": "string", "description": "only in the answer to "
                              "registering a service client, once"},
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"}}}}},
}
