"""``live``: the service as it runs in production — ``simattest serve`` (gunicorn, two
workers) on PostgreSQL on a real port — shared by the tests that attack it from outside
(``tests/test_api_contract.py``, ``tests/test_api_fuzz.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.core import operators
from server.core.service import Service
from tests.fixtures_db import PostgresServer
from tests.processes import serve_process


@dataclass(frozen=True)
class Live:
    url: str
    admin_token: str
    log: Path  # the server's stderr: JSON lines


@pytest.fixture(scope="session")
def live(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("live") / "data"
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    log = data.parent / "serve.log"
    try:
        with Service.open(data, url) as svc:
            token = operators.create_token(svc, "admin", "attacker with a token")
        with serve_process(data, log, ["--db", url, "--workers", "2"]) as base:
            yield Live(base, token, log)
    finally:
        postgres_server.drop_database(name)
