"""The CLI's and device agent's HTTP client against a real HTTP server on loopback that
answers 503 the way the service does while its database is away (a stand-in for the
service: a real PostgreSQL cannot be made to come back exactly between two retries;
the service's own 503 is tested in test_api_foundation and test_attestation_faults)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from attest.errors import TransportError
from server.agent.client import RETRIES_AFTER_503, ServiceClient
from server.cli.main import main

PROBLEM = {"type": "https://simattest.dev/problems/database-unavailable",
           "title": "Database unavailable", "status": 503,
           "detail": "the database cannot be reached; nothing was changed, retry later"}


class _Flaky(ThreadingHTTPServer):
    """503 (Retry-After: 0) for the first ``unavailable`` requests, then 201."""

    def __init__(self, unavailable: int, retry_after: str = "0") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.unavailable, self.retry_after = unavailable, retry_after
        self.bodies: list[bytes] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Flaky

    def do_POST(self) -> None:
        self.server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        if len(self.server.bodies) <= self.server.unavailable:
            status, body = 503, PROBLEM
        else:
            status, body = 201, {"id": "a1"}
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if status == 503:
            self.send_header("Retry-After", self.server.retry_after)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def flaky(request: pytest.FixtureRequest) -> Iterator[_Flaky]:
    server = _Flaky(*request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _client(server: _Flaky) -> ServiceClient:
    return ServiceClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)


@pytest.mark.parametrize("flaky", [(RETRIES_AFTER_503,)], indirect=True)
def test_a_503_is_tried_again_after_retry_after(flaky: _Flaky) -> None:
    assert _client(flaky).post("/v1/attestations", {"imei": "490154203237518"}) == {"id": "a1"}
    assert len(flaky.bodies) == RETRIES_AFTER_503 + 1
    assert len(set(flaky.bodies)) == 1  # the same request each time


@pytest.mark.parametrize("flaky", [(RETRIES_AFTER_503 + 1,)], indirect=True)
def test_a_lasting_503_names_the_services_reason(flaky: _Flaky) -> None:
    with pytest.raises(TransportError) as err:
        _client(flaky).post("/v1/attestations", {"imei": "490154203237518"})
    assert str(err.value) == (f"{_client(flaky).base_url}: the attestation service failed to "
                              "answer (the database cannot be reached; nothing was changed, "
                              "retry later)")
    assert len(flaky.bodies) == RETRIES_AFTER_503 + 1


@pytest.mark.parametrize("flaky", [(1, "3600"), (1, "Wed, 21 Oct 2026 07:28:00 GMT")],
                         indirect=True)
def test_an_unreasonable_retry_after_is_not_waited_for(flaky: _Flaky) -> None:
    with pytest.raises(TransportError, match="failed to answer"):
        _client(flaky).post("/v1/attestations", {"imei": "490154203237518"})
    assert len(flaky.bodies) == 1


@pytest.mark.parametrize("option, message", [
    (["--timeout", "0"], "--timeout: expected a number of seconds greater than 0, got '0'"),
    (["--timeout", "-5"], "--timeout: expected a number of seconds greater than 0, got '-5'"),
    (["--server", "127.0.0.1:18431"],
     "--server: '127.0.0.1:18431' is not an http:// or https:// URL "
     "(e.g. http://127.0.0.1:8080)"),
])
def test_bad_server_options_are_usage_errors_at_parse_time(
        option: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["desk", "return", "7", "--server", "http://127.0.0.1:9", "--token", "t",
              *option])
    assert info.value.code == 2
    assert capsys.readouterr().err == f"simattest desk return: {message}\n"
