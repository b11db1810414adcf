"""The OpenAPI document is the contract: schemathesis, against the live service.

``simattest serve`` (gunicorn, two workers) on PostgreSQL on a real port; schemathesis
(pinned in the test extra) reads ``/openapi.json`` and runs every check it has, in all
four phases (examples, coverage, fuzzing, and the stateful phase that follows the
document's links: a challenge into its evidence, a handset into its pages, a checkout
into its return), with an admin token for the operator API; the device endpoints take
no token.  Any finding fails the test.  The formats the document names get their
strategies from ``tests/schemathesis_hooks.py``; ``tests/schemathesis.toml`` holds the
run's two settings, each with its reason.

``SIMATTEST_SCHEMATHESIS_SEED`` picks another seed (the suite's is fixed, so a failure
reproduces); ``SIMATTEST_SCHEMATHESIS_EXAMPLES`` more examples per operation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core import operators
from server.core.service import Service
from tests.fixtures_db import PostgresServer
from tests.processes import serve_process

ROOT = Path(__file__).resolve().parent.parent
SEED = os.environ.get("SIMATTEST_SCHEMATHESIS_SEED", "20261207")
EXAMPLES = os.environ.get("SIMATTEST_SCHEMATHESIS_EXAMPLES", "25")


@pytest.fixture(scope="module")
def live(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of ``simattest serve`` on a fresh PostgreSQL database."""
    data = tmp_path_factory.mktemp("contract") / "data"
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    try:
        with Service.open(data, url) as svc:
            token = operators.create_token(svc, "admin", "schemathesis")
        with serve_process(data, data.parent / "serve.log",
                           ["--db", url, "--workers", "2"]) as base:
            yield base, token
    finally:
        postgres_server.drop_database(name)


def test_schemathesis_finds_nothing(live: tuple[str, str], tmp_path: Path) -> None:
    base, token = live
    # One schemathesis worker: hypothesis's lambda descriptions are not thread-safe.
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file",
         str(ROOT / "tests" / "schemathesis.toml"), "run", f"{base}/openapi.json",
         "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
         "--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1",
         "--header", f"Authorization: Bearer {token}", "--no-color",
         "--report-dir", str(tmp_path / "report")],
        cwd=ROOT, env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks"},
        capture_output=True, text=True, timeout=600, check=False)
    # The token is filtered out of schemathesis's own output.
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "Tested: 21" in result.stdout, result.stdout[-3000:]
