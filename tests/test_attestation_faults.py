"""The database going away (PostgreSQL): in the middle of an evidence submission, between
requests (a restart), and a database host that never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from server.attestation import evidence as attestation
from server.attestation.views import get_attestation
from server.core import operators
from server.core.config import StartupError
from server.core.service import Service
from server.http.app import create_app
from tests.fixtures_attestation import build_pool
from tests.fixtures_db import PostgresServer


@pytest.fixture
def pg_service(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Service]:
    name = postgres_server.create_database()
    svc = Service.open(tmp_path / "data", postgres_server.url(name))
    try:
        yield svc
    finally:
        svc.close()
        postgres_server.drop_database(name)


def test_connections_killed_between_reading_and_recording(
    pg_service: Service, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = build_pool(pg_service, size=1)
    handset, card = pool.handsets[0], pool.cards[0]
    client = create_app(pg_service).test_client()
    challenge = client.post("/v1/attestations", json=handset.request_json()).get_json()
    doc, sig = handset.evidence(challenge, card)
    real_facts = attestation._facts

    database = cast(str, pg_service.db.engine.url.database)

    def facts_after_the_server_dropped_us(*args: Any) -> Any:
        # The database goes away after the challenge was read and before its verdict is
        # written: the real server ends every backend of the service, as a failover
        # would, and takes no new connections to the database until it is back.
        _allow_connections(postgres_server, database, False)
        _end_backends(postgres_server, database)
        return real_facts(*args)

    monkeypatch.setattr(attestation, "_facts", facts_after_the_server_dropped_us)
    url = f"/v1/attestations/{challenge['id']}/evidence"
    resp = client.post(url, json={"evidence": doc, "signature": sig})
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith("/database-unavailable")
    assert int(resp.headers["Retry-After"]) > 0

    monkeypatch.setattr(attestation, "_facts", real_facts)
    _allow_connections(postgres_server, database, True)
    # Nothing half-written: the challenge is still pending, the device may simply retry
    # (the pool replaced its dead connections).
    assert get_attestation(pg_service, challenge["id"]).state == "pending"
    retry = client.post(url, json={"evidence": doc, "signature": sig}).get_json()
    assert (retry["status"], retry["reasons"]) == ("affirming", [])


def _end_backends(server: PostgresServer, database: str) -> None:
    """What a restart does to the service's connections: each backend sends FATAL
    (57P01) and closes."""
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = %s", (database,))
        # pg_terminate_backend only signals: wait until the backends have gone (their
        # FATAL sent, their sockets closed), as they have once a restarted server is up.
        for _ in range(1000):
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                (database,)).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.01)
        raise AssertionError(f"the backends of {database} did not exit")


def _allow_connections(server: PostgresServer, database: str, allow: bool) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}')


def test_first_requests_after_a_database_restart_succeed(
    pg_service: Service, postgres_server: PostgresServer
) -> None:
    pool = build_pool(pg_service, size=1)
    handset, card = pool.handsets[0], pool.cards[0]
    token = operators.create_token(pg_service, "admin", label="test", actor="test")
    client = create_app(pg_service).test_client()
    admin = {"Authorization": f"Bearer {token}"}

    def checkout_and_list() -> tuple[int, int, str, int]:
        challenge = client.post("/v1/attestations", json=handset.request_json())
        doc, sig = handset.evidence(challenge.get_json(), card)
        verdict = client.post(f"/v1/attestations/{challenge.get_json()['id']}/evidence",
                              json={"evidence": doc, "signature": sig})
        listing = client.get("/v1/handsets", headers=admin)
        return (challenge.status_code, verdict.status_code, verdict.get_json().get("status"),
                listing.status_code)

    # Every pool holds connections now: the hot path's and the engine's.
    assert checkout_and_list() == (201, 200, "affirming", 200)
    _end_backends(postgres_server, cast(str, pg_service.db.engine.url.database))
    # The server is back at once (as after `pg_ctlcluster 15 main restart`): the pooled
    # connections it ended are replaced before use, not failed with a 503 each.
    assert checkout_and_list() == (201, 200, "affirming", 200)


def test_connections_carry_the_timeouts(pg_service: Service) -> None:
    pool = build_pool(pg_service, size=1)
    client = create_app(pg_service).test_client()
    assert client.post("/v1/attestations", json=pool.handsets[0].request_json()).status_code \
        == 201
    hot = pg_service.store._idle[0].conn  # type: ignore[attr-defined]
    raw = pg_service.db.engine.raw_connection()
    try:
        for conn in (hot, raw.driver_connection):
            dsn = conn.info.dsn  # type: ignore[union-attr]
            for option in ("connect_timeout=10", "keepalives_idle=30", "keepalives_count=3",
                           "tcp_user_timeout=30000"):
                assert option in dsn, (option, dsn)
    finally:
        raw.close()


def test_a_database_host_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    # A listener that accepts the TCP connection and then says nothing, as a frozen or
    # firewalled database host seen through a live load balancer does.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        # A URL's own connect_timeout wins over the default (10 s), so this test waits 1 s.
        with pytest.raises(StartupError, match=r"unreachable \(.*timeout expired"):
            Service.open(tmp_path / "data",
                         f"postgresql+psycopg://postgres@127.0.0.1:{port}/x?connect_timeout=1")
