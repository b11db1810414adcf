"""Every class of bad input the attack on the service found, on both databases: each
answers 4xx problem+json naming the field (or a row error naming line and column), and
nothing is stored.  (PostgreSQL is where a NUL byte or an out-of-range integer used to
reach the database and answer 500.)"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from server.core import operators
from server.core.errors import ValidationError
from server.core.service import Service
from server.http.app import create_app
from server.pool import provisioning
from server.store.models import AuditEntry, Card, Checkout, Handset, Operator, Pairing
from tests.fixtures_attestation import make_imei
from tests.fixtures_db import PostgresServer
from tests.schemathesis_hooks import luhn_complete
from tests.test_registry import IMEI_A, public_pem

PROBLEM = "application/problem+json"
# A Luhn-valid 19-digit ICCID and a 15-digit IMSI.
ICCID = "8949440000000000016"
IMSI = "001010000000001"
KEY = "00112233445566778899aabbccddeeff"


# Cards and handsets a test stores get numbers no other test uses: the module shares
# one database per kind (a fresh PostgreSQL database per test would cost minutes).
_serials = itertools.count(1)


def fresh_card() -> tuple[str, str]:
    """(ICCID, IMSI) of a card no test has imported yet."""
    n = next(_serials)
    return luhn_complete(f"894944777{n:09d}"), f"00101777{n:07d}"


def fresh_imei() -> str:
    return make_imei(500_000 + next(_serials))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Service]:
    """One service per database kind for the whole module."""
    data: Path = tmp_path_factory.mktemp("bad-input")
    if request.param == "sqlite":
        with Service.open(data / "data", f"sqlite:///{data / 'test.db'}") as svc:
            yield svc
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        with Service.open(data / "data", server.url(name)) as svc:
            yield svc
    finally:
        server.drop_database(name)


@pytest.fixture(scope="module")
def app(service: Service) -> Flask:
    return create_app(service)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def admin(service: Service) -> dict[str, str]:
    return {"Authorization": f"Bearer {operators.create_token(service, 'admin')}"}


def _counts(service: Service) -> dict[str, int]:
    with service.db.read_session() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Handset, Card, Pairing, Checkout, AuditEntry, Operator)}


@pytest.fixture
def unchanged(service: Service, admin: dict[str, str]) -> Iterator[None]:
    """The test's requests store nothing: every table has as many rows after as before."""
    before = _counts(service)
    yield
    assert _counts(service) == before


def refused(resp: TestResponse, field: str, status: int = 422) -> dict[str, Any]:
    """The answer is ``status`` problem+json whose errors name ``field``."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert field in {e.get("field") for e in body.get("errors", [])}, body
    return body


def _csv(*rows: str) -> str:
    return "\n".join(["ICCID,IMSI,KI,OPC,IMPI", *rows]) + "\n"


def _good_row(impi: str = "") -> str:
    return f"{ICCID},{IMSI},{KEY},{KEY},{impi}"


# --- NUL and other control characters where text is stored --------------------------

@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("path", "field"), [
    ("/v1/attestations/%00/evidence", "attestation_id"),   # unauthenticated
    ("/v1/attestations/%00", "attestation_id"),
    ("/v1/handsets/%00", "imei"),
    ("/v1/cards/%00", "iccid"),
    ("/v1/handsets?search=%00", "search"),
    ("/v1/cards?search=a%07b", "search"),
])
def test_nul_in_path_or_query(client: FlaskClient, admin: dict[str, str], path: str,
                              field: str) -> None:
    method = client.post if path.endswith("/evidence") else client.get
    refused(method(path, headers=admin, json={}), field)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/handsets", {"imei": IMEI_A, "public_key": public_pem(), "label": "a\x00b"}, "label"),
    ("/v1/handsets", {"imei": IMEI_A, "public_key": public_pem(), "label": "a\nb"}, "label"),
    ("/v1/handsets", {"imei": IMEI_A, "public_key": public_pem() + "\x00"}, "public_key"),
    ("/v1/checkouts", {"attestation_id": "a" * 32, "user": "Ann\x00"}, "user"),
    ("/v1/checkouts", {"attestation_id": "\x00", "user": "Ann"}, "attestation_id"),
    ("/v1/pool/imports", {"filename": "b\x00.csv", "content": _csv(_good_row())}, "filename"),
    ("/v1/attestations", {"imei": "49015420323751\x00"}, "imei"),
])
def test_nul_in_json_strings(client: FlaskClient, admin: dict[str, str], path: str,
                             body: dict[str, Any], field: str) -> None:
    refused(client.post(path, headers=admin, json=body), field)


@pytest.mark.usefixtures("unchanged")
def test_nul_in_a_vendor_file_is_a_row_error(client: FlaskClient, admin: dict[str, str]) -> None:
    body = refused(client.post("/v1/pool/imports", headers=admin, json={
        "filename": "b.csv", "content": _csv(_good_row("sip\x00@x"))}), "IMPI")
    assert body["errors"] == [{"line": 2, "field": "IMPI", "reason": body["errors"][0]["reason"]}]


# --- integers bounded to their columns; ASCII digits only -----------------------------

@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("path", "field"), [
    ("/v1/checkouts/2147483648", "checkout_id"),
    ("/v1/checkouts/99999999999999999999999", "checkout_id"),
    ("/v1/checkouts/0", "checkout_id"),
    ("/v1/checkouts/-1", "checkout_id"),
    ("/v1/checkouts/%EF%BC%93%EF%BC%95%EF%BC%96", "checkout_id"),  # full-width ３５６
    ("/v1/checkouts/%C2%B2", "checkout_id"),  # ²: str.isdigit() is true, int() fails
    ("/v1/handsets?offset=2147483648", "offset"),
    ("/v1/handsets?limit=%EF%BC%95", "limit"),
    ("/v1/alerts?limit=%C2%B2", "limit"),
    ("/v1/cards?limit=5.0", "limit"),
    ("/v1/cards?limit=+5", "limit"),
    ("/v1/handsets/%EF%BC%94%EF%BC%99%EF%BC%90154203237518", "imei"),
])
def test_integers_and_digits(client: FlaskClient, admin: dict[str, str], path: str,
                             field: str) -> None:
    refused(client.get(path, headers=admin), field)


def test_largest_checkout_id_is_simply_not_found(client: FlaskClient,
                                                 admin: dict[str, str]) -> None:
    resp = client.get("/v1/checkouts/2147483647", headers=admin)
    assert resp.status_code == 404 and resp.mimetype == PROBLEM


# --- string lengths bounded to their columns ------------------------------------------

@pytest.mark.usefixtures("unchanged")
def test_import_file_name_longer_than_the_audit_subject_holds(
        client: FlaskClient, admin: dict[str, str]) -> None:
    body = refused(client.post("/v1/pool/imports", headers=admin, json={
        "filename": "f" * 195 + ".csv", "content": _csv(_good_row())}), "filename")
    assert str(provisioning.MAX_FILENAME_CHARS) in body["errors"][0]["reason"]


def test_import_file_name_of_the_longest_length_is_stored(
        client: FlaskClient, admin: dict[str, str], service: Service) -> None:
    name = "f" * (provisioning.MAX_FILENAME_CHARS - 4) + ".csv"
    iccid, imsi = fresh_card()
    resp = client.post("/v1/pool/imports", headers=admin, json={
        "filename": name, "content": _csv(f"{iccid},{imsi},{KEY},{KEY},")})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    with service.db.read_session() as session:
        assert session.scalar(select(Card.batch).where(Card.iccid == iccid)) == name
        assert session.scalar(select(func.count()).where(
            AuditEntry.subject == f"batch:{name}")) == 1


@pytest.mark.usefixtures("unchanged")
def test_impi_longer_than_its_column_is_a_row_error(
        client: FlaskClient, admin: dict[str, str]) -> None:
    body = refused(client.post("/v1/pool/imports", headers=admin, json={
        "filename": "b.csv", "content": _csv(_good_row("i" * 300))}), "IMPI")
    assert body["errors"][0]["line"] == 2


def test_operator_label_of_200_characters_audits_fine(
        client: FlaskClient, service: Service) -> None:
    label = "L" * 200
    token = operators.create_token(service, "provisioner", label)
    imei = fresh_imei()
    resp = client.post("/v1/handsets", headers={"Authorization": f"Bearer {token}"},
                       json={"imei": imei, "public_key": public_pem()})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    with service.db.read_session() as session:
        actor = session.scalar(select(AuditEntry.actor).where(
            AuditEntry.action == "handset.add", AuditEntry.subject == f"imei:{imei}"))
    assert actor is not None and actor.startswith("operator:") and len(actor) == 200


@pytest.mark.parametrize("label", ["L" * 201, "tab\there", "nul\x00"])
def test_operator_label_too_long_or_not_printable_is_refused(
        service: Service, label: str) -> None:
    before = _counts(service)
    with pytest.raises(ValidationError) as info:
        operators.create_token(service, "desk", label)
    assert info.value.field == "label"
    assert _counts(service) == before


# --- the vendor-file parser: every malformed row is a row error -----------------------

@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("content", "field"), [
    (",,,", "file"),
    (",,,\n,,,\n", "file"),
    ("ICCID,ICCID,KI,OPC\n1,2,3,4\n", "file"),
    ("ICCID,,KI,OPC\n1,2,3,4\n", "file"),
    ('"ICCID,IMSI,KI,OPC\n', "file"),
])
def test_malformed_vendor_file(client: FlaskClient, admin: dict[str, str], content: str,
                               field: str) -> None:
    refused(client.post("/v1/pool/imports", headers=admin,
                        json={"filename": "b.csv", "content": content}), field)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("row", "line"), [
    (f'"{ICCID},{IMSI},{KEY},{KEY},', 3),                     # a quote never closed
    (f'{ICCID},"{IMSI}"x,{KEY},{KEY},', 3),                   # text after a closing quote
    (f"{ICCID},{IMSI},{KEY},{KEY},{'x' * 200_000}", 3),       # past the CSV field limit
    (f"{ICCID},{IMSI},{KEY}", 3),                             # too few values
])
def test_malformed_vendor_rows_are_row_errors(client: FlaskClient, admin: dict[str, str],
                                              row: str, line: int) -> None:
    other = f"8949440000000000024,001010000000002,{KEY},{KEY},"
    body = refused(client.post("/v1/pool/imports", headers=admin, json={
        "filename": "b.csv", "content": _csv(other, row)}), "line")
    assert [e["line"] for e in body["errors"]] == [line]


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n", "mixed"])
def test_any_line_endings_and_a_byte_order_mark(client: FlaskClient, admin: dict[str, str],
                                                ending: str) -> None:
    (iccid1, imsi1), (iccid2, imsi2) = fresh_card(), fresh_card()
    rows = ["\ufeffICCID,IMSI,KI,OPC", f"{iccid1},{imsi1},{KEY},{KEY}",
            f"{iccid2},{imsi2},{KEY},{KEY}", ",,,", ""]
    if ending == "mixed":
        content = rows[0] + "\r" + rows[1] + "\r\n" + rows[2] + "\n" + rows[3] + "\r"
    else:
        content = ending.join(rows)
    resp = client.post("/v1/pool/imports", headers=admin,
                       json={"filename": "b.csv", "content": content})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert (resp.get_json()["imported"], resp.get_json()["rejected"]) == (2, [])


# --- repeated parameters, duplicate keys, strict types -------------------------------

@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("path", "field"), [
    ("/v1/handsets?limit=&limit=5", "limit"),
    ("/v1/cards?verification=failed&verification=verified", "verification"),
    ("/v1/alerts?offset=1&offset=1", "offset"),
])
def test_repeated_query_parameter(client: FlaskClient, admin: dict[str, str], path: str,
                                  field: str) -> None:
    refused(client.get(path, headers=admin), field)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("path", "raw", "field"), [
    ("/v1/pairings", f'{{"imei": "{IMEI_A}", "iccid": "{ICCID}", "imei": "{IMEI_A}"}}',
     "imei"),
    ("/v1/attestations", f'{{"imei": "{IMEI_A}", "imei": "356938035643809"}}', "imei"),
    ("/v1/attestations/x/evidence", '{"evidence": {"a": 1, "a": 2}, "signature": ""}', "a"),
])
def test_duplicate_json_keys(client: FlaskClient, admin: dict[str, str], path: str,
                             raw: str, field: str) -> None:
    refused(client.post(path, headers=admin, data=raw, content_type="application/json"),
            field)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/handsets", {"imei": int(IMEI_A), "public_key": public_pem()}, "imei"),
    ("/v1/pool/imports", {"filename": "b.csv", "content": _csv(_good_row()),
                          "partial": "true"}, "partial"),
    ("/v1/pool/imports", {"filename": "b.csv", "content": _csv(_good_row()),
                          "partial": 1}, "partial"),
    ("/v1/pool/imports", {"filename": 7, "content": _csv(_good_row())}, "filename"),
    ("/v1/checkouts", {"attestation_id": 5, "user": "Ann"}, "attestation_id"),
])
def test_strict_json_types(client: FlaskClient, admin: dict[str, str], path: str,
                           body: dict[str, Any], field: str) -> None:
    refused(client.post(path, headers=admin, json=body), field)


def _evidence(**changes: Any) -> dict[str, Any]:
    doc = {"attestation_id": "a", "nonce": "n", "imei": IMEI_A, "imeisv": None,
           "iccid": ICCID, "imsi": IMSI, "mnc_length": 2, "ust": [1, 2], "prose": False,
           "isim": None, "outcome": {"outcome": "mac_failure"}}
    return {"evidence": {**doc, **changes}, "signature": "AAAA"}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("changes", "field"), [
    ({"mnc_length": 2.0}, "evidence.mnc_length"),
    ({"mnc_length": "2"}, "evidence.mnc_length"),
    ({"ust": [1, 2.0]}, "evidence.ust[1]"),
    ({"ust": ["1"]}, "evidence.ust[0]"),
    ({"prose": 0}, "evidence.prose"),
    ({"imei": 490154203237518}, "evidence.imei"),
])
def test_strict_types_on_the_device_endpoint(client: FlaskClient, changes: dict[str, Any],
                                             field: str) -> None:
    refused(client.post("/v1/attestations/a/evidence", json=_evidence(**changes)), field)


# --- Content-Type parameters ------------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    "application/json; charset=utf-8", "application/json;charset=UTF-8",
    'application/json; charset="utf-8"', "Application/JSON", "application/json; foo=bar",
    "application/json;;", "application/problem+json",
])
@pytest.mark.parametrize("path", ["/v1/attestations", "/v1/pairings"])
def test_content_type_parameters_that_are_fine(client: FlaskClient, admin: dict[str, str],
                                               content_type: str, path: str) -> None:
    # Read as JSON: refused for the unknown member, which means it was decoded.
    refused(client.post(path, headers={**admin, "Content-Type": content_type},
                        data=b'{"colour": 1}'), "colour")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("content_type", [
    "application/json; charset=latin-1", "application/json; charset=utf-16",
    "text/json", "application/jsonx", "application/x-www-form-urlencoded", "",
    "application/json\x00",
])
@pytest.mark.parametrize("path", ["/v1/attestations", "/v1/pairings"])
def test_content_type_refused(client: FlaskClient, admin: dict[str, str], content_type: str,
                              path: str) -> None:
    resp = client.post(path, headers={**admin, "Content-Type": content_type},
                       data=json.dumps({"imei": IMEI_A}).encode())
    assert resp.status_code == 415 and resp.mimetype == PROBLEM, resp.get_data(as_text=True)


# --- the desk: the same rules for its query, path and form values -----------------------

@pytest.fixture(scope="module")
def desk(app: Flask, service: Service) -> FlaskClient:
    """A test client signed in to the desk as admin."""
    client = app.test_client()
    token = operators.create_token(service, "admin", "desk test")
    page = client.get("/desk/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert csrf is not None
    resp = client.post("/desk/sign-in", data={"token": token, "csrf_token": csrf.group(1)})
    assert resp.status_code == 302
    return client


@pytest.mark.parametrize(("path", "field"), [
    ("/desk/pool?after=%C2%B2", None),
    ("/desk/pool?after=%EF%BC%93%EF%BC%95%EF%BC%96", None),
    ("/desk/pool?before=99999999999999999999", None),
    ("/desk/audit?before=99999999999999999999999", None),
    ("/desk/provision/cards?offset=%C2%B2", None),
    ("/desk/checkout/%EF%BC%93", None),
    ("/desk/checkout/2147483648", None),
    ("/desk/pool?q=%00", "q"),
    ("/desk/checkout?q=a%00", "q"),
    ("/desk/audit?subject=%00", "subject"),
    ("/desk/alerts?before=%00", "before"),
    ("/desk/attestations/%00", "attestation_id"),
    ("/desk/provision/pairings?imei=49015420323751%00", "imei"),
    ("/desk/pool?q=a&q=b", "q"),
])
def test_desk_query_and_path(desk: FlaskClient, service: Service, path: str,
                             field: str | None) -> None:
    before = _counts(service)
    resp = desk.get(path)
    if field is None:  # a malformed page cursor means "no cursor"; an id, no such page
        assert resp.status_code in (200, 404), resp.get_data(as_text=True)
    else:
        refused(resp, field)
    assert _counts(service) == before


def _form(desk: FlaskClient, page: str) -> str:
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                     desk.get(page).get_data(as_text=True))
    assert csrf is not None
    return csrf.group(1)


@pytest.mark.parametrize(("data", "field"), [
    ({"checkout_id": "３５６"}, None), ({"checkout_id": "2147483648"}, None),
    ({"checkout_id": "²"}, None), ({"checkout_id": "1", "back": "/desk\r\nX-A: b"}, "back"),
])
def test_desk_return_form(desk: FlaskClient, service: Service, data: dict[str, str],
                          field: str | None) -> None:
    before = _counts(service)
    resp = desk.post("/desk/returns", data={**data, "csrf_token": _form(desk, "/desk/returns")})
    if field is None:
        assert resp.status_code == 422 and "Choose the checkout" in resp.get_data(as_text=True)
    else:
        refused(resp, field)
    assert _counts(service) == before


def test_desk_handset_form_refuses_control_characters(desk: FlaskClient,
                                                      service: Service) -> None:
    before = _counts(service)
    page = "/desk/provision/handsets"
    imei = fresh_imei()
    resp = desk.post(page, data={"imei": imei, "label": "unit\x1b[31m",
                                 "public_key": public_pem(), "csrf_token": _form(desk, page)})
    refused(resp, "label")
    # A PEM key has line breaks: they are fine.
    resp = desk.post(page, data={"imei": imei, "label": "unit 1",
                                 "public_key": public_pem().replace("\n", "\r\n"),
                                 "csrf_token": _form(desk, page)})
    assert resp.status_code in (200, 302), resp.get_data(as_text=True)
    assert _counts(service)["Handset"] == before["Handset"] + 1


def test_sign_in_next_with_a_line_break_does_not_reach_location(app: Flask,
                                                                service: Service) -> None:
    client = app.test_client()
    token = operators.create_token(service, "desk", "next test")
    page = client.get("/desk/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert csrf is not None
    resp = client.post("/desk/sign-in?next=/desk/pool%0d%0aSet-Cookie:%20a=b",
                       data={"token": token, "csrf_token": csrf.group(1)})
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    assert "Set-Cookie" not in str(resp.headers.get("Location", ""))


# --- an unexpected exception still answers problem+json 500 ----------------------------

def test_unexpected_exception_in_a_view_is_problem_json_500(service: Service) -> None:
    app = create_app(service)

    def broken() -> str:
        raise RuntimeError("secret detail that must not reach the client")

    app.add_url_rule("/v1/broken", view_func=broken)
    resp = app.test_client().get("/v1/broken")
    assert resp.status_code == 500 and resp.mimetype == PROBLEM
    body = resp.get_json()
    assert body["type"].endswith("/internal-error") and "secret" not in resp.get_data(as_text=True)


class _FailingInput:
    """A request body whose reading fails midway (the connection broke)."""

    def read(self, size: int = -1) -> bytes:
        raise RuntimeError("connection broke with a secret detail")


def test_unexpected_exception_on_the_device_endpoint_is_problem_json_500(
        app: Flask) -> None:
    answers: list[str] = []
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/attestations",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "20",
               "REMOTE_ADDR": "127.0.0.1", "wsgi.input": _FailingInput()}
    headers: dict[str, str] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answers.append(status)
        headers.update(response_headers)

    body = b"".join(app.wsgi_app(environ, start_response))
    assert answers == ["500 Internal Server Error"]
    assert headers["Content-Type"] == PROBLEM
    assert json.loads(body)["type"].endswith("/internal-error") and b"secret" not in body
