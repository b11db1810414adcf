"""``GET /.well-known/jwks.json``: the keys a relying party verifies EARs with (RFC 7517)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from server.http.api.auth import service
from server.http.api.openapi import json_response

blueprint = Blueprint("wellknown", __name__)


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(service().signer.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/.well-known/jwks.json": {
            "get": {
                "summary": "EAR verification keys (JWKS; pick by the token's kid)",
                "operationId": "getJwks",
                "responses": {"200": json_response("JWK Set", {
                    "type": "object", "required": ["keys"],
                    "properties": {"keys": {"type": "array", "items": {"type": "object"}}}})},
            }
        }
    }
}
