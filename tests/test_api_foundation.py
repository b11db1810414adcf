"""HTTP conventions of the service on both databases: problem+json for every error,
auth and roles, size limits, no key material anywhere, clean 503 without a database."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.core import operators
from server.core.config import ServiceConfig
from server.core.service import Service
from server.demo.batchgen import synth_cards, vendor_out_text
from server.http.app import create_app
from server.http.jsonlog import JsonFormatter
from tests.fixtures_db import PostgresServer
from tests.test_registry import IMEI_A, IMEI_B, public_pem

PROBLEM = "application/problem+json"
BASE = "https://simattest.dev/problems/"


@pytest.fixture
def app(service: Service) -> Flask:
    return create_app(service)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def tokens(service: Service) -> dict[str, dict[str, str]]:
    return {role: {"Authorization": f"Bearer {operators.create_token(service, role)}"}
            for role in operators.ROLES}


def _problem(resp, status: int, slug: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["type"] == BASE + slug and body["status"] == status and body["title"]
    return body


def test_healthz(client: FlaskClient, service: Service) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": service.db.dialect}


def test_routing_errors_are_problems(client: FlaskClient,
                                     tokens: dict[str, dict[str, str]]) -> None:
    body = _problem(client.get("/nowhere"), 404, "not-found")
    assert "/openapi.json" in body["detail"]
    resp = client.put("/v1/pairings", headers=tokens["admin"], json={})
    _problem(resp, 405, "method-not-allowed")
    assert "POST" in resp.headers["Allow"]
    _problem(client.get(f"/v1/handsets/{IMEI_A}", headers=tokens["desk"]), 404, "not-found")


def test_body_errors(client: FlaskClient, tokens: dict[str, dict[str, str]]) -> None:
    h = tokens["provisioner"]
    _problem(client.post("/v1/handsets", headers=h, data="imei=1",
                         content_type="text/plain"), 415, "unsupported-media-type")
    body = _problem(client.post("/v1/handsets", headers=h, data='{"imei": ',
                                content_type="application/json"), 400, "malformed-json")
    assert "line 1" in body["detail"]
    body = _problem(client.post("/v1/handsets", headers=h, json=[1, 2]), 422,
                    "validation-error")
    body = _problem(client.post("/v1/handsets", headers=h,
                                json={"imei": 490154203237518, "public_key": "x"}),
                    422, "validation-error")
    assert body["errors"] == [{"field": "imei", "reason": "expected string"}]
    body = _problem(client.post("/v1/handsets", headers=h, json={
        "imei": IMEI_A, "public_key": public_pem(), "colour": "red"}), 422, "validation-error")
    assert body["errors"] == [{"field": "colour", "reason": "unknown field"}]
    body = _problem(client.post("/v1/handsets", headers=h, json={"public_key": "x"}),
                    422, "validation-error")
    assert body["errors"][0]["field"] == "imei"
    body = _problem(client.post("/v1/handsets", headers=h, json={
        "imei": "490154203237519", "public_key": public_pem()}), 422, "validation-error")
    assert body["errors"][0]["field"] == "imei" and "Luhn" in body["detail"]
    body = _problem(client.post("/v1/pairings", headers=h, json={
        "imei": IMEI_A, "iccid": "8949440000000000000"}), 422, "validation-error")
    assert body["errors"][0]["field"] == "iccid"
    _problem(client.get("/v1/cards?limit=abc", headers=h), 422, "validation-error")


def test_huge_body_is_413(client: FlaskClient, tokens: dict[str, dict[str, str]],
                          service: Service) -> None:
    huge = b'{"imei": "' + b"1" * (service.config.max_body_bytes + 10) + b'"}'
    body = _problem(client.post("/v1/handsets", headers=tokens["admin"], data=huge,
                                content_type="application/json"), 413, "body-too-large")
    assert body["detail"] == f"the body may be at most {service.config.max_body_bytes} bytes"


def _deep(levels: int, inner: str = "1") -> str:
    return '{"a":' * levels + inner + "}" * levels


@pytest.mark.parametrize("path", ["/v1/attestations", "/v1/pairings",
                                  "/v1/attestations/x/evidence"])
@pytest.mark.parametrize("levels", [5000, 100])
def test_deeply_nested_body_is_400(client: FlaskClient, tokens: dict[str, dict[str, str]],
                                   caplog: pytest.LogCaptureFixture, path: str,
                                   levels: int) -> None:
    # 5000 levels are past the decoder's own limit (1,024); 100 decode, deeper than any
    # request.
    caplog.set_level(logging.INFO)
    body = _problem(client.post(path, headers=tokens["admin"], data=_deep(levels),
                                content_type="application/json"), 400, "malformed-json")
    assert "nested too deeply" in body["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("path", ["/v1/attestations", "/v1/pairings"])
def test_body_is_utf8_json_a_byte_order_mark_allowed(
        client: FlaskClient, tokens: dict[str, dict[str, str]], path: str) -> None:
    # RFC 8259 clause 8.1: a leading UTF-8 byte order mark is ignored; the body is then
    # read (here: refused for its unknown member, which means it was decoded).
    body = _problem(client.post(path, headers=tokens["admin"],
                                data=b"\xef\xbb\xbf" + b'{"colour": 1}',
                                content_type="application/json"), 422, "validation-error")
    assert {"field": "colour", "reason": "unknown field"} in body["errors"]
    # JSON between systems is UTF-8 (clause 8.1): UTF-16 is not read as JSON.
    body = _problem(client.post(path, headers=tokens["admin"],
                                data='{"colour": 1}'.encode("utf-16"),
                                content_type="application/json"), 400, "malformed-json")
    assert body["detail"] == "the body is not UTF-8 (byte 0)"


@pytest.mark.parametrize(("body", "too_deep"), [
    (_deep(33), True), (_deep(32), False),  # the limit is 32 levels
    # many brackets, none nested deeper than 3 levels: past the depth check
    ('{"a": [' + ",".join(["[{}]"] * 40) + "]}", False),
    # brackets inside strings count for nothing
    ('{"a": "' + "[{" * 40 + '"}', False),
])
def test_depth_limit_counts_levels_not_brackets(
        client: FlaskClient, tokens: dict[str, dict[str, str]], body: str,
        too_deep: bool) -> None:
    answer = _problem(client.post("/v1/pairings", headers=tokens["admin"], data=body,
                                  content_type="application/json"),
                      400 if too_deep else 422, "malformed-json" if too_deep
                      else "validation-error")
    assert ("nested too deeply" in answer["detail"]) is too_deep


def test_deeply_nested_evidence_field_is_400(client: FlaskClient) -> None:
    evidence = '{"evidence": {"ust": ' + "[" * 500 + "]" * 500 + '}, "signature": "x"}'
    body = _problem(client.post("/v1/attestations/x/evidence", data=evidence,
                                content_type="application/json"), 400, "malformed-json")
    assert "nested too deeply" in body["detail"]


def test_problem_responses_carry_one_content_type(
        client: FlaskClient, tokens: dict[str, dict[str, str]], service: Service) -> None:
    huge = b"x" * (service.config.max_body_bytes + 10)
    answers = [
        client.post("/v1/pairings", headers=tokens["admin"], data=huge,
                    content_type="application/json"),
        client.post("/v1/attestations", data=huge, content_type="application/json"),
        client.post("/v1/attestations/x/evidence", data=huge, content_type="application/json"),
        client.get("/v1/attestations"),
        client.put("/v1/pairings", headers=tokens["admin"], json={}),
        client.post("/v1/pairings", json={}),
        client.post("/v1/pairings", headers=tokens["admin"], data="x", content_type="text/plain"),
        client.post("/v1/attestations", data="x", content_type="text/plain"),
        client.get("/nowhere"),
    ]
    for resp in answers:
        assert resp.status_code >= 400
        assert resp.headers.getlist("Content-Type") == [PROBLEM], resp.status_code
        assert len(resp.headers.getlist("Content-Length")) == 1


def test_bad_label_is_422_naming_it(client: FlaskClient,
                                    tokens: dict[str, dict[str, str]]) -> None:
    for label in ("x" * 5000, "unit\x1b]0;owned\x07"):
        body = _problem(client.post("/v1/handsets", headers=tokens["provisioner"], json={
            "imei": IMEI_A, "public_key": public_pem(), "label": label}), 422, "validation-error")
        assert body["errors"][0]["field"] == "label"
    resp = client.post("/v1/handsets", headers=tokens["provisioner"],
                       json={"imei": IMEI_A, "public_key": public_pem()})
    assert resp.status_code == 201 and resp.get_json()["label"] == ""


def test_authentication_and_roles(client: FlaskClient,
                                  tokens: dict[str, dict[str, str]]) -> None:
    resp = client.get("/v1/handsets")
    _problem(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    _problem(client.get("/v1/handsets", headers={"Authorization": "Bearer sat_nope"}),
             401, "unauthorized")
    _problem(client.post("/v1/handsets", headers=tokens["desk"],
                         json={"imei": IMEI_A, "public_key": public_pem()}), 403, "forbidden")
    for role in ("desk", "provisioner", "admin"):
        assert client.get("/v1/handsets", headers=tokens[role]).status_code == 200


def test_registry_flow_and_conflicts(client: FlaskClient,
                                     tokens: dict[str, dict[str, str]]) -> None:
    h = tokens["provisioner"]
    cards = synth_cards(2)
    resp = client.post("/v1/pool/imports", headers=h, json={
        "filename": "b.out", "content": vendor_out_text(cards)})
    assert resp.status_code == 201 and resp.get_json()["imported"] == 2
    for imei in (IMEI_A, IMEI_B):
        resp = client.post("/v1/handsets", headers=h,
                           json={"imei": imei, "public_key": public_pem(), "label": "x"})
        assert resp.status_code == 201
    _problem(client.post("/v1/handsets", headers=h,
                         json={"imei": IMEI_A, "public_key": public_pem()}), 409,
             "already-exists")
    resp = client.post("/v1/pairings", headers=h, json={"imei": IMEI_A, "iccid": cards[0].iccid})
    assert resp.status_code == 201 and resp.get_json()["active"] is True
    body = _problem(client.post("/v1/pairings", headers=h,
                                json={"imei": IMEI_B, "iccid": cards[0].iccid}),
                    409, "pairing-conflict")
    assert IMEI_A in body["detail"]
    detail = client.get(f"/v1/cards/{cards[0].iccid}", headers=tokens["desk"]).get_json()
    assert detail["pairing"]["imei"] == IMEI_A
    resp = client.delete(f"/v1/handsets/{IMEI_A}/pairing", headers=h)
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    _problem(client.delete(f"/v1/handsets/{IMEI_A}/pairing", headers=h), 404, "not-found")
    history = client.get(f"/v1/handsets/{IMEI_A}/pairings", headers=h).get_json()["items"]
    assert [p["iccid"] for p in history] == [cards[0].iccid]


def test_rejected_import_lists_rows(client: FlaskClient,
                                    tokens: dict[str, dict[str, str]]) -> None:
    text = "ICCID,IMSI,KI,OPC\n89494400000000000005,00101000000000A," + "00" * 16 + ",11\n"
    body = _problem(client.post("/v1/pool/imports", headers=tokens["provisioner"], json={
        "filename": "x.csv", "content": text}), 422, "import-rejected")
    assert body["errors"] == [{"line": 2, "field": "IMSI", "reason": "IMSI must be 6 to 15 digits"}]
    body = _problem(client.post("/v1/pool/imports", headers=tokens["provisioner"], json={
        "filename": "x.csv", "content": text, "transport_key": "abc"}), 422, "validation-error")
    assert body["errors"][0]["field"] == "transport_key"


def test_no_key_material_in_any_answer_or_log(
        client: FlaskClient, tokens: dict[str, dict[str, str]],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    transport_key = bytes(range(16))
    cards = synth_cards(3)
    secrets = [v for c in cards for v in (c.k, c.opc)] + [transport_key]
    answers = []
    h = tokens["admin"]
    content = vendor_out_text(cards, transport_key)
    answers.append(client.post("/v1/pool/imports", headers=h, json={
        "filename": "b.out", "content": content, "transport_key": transport_key.hex()}))
    answers.append(client.post("/v1/pool/imports", headers=h, json={  # again: nothing to do
        "filename": "b.out", "content": content, "transport_key": transport_key.hex()}))
    answers.append(client.get("/v1/cards", headers=h))
    answers += [client.get(f"/v1/cards/{c.iccid}", headers=h) for c in cards]
    answers.append(client.get("/openapi.json"))
    seen = "\n".join(a.get_data(as_text=True) for a in answers)
    seen += "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert answers[0].status_code == 201 and answers[1].status_code == 409
    assert answers[1].get_json()["type"].endswith("/already-in-pool")
    for secret in secrets:
        assert secret.hex() not in seen and secret.hex().upper() not in seen


def test_one_structured_access_line_per_request(client: FlaskClient,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="simattest.access")
    client.get("/healthz?token=secret-in-query")
    (record,) = [r for r in caplog.records if r.name == "simattest.access"]
    line = json.loads(JsonFormatter().format(record))
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["duration_ms"] >= 0 and line["client"] == "127.0.0.1"
    assert "secret-in-query" not in json.dumps(line)


def test_log_line_writes_any_value_as_json() -> None:
    # Whatever a log call is given, its line is one JSON object: values JSON has no type
    # for as their str(), and values the fast encoder refuses (an integer beyond 64 bits,
    # a file name with an undecodable byte) still written.
    when = dt.datetime(2026, 11, 23, 1, 2, 3, tzinfo=dt.UTC)
    record = logging.makeLogRecord({
        "name": "simattest.test", "levelname": "INFO", "msg": "imported %s", "args": ("ü",),
        "where": Path("/data/batch.out"), "when": when, "counts": {1: 2}})
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["where"], line["when"], line["counts"]) == (
        "imported ü", "/data/batch.out", str(when), {"1": 2})
    record.big, record.name_bytes = 2 ** 70, "batch-\udcff.out"
    line = json.loads(JsonFormatter().format(record))
    assert (line["big"], line["name_bytes"]) == (2 ** 70, "batch-\udcff.out")


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""
    server = PostgresServer.create()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def test_database_going_away_is_a_clean_503(own_postgres: PostgresServer,
                                            tmp_path: Path) -> None:
    svc = Service.open(tmp_path / "data", own_postgres.url())
    try:
        headers = {"Authorization": f"Bearer {operators.create_token(svc, 'admin')}"}
        client = create_app(svc).test_client()
        assert client.get("/healthz").status_code == 200
        own_postgres.stop()
        _problem(client.get("/healthz"), 503, "database-unavailable")
        resp = client.post("/v1/handsets", headers=headers,
                           json={"imei": IMEI_A, "public_key": public_pem()})
        body = _problem(resp, 503, "database-unavailable")
        assert "nothing was changed" in body["detail"]
        assert int(resp.headers["Retry-After"]) > 0
        own_postgres.start()
        assert client.get("/healthz").status_code == 200
        _problem(client.get(f"/v1/handsets/{IMEI_A}", headers=headers), 404, "not-found")
    finally:
        svc.close()


def test_import_endpoint_has_its_own_larger_limit(
        service: Service, db_url: str, client: FlaskClient,
        tokens: dict[str, dict[str, str]]) -> None:
    banner = "*" * (service.config.max_body_bytes + 4096) + "\n"  # a long vendor comment
    content = banner + vendor_out_text(synth_cards(2))
    resp = client.post("/v1/pool/imports", headers=tokens["provisioner"],
                       json={"filename": "big.out", "content": content})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    small = ServiceConfig(max_import_bytes=service.config.max_body_bytes)
    with Service.open(service.data_dir.path, db_url, small) as strict:
        body = _problem(create_app(strict).test_client().post(
            "/v1/pool/imports", headers=tokens["provisioner"],
            json={"filename": "big.out", "content": content}), 413, "body-too-large")
    assert str(small.max_import_bytes) in body["detail"]
