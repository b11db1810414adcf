"""The database going away in the middle of an evidence submission (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from server import attestation
from server.app import create_app
from server.context import Service
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
    challenge = client.post("/v1/attestations", json={"imei": handset.imei}).get_json()
    doc, sig = handset.evidence(challenge, card)
    real_facts = attestation._facts

    def facts_after_the_server_dropped_us(*args: Any) -> Any:
        # The real server ends every backend of the service, as a restart or failover
        # would, after the challenge was read and before its verdict is written.
        database = cast(str, pg_service.db.engine.url.database)
        with psycopg.connect(postgres_server.dsn(database), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return real_facts(*args)

    monkeypatch.setattr(attestation, "_facts", facts_after_the_server_dropped_us)
    url = f"/v1/attestations/{challenge['id']}/evidence"
    resp = client.post(url, json={"evidence": doc, "signature": sig})
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith("/database-unavailable")

    monkeypatch.setattr(attestation, "_facts", real_facts)
    # Nothing half-written: the challenge is still pending, the device may simply retry
    # (the pool replaced its dead connections).
    assert attestation.get_attestation(pg_service, challenge["id"]).state == "pending"
    retry = client.post(url, json={"evidence": doc, "signature": sig}).get_json()
    assert (retry["status"], retry["reasons"]) == ("affirming", [])
