"""Arbitrary requests against the live service (``tests/fixtures_live.py``): no answer is
a 5xx, every 4xx of the API is problem+json, and the server's log stays one JSON object a
line whatever the requests carried.

A property-based test (hypothesis, pinned in the test extra) draws a route of the API —
every operation of the OpenAPI document — or of the desk, then path values, repeated
and odd query parameters, a Content-Type, and a body of arbitrary bytes, arbitrary JSON
or JSON shaped like the API's objects with arbitrary values; with or without the admin
token, and on the desk with a signed-in session and its CSRF token.  The examples are
bounded (``SIMATTEST_FUZZ_EXAMPLES``, default 2000) and derandomized, so a failure
reproduces.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures_live import Live
from tests.schemathesis_hooks import FORMATS

PROBLEM = "application/problem+json"
EXAMPLES = int(os.environ.get("SIMATTEST_FUZZ_EXAMPLES", "2000"))

# The desk's routes (HTML pages and their forms), with the form fields they read.
DESK_ROUTES: list[tuple[str, str, tuple[str, ...]]] = [
    ("GET", "/desk/pool", ()), ("GET", "/desk/alerts", ()), ("GET", "/desk/audit", ()),
    ("GET", "/desk/checkout", ()), ("GET", "/desk/checkout/{handset_id}", ()),
    ("POST", "/desk/checkout/{handset_id}", ("attestation_id", "user", "confirmed")),
    ("GET", "/desk/returns", ()), ("POST", "/desk/returns", ("checkout_id", "back")),
    ("GET", "/desk/attestations/{attestation_id}", ()), ("GET", "/desk/provision/", ()),
    ("GET", "/desk/provision/handsets", ()),
    ("POST", "/desk/provision/handsets", ("imei", "imeisv", "label", "public_key")),
    ("GET", "/desk/provision/pairings", ()),
    ("POST", "/desk/provision/pairings", ("imei", "iccid")),
    ("POST", "/desk/provision/pairings/end", ("imei",)),
    ("GET", "/desk/provision/cards", ()), ("GET", "/desk/provision/import", ()),
    ("POST", "/desk/provision/import", ("transport_key", "partial")),
    ("GET", "/desk/sign-in", ()), ("POST", "/desk/sign-in", ("token",)),
]
QUERY_NAMES = ["limit", "offset", "search", "verification", "q", "after", "before",
               "subject", "next", "imei", "status", "out", "problems"]
ODD_TEXT = ["", "\x00", "３５６", "²", "2147483648", "-1", "1e3", "0x10", " 5", "5_0",
            "\r\nX-Injected: 1", "%00", "../../etc", "a" * 300, "null", "[]"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8",
                 "application/json; charset=latin-1", "application/problem+json",
                 "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/json;;;", 'application/json; charset="utf-8"; x=y', ""]


def _routes(document: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every operation of the document (its path template and the properties its
    request body may have), and the desk's routes."""
    schemas = document["components"]["schemas"]
    routes = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get(
                "application/json", {}).get("schema", {})
            name = body.get("$ref", "").rpartition("/")[2]
            routes.append((method.upper(), path,
                           tuple(schemas.get(name, {}).get("properties", {}))))
    return routes + DESK_ROUTES


def _text() -> st.SearchStrategy[str]:
    """Text that can be sent in a URL or a form (UTF-8)."""
    return st.one_of(st.sampled_from(ODD_TEXT),
                     st.text(st.characters(codec="utf-8"), max_size=40),
                     st.integers(-(2**70), 2**70).map(str), *FORMATS.values())


# JSON may also carry a lone surrogate, escaped ("\ud800").
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | _text() | st.just("\ud800"),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text(), inner, max_size=4),
    max_leaves=12)


@st.composite
def _request(draw: st.DrawFn, routes: list[tuple[str, str, tuple[str, ...]]],
             csrf: str) -> dict[str, Any]:
    method, template, fields = draw(st.sampled_from(routes))
    path = re.sub(r"{[^}]+}", lambda _: quote(draw(_text()), safe=""), template)
    params = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | st.text(max_size=8),
                                     _text()), max_size=4))
    request: dict[str, Any] = {"method": method, "url": path, "params": params,
                               "auth": draw(st.booleans())}
    if method == "GET":
        return request
    if template.startswith("/desk/"):
        form = draw(st.dictionaries(st.sampled_from(fields) if fields else st.text(max_size=8),
                                    _text(), max_size=len(fields) + 1))
        if draw(st.booleans()):
            form["csrf_token"] = csrf
        request["data"] = form
        return request
    kind = draw(st.sampled_from(["bytes", "json", "shaped"]))
    if kind == "bytes":
        body: bytes = draw(st.binary(max_size=2000))
    elif kind == "json":
        body = json.dumps(draw(JSON)).encode()
    else:
        shaped = draw(st.dictionaries(st.sampled_from(fields) if fields else _text(), JSON,
                                      max_size=len(fields) + 1))
        body = json.dumps(shaped).encode()
    request["data"] = body
    request["headers"] = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    return request


@pytest.fixture(scope="module")
def desk_session(live: Live) -> Iterator[tuple[requests.Session, str]]:
    """A requests session signed in to the desk as admin, and its CSRF token."""
    with requests.Session() as session:
        page = session.get(f"{live.url}/desk/sign-in", timeout=30).text
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert csrf is not None
        session.post(f"{live.url}/desk/sign-in", timeout=30,
                     data={"token": live.admin_token, "csrf_token": csrf.group(1)})
        page = session.get(f"{live.url}/desk/returns", timeout=30).text
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert csrf is not None
        yield session, csrf.group(1)


def test_arbitrary_requests_answer_no_5xx_and_problem_json(
        live: Live, desk_session: tuple[requests.Session, str]) -> None:
    document = requests.get(f"{live.url}/openapi.json", timeout=30).json()
    desk, csrf = desk_session
    api = requests.Session()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_request(_routes(document), csrf))
    def fuzz(request: dict[str, Any]) -> None:
        on_desk = request["url"].startswith("/desk/")
        session = desk if on_desk and request.pop("auth") else api
        headers = request.pop("headers", {})
        if not on_desk and request.pop("auth", False):
            headers["Authorization"] = f"Bearer {live.admin_token}"
        resp = session.request(url=live.url + request.pop("url"), headers=headers,
                               timeout=30, allow_redirects=False, **request)
        assert resp.status_code < 500, resp.text[:2000]
        if 400 <= resp.status_code < 500:
            media_type = resp.headers.get("Content-Type", "").partition(";")[0]
            # A desk form that fails its checks is shown again, with the reasons, as HTML.
            allowed = {PROBLEM, "text/html"} if on_desk else {PROBLEM}
            assert media_type in allowed, (resp.status_code, resp.text[:500])

    fuzz()
    _assert_log_is_json_lines(live)


def _assert_log_is_json_lines(live: Live) -> None:
    """Every line of the server's log is one JSON object (nothing a request carried broke
    a line: JSON lines end at LF only), and none records an unhandled error."""
    for line in live.log.read_text(errors="replace").split("\n")[:-1]:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert record.get("message") != "unhandled error", line


@pytest.mark.parametrize("path", ["/v1/attestations", "/v1/handsets", "/v1/pool/imports",
                                  "/desk/provision/import", "/desk/sign-in"])
def test_chunked_body_beyond_the_limit_is_413(live: Live, path: str) -> None:
    """A body without Content-Length (chunked) is cut off at the limit, not read whole."""
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        yield b'{"imei": "'
        for _ in range((64 << 20) // len(chunk) + 2):  # past the import limit too
            yield chunk

    resp = requests.post(f"{live.url}{path}", data=body(), timeout=120,
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Bearer {live.admin_token}"})
    assert resp.status_code == 413 and resp.headers["Content-Type"] == PROBLEM, resp.text


def test_line_breaks_in_what_is_logged_stay_inside_one_json_line(live: Live) -> None:
    for path in ["/v1/handsets/%0d%0a{%22level%22:%22error%22}", "/v1/attestations/%0a/evidence",
                 "/desk/pool%0d%0aX"]:
        resp = requests.post(f"{live.url}{path}", json={}, timeout=30,
                             headers={"X-Forwarded-For": "1.2.3.4\r\n".strip(),
                                      "User-Agent": "a\tb"})
        assert resp.status_code < 500
        assert "\n" not in "".join(f"{k}{v}" for k, v in resp.headers.items())
    _assert_log_is_json_lines(live)
