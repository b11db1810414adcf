"""``GET /openapi.json``: the OpenAPI 3.1 document, assembled from the API modules.

Every module in ``server.http.app.BLUEPRINTS`` that serves JSON defines ``OPENAPI`` — a dict
with ``paths`` (OpenAPI path items, Flask ``<name>`` written as ``{name}``) and
optionally ``components`` (``schemas``).  Modules serving HTML pages set
``OPENAPI = None``; their routes are not part of the JSON API.  A test walks the app's
URL map and fails when a JSON route is missing here.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from server.http.api.problems import MEDIA_TYPE, PROBLEM_BASE
from server.pool.registry import MAX_PAGE

blueprint = Blueprint("openapi", __name__)

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response object for a problem+json error."""
    return {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def json_request(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

# Query parameters of the list endpoints.
PAGING: list[dict[str, Any]] = [
    {"name": "search", "in": "query", "schema": {"type": "string"}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                 "maximum": MAX_PAGE}},
]


def page_of(schema: str) -> dict[str, Any]:
    """A list endpoint's answer: one page of ``schema`` items and the total."""
    return {"type": "object", "properties": {
        "items": {"type": "array", "items": ref(schema)}, "total": {"type": "integer"},
        "offset": {"type": "integer"}, "limit": {"type": "integer"}}}

_BASE_COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Problem": {
            "type": "object",
            "description": f"RFC 9457 problem details; type is {PROBLEM_BASE}<slug>",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}


# Statuses that every operation of a kind can answer with, whatever its module lists:
# a JSON body (server.http.api.body), query parameters, a bearer token (server.http.api.auth),
# the database behind /v1/ (server.http.api.problems.database_unavailable).
_BODY_ERRORS = {
    "400": "Malformed JSON",
    "413": "Body too large (the limit is in detail)",
    "415": "Not application/json",
    "422": "A field is missing, unknown or malformed (named in errors)",
}
_PARAMETER_ERRORS = {"422": "A parameter is malformed (named in errors)"}
_AUTH_ERRORS = {"401": "No or unknown token", "403": "Role not allowed"}
_DATABASE_ERRORS = {"503": "Database unavailable; nothing was changed (Retry-After)"}


def _with_implied_responses(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    implied: dict[str, str] = {}
    if "requestBody" in operation:
        implied |= _BODY_ERRORS
    # Query parameters, and path parameters that are strings (an IMEI, an ICCID), are
    # checked by the view; an integer path parameter that is not one matches no route.
    if any(p["in"] == "query" or p.get("schema", {}).get("type") == "string"
           for p in operation.get("parameters", [])):
        implied |= _PARAMETER_ERRORS
    if operation.get("security"):
        implied |= _AUTH_ERRORS
    if path.startswith("/v1/"):
        implied |= _DATABASE_ERRORS
    responses = {status: problem_response(text) for status, text in implied.items()}
    responses.update(operation["responses"])  # a module's own words win
    return {**operation, "responses": dict(sorted(responses.items()))}


def build_document(modules: list[ModuleType], version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {k: dict(v) for k, v in _BASE_COMPONENTS.items()}
    for module in modules:
        spec = getattr(module, "OPENAPI", None)
        if spec is None:
            continue
        for path, item in spec["paths"].items():
            paths.setdefault(path, {}).update(
                {method: _with_implied_responses(path, operation)
                 for method, operation in item.items()})
        for kind, entries in spec.get("components", {}).items():
            components.setdefault(kind, {}).update(entries)
    return {
        "openapi": "3.1.0",
        "info": {"title": "simattest", "version": version,
                 "description": "Handset–SIM attestation for public-safety pools"},
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(current_app.extensions["simattest_openapi"])


OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/openapi.json": {
            "get": {
                "summary": "This OpenAPI document",
                "operationId": "getOpenapi",
                "responses": {"200": json_response("The document", {"type": "object"})},
            }
        }
    }
}
