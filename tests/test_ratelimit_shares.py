"""Rate limits on PostgreSQL: each process takes a key's allowance a share at a time
(``server.store.rate_counters.Shares``), never letting more through than the limit.

Two ``PostgresStore`` objects on one database stand for two worker processes: each has
its own shares, as each gunicorn worker has.  Real PostgreSQL, no mock.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.core.service import Service
from server.store import rate_counters as ratelimit
from server.store.attestations import NewChallenge
from server.store.attestations_pg import PostgresStore
from server.store.models import utcnow
from tests.fixtures_attestation import build_pool
from tests.fixtures_db import PostgresServer

UNKNOWN_IMEI = "490154203237518"  # not registered: a decoy challenge, counted all the same


@pytest.fixture
def pg_service(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Service]:
    name = postgres_server.create_database()
    # Counts are per minute: start well inside one, so that a test's requests all fall
    # in the same window (the test takes well under a second).
    if time.time() % ratelimit.WINDOW_SECONDS > ratelimit.WINDOW_SECONDS - 10:
        time.sleep(ratelimit.WINDOW_SECONDS - time.time() % ratelimit.WINDOW_SECONDS + 0.1)
    with Service.open(tmp_path / "data", postgres_server.url(name)) as svc:
        yield svc
    postgres_server.drop_database(name)


def _challenge() -> NewChallenge:
    now = utcnow()
    return NewChallenge(id=secrets.token_urlsafe(16), imei=UNKNOWN_IMEI, app="usim",
                        rand=secrets.token_bytes(16), nonce="n" * 43, client="test",
                        created_at=now, expires_at=now + dt.timedelta(seconds=60))


def _admitted(store: PostgresStore, limits: dict[str, int]) -> bool:
    try:
        store.issue(_challenge(), limits, None)
        return True
    except ratelimit.RateLimited:
        return False


def _count(svc: Service, key: str) -> int:
    with svc.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count FROM rate_counters WHERE key = :k"),
                                {"k": key}).scalar_one())


def test_a_large_limit_is_taken_a_share_at_a_time_and_never_exceeded(
    pg_service: Service,
) -> None:
    key, limit = "client:198.51.100.9", 400
    workers = [PostgresStore(pg_service.db.engine), PostgresStore(pg_service.db.engine)]
    try:
        assert _admitted(workers[0], {key: limit})
        # The first request took a share of a sixteenth of the allowance from the counter.
        assert _count(pg_service, key) == limit // ratelimit.SHARE_DIVISOR
        admitted, answers = 1, []
        for n in range(2 * limit):
            answer = _admitted(workers[n % 2], {key: limit})
            admitted += answer
            answers.append(answer)
        # Both processes together never let more through than the limit, and while
        # requests keep coming neither leaves part of its share unused.
        assert admitted == limit
        assert _count(pg_service, key) >= admitted
        # Once the allowance is used up, refused for the rest of the window, whichever
        # process asks (and it took far fewer statements than requests to get there:
        # the counter stood at the first share after the first request).
        last = len(answers) - answers[::-1].index(True)
        assert not any(answers[last:]) and len(answers) - last > limit
    finally:
        for store in workers:
            store.close()


def test_a_small_limit_is_counted_request_by_request(pg_service: Service) -> None:
    key, limit = "client:203.0.113.30", 30  # the per-IMEI default's size
    workers = [PostgresStore(pg_service.db.engine), PostgresStore(pg_service.db.engine)]
    try:
        for n in range(1, limit + 1):
            assert _admitted(workers[n % 2], {key: limit})
            assert _count(pg_service, key) == n
        assert not _admitted(workers[0], {key: limit})
        assert not _admitted(workers[1], {key: limit})
    finally:
        for store in workers:
            store.close()


def test_refusal_names_the_limit_and_when_the_window_turns(pg_service: Service) -> None:
    store = PostgresStore(pg_service.db.engine)
    try:
        limits = {"client:203.0.113.4": 1, "imei:" + UNKNOWN_IMEI: 100}
        assert _admitted(store, limits)
        with pytest.raises(ratelimit.RateLimited) as refused:
            store.issue(_challenge(), limits, None)
        assert refused.value.scope == "client"
        assert 0 < refused.value.retry_after <= ratelimit.WINDOW_SECONDS
    finally:
        store.close()


def test_checkouts_inside_a_share_are_attested_like_the_one_that_took_it(
    pg_service: Service,
) -> None:
    # Inside a share the challenge is issued by a statement without the counters: it
    # must still advance the card's SQN (else the card answers a sync failure) and store
    # the challenge its evidence consumes.
    pool = build_pool(pg_service, size=1)
    handset, card = pool.handsets[0], pool.cards[0]
    key, limit = "imei:" + handset.imei, 400
    statuses = []
    for _ in range(3):
        challenge = create_challenge(pg_service, handset.request(), "test",
                                     {key: limit}).to_json()
        evidence, signature = handset.evidence(challenge, card)
        statuses.append(submit_evidence(
            pg_service, challenge["id"], evidence, signature, "test", {key: limit},
        ).to_json()["status"])
    assert statuses == ["affirming"] * 3
    # One share taken by the first challenge; the other five requests came out of it.
    assert _count(pg_service, key) == limit // ratelimit.SHARE_DIVISOR


def test_shares_one_process_takes_at_once_add_up() -> None:
    """Two of a worker's threads need the key's allowance at the same time: one takes a
    share, the other counts its own request alone, and neither answer overwrites what
    the other left (the database's answers may come back in either order)."""
    shares = ratelimit.Shares()
    key, limit, now = "client:192.0.2.44", 320, time.time()
    share = limit // ratelimit.SHARE_DIVISOR
    taking, alone = shares.claim({key: limit}, now), shares.claim({key: limit}, now)
    assert (taking.needed, alone.needed) == ({key: share}, {key: 1})
    shares.settle(taking, [share])  # the counter after the share
    shares.settle(alone, [share + 1])  # after both
    covered = [not shares.claim({key: limit}, now).needed for _ in range(share)]
    assert covered == [True] * (share - 1) + [False]  # all the share held, but its own
