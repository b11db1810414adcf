"""The per-client rate limit behind a reverse proxy: X-Forwarded-For from trusted proxies
only, read right to left."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.cli.main import main
from server.core.config import ServiceConfig
from server.core.service import Service
from server.http.api.device import client_address
from server.http.app import create_app
from server.store.models import Attestation
from tests.fixtures_attestation import Pool, TestHandset

PROXIES = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("fd00::1"))


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("192.0.2.7", None, "192.0.2.7"),
    # not a trusted proxy: its header is the client's own claim, ignored
    ("192.0.2.7", "198.51.100.1", "192.0.2.7"),
    ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
    # the client's own (spoofed) entries are left of what the proxies appended
    ("10.0.0.5", "203.0.113.9, 198.51.100.1", "198.51.100.1"),
    # a chain of trusted proxies is skipped
    ("10.0.0.5", "198.51.100.1, 10.0.0.6", "198.51.100.1"),
    ("fd00::1", "2001:db8::42", "2001:db8::42"),
    # a malformed hop stops the walk: nothing left of it is believed
    ("10.0.0.5", "198.51.100.1, bogus", "10.0.0.5"),
    ("10.0.0.5", "", "10.0.0.5"),
])
def test_client_address(peer: str, forwarded: str | None, client: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == client


@pytest.fixture
def service_config() -> ServiceConfig:
    return ServiceConfig(rate_limit_per_imei=0, rate_limit_per_client=2,
                         trusted_proxies=("10.0.0.0/24",))


def _challenge(client: FlaskClient, handset: TestHandset, peer: str, forwarded: str) -> int:
    resp = client.post("/v1/attestations", json=handset.request_json(),
                       environ_base={"REMOTE_ADDR": peer},
                       headers={"X-Forwarded-For": forwarded})
    return resp.status_code


def test_handsets_behind_one_proxy_are_limited_each_on_their_own(
    service: Service, pool: Pool,
) -> None:
    client = create_app(service).test_client()
    handset = pool.handsets[0]
    first = [_challenge(client, handset, "10.0.0.5", "198.51.100.1") for _ in range(3)]
    assert first == [201, 201, 429]
    # another handset behind the same proxy still has its allowance
    assert _challenge(client, handset, "10.0.0.5", "198.51.100.2") == 201
    # a direct client cannot borrow an address by sending the header itself
    assert [_challenge(client, handset, "192.0.2.7", f"198.51.100.{n}") for n in (3, 4, 5)] \
        == [201, 201, 429]
    with service.db.read_session() as session:
        clients = set(session.scalars(select(Attestation.client)))
    assert clients == {"198.51.100.1", "198.51.100.2", "192.0.2.7"}


def test_a_malformed_trusted_proxy_is_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["serve", "--data", str(tmp_path / "data"), "--trusted-proxy", "10.0.0.300"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--trusted-proxy '10.0.0.300'" in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()
