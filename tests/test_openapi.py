"""``GET /openapi.json`` documents every JSON route of the app, and is well-formed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from server.core.service import Service
from server.http.api import device
from server.http.app import create_app

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The document does not depend on the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'openapi.db'}"


def _openapi_path(rule: str) -> str:
    # Flask "<conv:name>" / "<name>" → OpenAPI "{name}".
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _json_routes(app: Flask) -> set[tuple[str, str]]:
    """(path, method) of every route served by a module that documents itself, and of
    the device-facing routes served in front of Flask."""
    documented_blueprints = {
        module.blueprint.name for module in app.extensions["simattest_api_modules"]
        if getattr(module, "OPENAPI", None) is not None
    }
    routes = set(device.ROUTES)
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint not in documented_blueprints:
            continue
        for method in rule.methods or ():
            if method.lower() in HTTP_METHODS:
                routes.add((_openapi_path(rule.rule), method.lower()))
    return routes


def test_every_json_route_is_documented(service: Service) -> None:
    app = create_app(service)
    doc = app.test_client().get("/openapi.json").get_json()
    documented = {(path, method) for path, item in doc["paths"].items()
                  for method in item if method in HTTP_METHODS}
    routes = _json_routes(app)
    assert routes, "no JSON routes found"
    assert routes - documented == set(), "routes missing from /openapi.json"
    assert documented - routes == set(), "documented paths the app does not serve"


def test_non_json_blueprints_are_declared_as_such(service: Service) -> None:
    """Every registered blueprint's module says whether it is JSON API or HTML pages."""
    app = create_app(service)
    for module in app.extensions["simattest_api_modules"]:
        assert hasattr(module, "OPENAPI"), f"{module.__name__} must define OPENAPI"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_document_shape(service: Service) -> None:
    doc = create_app(service).test_client().get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        params_in_path = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            assert method in HTTP_METHODS, (path, method)
            assert operation["responses"], (path, method)
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", status), (path, status)
                assert response["description"], (path, status)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == params_in_path, (path, method)
            for scheme in operation.get("security", []):
                assert set(scheme) <= set(doc["components"]["securitySchemes"])
            operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids)), "operationId not unique"
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


# Values for path parameters: one well-formed (nothing by that name exists), one not.
_PATH_VALUES = {
    "imei": ("490154203237518", "12345"),
    "iccid": ("8949440000000000016", "89xx"),
    "attestation_id": ("0" * 32, "not-an-id"),
    "checkout_id": ("4711", "abc"),
    "mc_id": ("nobody", "no body"),
    "identity_id": ("4711", "abc"),
}


def _probes(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests a client gets wrong (or right) for ``operation``: test-client kwargs."""
    probes: list[dict[str, Any]] = [{}]
    if "requestBody" in operation:
        probes += [{"json": {}}, {"json": {"no-such-field": 1}}, {"json": [1]},
                   {"data": '{"imei": ', "content_type": "application/json"},
                   {"data": "imei=1", "content_type": "text/plain"},
                   {"data": "{" + " " * (65 << 20) + "}", "content_type": "application/json"}]
    for param in operation.get("parameters", []):
        if param["in"] == "query":
            probes += [{"query_string": {param["name"]: bad}} for bad in ("abc", "-1", "0")]
    return probes


def test_every_answer_is_documented(service: Service) -> None:
    """Each documented operation, called right and wrong with and without a token, answers
    only with statuses its entry lists — every error as problem+json."""
    from server.core import operators

    app = create_app(service)
    client = app.test_client()
    doc = client.get("/openapi.json").get_json()
    admin = {"Authorization": f"Bearer {operators.create_token(service, 'admin')}"}
    seen: set[tuple[str, str, int]] = set()
    for path, item in doc["paths"].items():
        names = re.findall(r"{([^}]+)}", path)
        for variant in range(2):
            url = path
            for name in names:
                url = url.replace(f"{{{name}}}", _PATH_VALUES[name][variant])
            for method, operation in item.items():
                documented = set(operation["responses"])
                for headers in ([admin, {}] if operation.get("security") else [{}]):
                    for probe in _probes(operation):
                        resp = client.open(url, method=method.upper(), headers=headers,
                                           **probe)
                        status = resp.status_code
                        seen.add((path, method, status))
                        assert str(status) in documented, (method, url, probe.keys(), status,
                                                           resp.get_data(as_text=True)[:200])
                        if status >= 400:
                            assert resp.mimetype == "application/problem+json", (url, status)
    # The probes reached the errors the implied responses are there for.
    statuses = {status for _path, _method, status in seen}
    assert {400, 401, 404, 413, 415, 422} <= statuses, statuses
