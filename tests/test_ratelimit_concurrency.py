"""The per-client rate limit under concurrency: `simattest serve` with several workers
on PostgreSQL, many requests at a time from one address.

Each worker takes a client's allowance a share at a time
(``server.store.rate_counters.Shares``); shares its threads take at the same time add
up, so the client is let through up to its limit less what the workers still hold when
its requests stop — at most one share each — and never beyond it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from attest import devicekey
from server.agent.checkout import challenge_request
from server.store import rate_counters
from tests.fixtures_attestation import make_imei
from tests.fixtures_db import PostgresServer
from tests.processes import serve_process

WORKERS, THREADS = 2, 8
LIMIT = 320  # per client and minute; a share is LIMIT // SHARE_DIVISOR = 20 requests
REQUESTS = LIMIT + LIMIT // 2


@pytest.fixture(scope="module")
def server(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("serve")
    name = postgres_server.create_database()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    try:
        with serve_process(tmp_path / "data", tmp_path / "serve.log", [
                "--db", postgres_server.url(name), "--workers", str(WORKERS),
                "--threads", str(THREADS), "--rate-limit-per-client", str(LIMIT),
                "--rate-limit-per-imei", "0", "--trusted-proxy", "127.0.0.1"],
                env=env) as url:
            yield url
    finally:
        postgres_server.drop_database(name)


def _admitted(url: str, address: str, concurrent: int) -> int:
    """Send REQUESTS challenge requests as ``address`` (through the trusted proxy), at
    most ``concurrent`` at a time, each on a new connection; how many got a challenge."""
    signer = devicekey.generate()

    def one(_n: int) -> int:
        # An unregistered IMEI: every request gets a decoy, counted per client only.
        resp = requests.post(url + "/v1/attestations",
                             json=challenge_request(signer, make_imei(990)),
                             headers={"X-Forwarded-For": address}, timeout=60)
        assert resp.status_code in (201, 429), resp.text
        return resp.status_code

    with ThreadPoolExecutor(concurrent) as pool:
        statuses = list(pool.map(one, range(REQUESTS)))
    return statuses.count(201)


@pytest.mark.parametrize("concurrent", [16, 64])
def test_concurrent_requests_from_one_address_get_their_limit_less_a_share_per_worker(
        server: str, concurrent: int) -> None:
    # All of one run's requests must fall in one counting window (a minute).
    left = rate_counters.WINDOW_SECONDS - time.time() % rate_counters.WINDOW_SECONDS
    if left < 10:
        time.sleep(left + 0.1)
    admitted = _admitted(server, f"198.51.100.{concurrent}", concurrent)
    share = LIMIT // rate_counters.SHARE_DIVISOR
    assert LIMIT - WORKERS * share <= admitted <= LIMIT
