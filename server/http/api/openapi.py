"""``GET /openapi.json``: the OpenAPI 3.1 document, assembled from the API modules.

Every module in ``server.http.app.BLUEPRINTS`` that serves JSON defines ``OPENAPI`` — a dict
with ``paths`` (OpenAPI path items, Flask ``<name>`` written as ``{name}``) and
optionally ``components`` (``schemas`` of answers).  What a request may hold is never
written by hand: ``json_request(Model)`` and ``parameters(path=..., query=...)`` take the
``server.http.api.request_models`` the handlers validate with, and their JSON Schema
becomes the document's.  Modules serving HTML pages set ``OPENAPI = None``; their routes
are not part of the JSON API.  A test walks the app's URL map and fails when a JSON route
is missing here.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from pydantic.json_schema import models_json_schema

from server.http.api.problems import MEDIA_TYPE, PROBLEM_BASE
from server.http.api.request_models import FORMATS, ParameterModel, RequestModel

blueprint = Blueprint("openapi", __name__)

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response object for a problem+json error."""
    return {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}


def json_response(description: str, schema: dict[str, Any],
                  links: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """An OpenAPI response object; ``links`` maps an operationId to its parameters taken
    from this answer (``{"imei": "$response.body#/imei"}``), the next step a client may
    take (schemathesis's stateful phase follows them)."""
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": schema}}}
    if links:
        response["links"] = {op: {"operationId": op, "parameters": params}
                             for op, params in links.items()}
    return response


_REF_TEMPLATE = "#/components/schemas/{model}"
# The request models the document names, by name; their schemas go into components.
_REQUEST_MODELS: dict[str, type[RequestModel]] = {}


def json_request(model: type[RequestModel]) -> dict[str, Any]:
    """An OpenAPI request body: ``model``'s JSON Schema, the one the handler validates with."""
    _REQUEST_MODELS[model.__name__] = model
    return {"required": True, "content": {"application/json": {"schema": ref(model.__name__)}}}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the ``null`` an optional field allows (an absent
    parameter is how a request leaves it out)."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
    return {k: v for k, v in schema.items() if k != "title"}


def parameters(*, path: type[ParameterModel] | None = None,
               query: type[ParameterModel] | None = None) -> list[dict[str, Any]]:
    """OpenAPI parameter objects for the path and query models a handler validates with."""
    found = []
    for where, model in (("path", path), ("query", query)):
        if model is None:
            continue
        schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
        required = set(schema.get("required", ()))
        found += [{"name": name, "in": where, "required": where == "path" or name in required,
                   "schema": _without_null(prop)}
                  for name, prop in schema["properties"].items()]
    return found


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

# Query parameters of the list endpoints.
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
# a JSON body (server.http.api.body), parameters, a bearer token (server.http.api.auth),
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
# Answered by the HTTP server (gunicorn) before the request reaches the service, as HTML.
_SERVER_ERRORS = {
    "414": "Request line longer than the HTTP server reads (4094 bytes)",
    "431": "Request header fields larger than the HTTP server reads",
}


def _server_response(description: str) -> dict[str, Any]:
    return {"description": description + "; answered by the HTTP server, text/html",
            "content": {"text/html": {"schema": {"type": "string"}}}}


def _with_implied_responses(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    implied: dict[str, str] = {}
    if "requestBody" in operation:
        implied |= _BODY_ERRORS
    if operation.get("parameters"):
        implied |= _PARAMETER_ERRORS
    if operation.get("security"):
        implied |= _AUTH_ERRORS
    if path.startswith("/v1/"):
        implied |= _DATABASE_ERRORS
    responses = {status: _server_response(text) for status, text in _SERVER_ERRORS.items()}
    responses |= {status: problem_response(text) for status, text in implied.items()}
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
    _, generated = models_json_schema(
        [(m, "validation") for _, m in sorted(_REQUEST_MODELS.items())],
        ref_template=_REF_TEMPLATE)
    components["schemas"].update(generated.get("$defs", {}))
    formats = "\n".join(f"- `{name}`: {meaning}" for name, meaning in FORMATS.items())
    return {
        "openapi": "3.1.0",
        "info": {"title": "simattest", "version": version,
                 "description": "Handset–SIM attestation for public-safety pools.\n\n"
                                "Request bodies are read strictly: an integer is written "
                                "without a fraction or exponent (5, not 5.0), a string is "
                                "never taken for a number nor a number for a string, and "
                                "an object names each member once.\n\n"
                                "Formats beyond JSON Schema's own:\n" + formats},
        "x-formats": FORMATS,
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
