"""Each statement of ``server.store.attestations_pg_sql`` does what it must, run with
psycopg on a migrated PostgreSQL database holding a small provisioned pool."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from server.attestation.ratelimit import limits_for
from server.core.config import ServiceConfig
from server.core.service import Service
from server.store import attestations_pg_sql as sql
from server.store.audit_chain import GENESIS_HASH, Entry, verify_chain
from server.store.models import utcnow
from server.store.rate_counters import Shares, window
from tests.fixtures_attestation import Pool, build_pool, make_imei

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

CLIENT = "192.0.2.7"
# Under 32 a minute, so each request takes a share of one (rate_counters.Shares)
PER_IMEI, PER_CLIENT = 3, 5


@pytest.fixture
def service_config() -> ServiceConfig:
    return ServiceConfig(rate_limit_per_imei=PER_IMEI, rate_limit_per_client=PER_CLIENT)


@pytest.fixture
def pool(service: Service) -> Pool:
    return build_pool(service, size=1)


@pytest.fixture
def dsn(db_url: str) -> str:
    return db_url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


def _challenge(imei: str, signed_by: str | None = None, signed_at: int | None = None
               ) -> dict[str, Any]:
    """The parameters of a challenge that expires in a minute, for a request signed by
    the key ``signed_by`` (None: not proven) at ``signed_at`` (None: a resync's)."""
    now = utcnow()
    return {"id": secrets.token_hex(16), "imei": imei, "app": "usim",
            "rand": secrets.token_bytes(16), "nonce": secrets.token_hex(32), "client": CLIENT,
            "created_at": now, "expires_at": now + dt.timedelta(seconds=60),
            "signed_by": signed_by, "signed_at": signed_at}


def _proven(conn: psycopg.Connection[Any], imei: str) -> dict[str, Any]:
    """A challenge for a request the registered key of ``imei`` signed (a resync's)."""
    return _challenge(imei, _value(conn, "SELECT public_key_pem FROM handsets WHERE imei = %s",
                                   imei))


def _verdict(att_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
    entry = Entry("handset", "attestation.appraised", att_id, {"status": "affirming"})
    return {"att_id": att_id, "at": at or utcnow(), "status": "affirming",
            "reasons": '["ok"]', "ear": "ear-token", "resync_id": None,
            "iccid": "89001010000000000001", "imsi": "001010000000001",
            "evidence": '{"outcome": "success"}', "device_certificate": None,
            **entry.pg_params()}


def _counting(service: Service, imei: str, now: float | None = None) -> dict[str, Any]:
    """The counting CTEs' parameters for one request naming ``imei`` from ``CLIENT``, on
    the service's configured limits."""
    limits = limits_for(service.config, imei, CLIENT)
    return Shares().claim(limits, time.time() if now is None else now).pg_params()


def _one(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]
         ) -> tuple[Any, ...] | None:
    return conn.execute(query, params).fetchone()


def _value(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def _sqn(conn: psycopg.Connection[Any], iccid: str) -> int:
    return int(_value(conn, "SELECT sqn_seq FROM cards WHERE iccid = %s", iccid))


def _state(conn: psycopg.Connection[Any], att_id: str) -> str | None:
    state = _value(conn, "SELECT state FROM attestations WHERE id = %s", att_id)
    return None if state is None else str(state)


def _counters(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return dict(conn.execute("SELECT key, count FROM rate_counters").fetchall())


def _audit_count(conn: psycopg.Connection[Any]) -> int:
    return int(_value(conn, "SELECT count(*) FROM audit_entries"))


def _issue(conn: psycopg.Connection[Any], imei: str) -> str:
    challenge = _proven(conn, imei)
    _one(conn, sql.RESERVE_SQN_AND_ISSUE, challenge)
    return str(challenge["id"])


# --- statement 1: reserve the SQN and store the challenge ------------------------------


def test_reserve_gives_the_next_sqn_and_stores_a_pending_challenge(
        conn: psycopg.Connection[Any], pool: Pool) -> None:
    card, handset = pool.cards[0], pool.handsets[0]
    before = _sqn(conn, card.iccid)
    first, second = _proven(conn, handset.imei), _proven(conn, handset.imei)
    row1 = _one(conn, sql.RESERVE_SQN_AND_ISSUE, first)
    row2 = _one(conn, sql.RESERVE_SQN_AND_ISSUE, second)
    assert row1 is not None and row2 is not None
    assert (row1[-2:], row2[-2:]) == ((before + 1, True), (before + 2, True))
    assert _sqn(conn, card.iccid) == before + 2
    assert row1[3] == card.iccid and row1[4] == card.imsi
    stored = conn.execute(
        "SELECT a.state, c.iccid, a.rand FROM attestations a JOIN cards c ON c.id = a.card_id"
        " WHERE a.id = %s", (first["id"],)).fetchone()
    assert stored == ("pending", card.iccid, first["rand"])


def test_reserve_for_an_unknown_imei_stores_a_decoy_and_reserves_nothing(
        conn: psycopg.Connection[Any], pool: Pool) -> None:
    before = _sqn(conn, pool.cards[0].iccid)
    challenge = _challenge(make_imei(999))
    row = _one(conn, sql.RESERVE_SQN_AND_ISSUE, challenge)
    assert row is not None and all(value is None for value in row[:-1]) and row[-1] is False
    assert conn.execute("SELECT state, handset_id, card_id FROM attestations WHERE id = %s",
                        (challenge["id"],)).fetchone() == ("pending", None, None)
    assert _sqn(conn, pool.cards[0].iccid) == before


def test_concurrent_reservations_never_share_an_sqn(
        conn: psycopg.Connection[Any], dsn: str, pool: Pool) -> None:
    """A reservation waits for one not yet committed on another connection, then takes
    the SQN after it."""
    card, imei = pool.cards[0], pool.handsets[0].imei
    before = _sqn(conn, card.iccid)
    got: list[int] = []
    with psycopg.connect(dsn) as first:  # a transaction left open
        row = _one(first, sql.RESERVE_SQN_AND_ISSUE, _proven(conn, imei))
        assert row is not None
        got.append(row[-2])

        proven = _proven(conn, imei)

        def second() -> None:
            with psycopg.connect(dsn, autocommit=True) as other:
                other_row = _one(other, sql.RESERVE_SQN_AND_ISSUE, proven)
                assert other_row is not None
                got.append(other_row[-2])

        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 10
        while not _value(conn, "SELECT count(*) FROM pg_stat_activity WHERE"
                               " datname = current_database() AND wait_event_type = 'Lock'"):
            assert time.monotonic() < deadline, "the second reservation never waited"
            time.sleep(0.01)
        assert len(got) == 1
        first.commit()
        thread.join()
    assert got == [before + 1, before + 2]
    assert _sqn(conn, card.iccid) == before + 2


def test_many_reservations_on_two_connections_are_distinct_and_consecutive(
        conn: psycopg.Connection[Any], dsn: str, pool: Pool) -> None:
    card, imei = pool.cards[0], pool.handsets[0].imei
    before = _sqn(conn, card.iccid)
    got: list[int] = []
    pem = _proven(conn, imei)["signed_by"]

    def reserve() -> None:
        with psycopg.connect(dsn, autocommit=True) as mine:
            for _ in range(25):
                row = _one(mine, sql.RESERVE_SQN_AND_ISSUE, _challenge(imei, pem))
                assert row is not None
                got.append(row[-2])

    threads = [threading.Thread(target=reserve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == list(range(before + 1, before + 51))


def test_counted_reserve_counts_within_the_limit_and_refuses_over_it(
        conn: psycopg.Connection[Any], service: Service, pool: Pool) -> None:
    card, imei = pool.cards[0], pool.handsets[0].imei
    before = _sqn(conn, card.iccid)
    imei_key, client_key = f"imei:{imei}", f"client:{CLIENT}"
    for n in range(1, PER_IMEI + 1):
        row = _one(conn, sql.RESERVE_SQN_AND_ISSUE_COUNTED, {**_counting(service, imei),
                                                            **_proven(conn, imei)})
        assert row is not None
        assert row[0] == [] and row[1] == [n, n]  # over, counts (client, imei)
        assert row[-2:] == (before + n, True)
        assert _counters(conn) == {client_key: n, imei_key: n}
    refused = _proven(conn, imei)
    row = _one(conn, sql.RESERVE_SQN_AND_ISSUE_COUNTED, {**_counting(service, imei), **refused})
    assert row is not None
    assert row[0] == [imei_key]
    assert row[-2] is None  # no SQN reserved
    assert _sqn(conn, card.iccid) == before + PER_IMEI
    assert _state(conn, refused["id"]) is None  # no challenge stored
    # A refused request counts too.
    assert _counters(conn) == {client_key: PER_IMEI + 1, imei_key: PER_IMEI + 1}


def test_counters_start_again_in_the_next_window(
        conn: psycopg.Connection[Any], service: Service, pool: Pool) -> None:
    imei = pool.handsets[0].imei
    now = time.time()
    for _ in range(PER_IMEI + 1):
        _one(conn, sql.RESERVE_SQN_AND_ISSUE_COUNTED, {**_counting(service, imei, now),
                                                      **_proven(conn, imei)})
    later = now + 60
    row = _one(conn, sql.RESERVE_SQN_AND_ISSUE_COUNTED, {**_counting(service, imei, later),
                                                        **_proven(conn, imei)})
    assert row is not None and row[0] == [] and row[-2] is not None
    assert set(conn.execute("SELECT \"window\", count FROM rate_counters").fetchall()) \
        == {(window(later), 1)}


def test_only_a_request_the_handset_signed_once_is_counted_for_it_and_bound_to_its_card(
        conn: psycopg.Connection[Any], service: Service, pool: Pool) -> None:
    card, imei = pool.cards[0], pool.handsets[0].imei
    pem = _proven(conn, imei)["signed_by"]
    before = _sqn(conn, card.iccid)
    imei_key, client_key = f"imei:{imei}", f"client:{CLIENT}"

    def issue(signed_by: str | None, signed_at: int | None) -> tuple[Any, ...]:
        challenge = _challenge(imei, signed_by, signed_at)
        row = _one(conn, sql.RESERVE_SQN_AND_ISSUE_COUNTED,
                   {**_counting(service, imei), **challenge})
        assert row is not None
        stored = _value(conn, "SELECT handset_id FROM attestations WHERE id = %s",
                        challenge["id"])
        # counts (client, IMEI), the SQN reserved, bound — and whether the challenge
        # stored names the handset
        return row[1], row[-2], row[-1], stored is not None

    # Not signed by the handset (no proof, or another key): counted per client only, a
    # decoy stored, nothing reserved.
    assert issue(None, 5_000) == ([1, None], None, False, False)
    assert issue(pool.handsets[0].key.public_pem().decode() + " ", 5_000) \
        == ([2, None], None, False, False)
    assert _counters(conn) == {client_key: 2}
    # Signed: counted for the IMEI, bound, the card's SQN reserved.
    assert issue(pem, 5_000) == ([3, 1], before + 1, True, True)
    # The same time again (a replay) or an earlier one: as if not signed.
    assert issue(pem, 5_000) == ([4, None], None, False, False)
    uncounted = _one(conn, sql.RESERVE_SQN_AND_ISSUE, _challenge(imei, pem, 4_999))
    assert uncounted is not None and uncounted[-2:] == (None, False)
    assert issue(pem, 5_001) == ([5, 2], before + 2, True, True)
    assert _sqn(conn, card.iccid) == before + 2
    assert _counters(conn) == {client_key: 5, imei_key: 2, f"signed:{imei}": 0}


# --- statement 2: count and read the challenge back ------------------------------------


def test_load_counts_and_reads_the_challenge_with_the_evidence_card(
        conn: psycopg.Connection[Any], service: Service, pool: Pool) -> None:
    card, handset = pool.cards[0], pool.handsets[0]
    challenge = _proven(conn, handset.imei)
    _one(conn, sql.RESERVE_SQN_AND_ISSUE, challenge)
    params = {"att_id": challenge["id"], "iccid": card.iccid, "now": utcnow()}
    row = _one(conn, sql.LOAD_CHALLENGE_COUNTED, {**_counting(service, handset.imei), **params})
    assert row is not None
    over, counts, att_id, imei, rand, nonce, state, fresh, pem, iccid, imsi = row[:11]
    assert (over, counts) == ([], [1, 1])
    assert (att_id, imei, rand, nonce, state, fresh) == (
        challenge["id"], handset.imei, challenge["rand"], challenge["nonce"], "pending", True)
    assert pem == handset.key.public_pem().decode()
    assert (iccid, imsi) == (card.iccid, card.imsi)
    assert row[-3:] == (card.iccid, card.imsi, handset.imei)  # the evidence card, paired
    later = {**params, "now": challenge["expires_at"]}
    row = _one(conn, sql.LOAD_CHALLENGE_COUNTED, {**_counting(service, handset.imei), **later})
    assert row is not None and row[7] is False  # expired by then


def test_load_of_an_unknown_challenge_counts_and_finds_nothing(
        conn: psycopg.Connection[Any], service: Service, pool: Pool) -> None:
    imei = pool.handsets[0].imei
    params = {"att_id": secrets.token_hex(16), "iccid": pool.cards[0].iccid, "now": utcnow()}
    row = _one(conn, sql.LOAD_CHALLENGE_COUNTED, {**_counting(service, imei), **params})
    assert row is not None
    assert row[:2] == ([], [1, 1])
    assert all(value is None for value in row[2:])


# --- statement 3: consume the challenge and append to the audit chain ------------------


def test_a_challenge_is_consumed_exactly_once(conn: psycopg.Connection[Any], service: Service,
                                             pool: Pool) -> None:
    att_id = _issue(conn, pool.handsets[0].imei)
    entries = _audit_count(conn)
    row = _one(conn, sql.CONSUME_CHALLENGE, _verdict(att_id))
    assert row is not None and row[0] == entries + 1
    assert conn.execute("SELECT state, status, ear FROM attestations WHERE id = %s",
                        (att_id,)).fetchone() == ("consumed", "affirming", "ear-token")
    assert _one(conn, sql.CONSUME_CHALLENGE, _verdict(att_id)) is None
    assert _audit_count(conn) == entries + 1
    assert verify_chain(service.db).ok


def test_an_expired_challenge_is_not_consumed(conn: psycopg.Connection[Any],
                                              pool: Pool) -> None:
    challenge = _proven(conn, pool.handsets[0].imei)
    _one(conn, sql.RESERVE_SQN_AND_ISSUE, challenge)
    entries = _audit_count(conn)
    assert _one(conn, sql.CONSUME_CHALLENGE,
                _verdict(challenge["id"], at=challenge["expires_at"])) is None
    assert _state(conn, challenge["id"]) == "pending"
    assert _audit_count(conn) == entries


def test_counted_consume_counts_consumes_once_and_refuses_over_the_limit(
        conn: psycopg.Connection[Any], service: Service, pool: Pool) -> None:
    imei = pool.handsets[0].imei
    first, second, refused = (_issue(conn, imei) for _ in range(3))
    entries = _audit_count(conn)

    def consume(att_id: str) -> tuple[Any, ...] | None:
        return _one(conn, sql.CONSUME_CHALLENGE_COUNTED,
                    {**_counting(service, imei), **_verdict(att_id)})

    # over, counts (client, IMEI), the audit entry's seq
    assert consume(first) == ([], [1, 1], entries + 1)
    assert consume(first) == ([], [2, 2], None)  # counted, not consumed a second time
    assert consume(second) == ([], [3, 3], entries + 2)
    assert consume(refused) == ([f"imei:{imei}"], [4, 4], None)
    assert _state(conn, refused) == "pending"
    assert _audit_count(conn) == entries + 2
    assert _counters(conn) == {f"client:{CLIENT}": 4, f"imei:{imei}": 4}
    assert verify_chain(service.db).ok


def test_a_pending_challenge_expires_once(conn: psycopg.Connection[Any], service: Service,
                                          pool: Pool) -> None:
    att_id = _issue(conn, pool.handsets[0].imei)
    entries = _audit_count(conn)
    entry = Entry("handset", "attestation.expired", att_id, {})
    params = {"att_id": att_id, "at": utcnow(), "status": "contraindicated",
              "reasons": '["expired"]', "ear": "ear-token", **entry.pg_params()}
    row = _one(conn, sql.EXPIRE_CHALLENGE, params)
    assert row is not None and row[0] == entries + 1
    assert _state(conn, att_id) == "expired"
    assert _one(conn, sql.EXPIRE_CHALLENGE, params) is None
    assert _one(conn, sql.CONSUME_CHALLENGE, _verdict(att_id)) is None
    assert _audit_count(conn) == entries + 1
    assert verify_chain(service.db).ok


def test_append_links_the_entry_to_the_head_and_the_chain_verifies(
        conn: psycopg.Connection[Any], service: Service, pool: Pool) -> None:
    head_seq, head_hash = conn.execute("SELECT seq, hash FROM audit_head").fetchone() \
        or (0, GENESIS_HASH)
    seqs = [_one(conn, sql.APPEND_AUDIT,
                 Entry("operator", "test.append", f"thing {i}", {"n": i}).pg_params())
            for i in range(3)]
    assert seqs == [(head_seq + 1,), (head_seq + 2,), (head_seq + 3,)]
    links = conn.execute("SELECT seq, prev_hash, hash FROM audit_entries WHERE seq > %s"
                         " ORDER BY seq", (head_seq,)).fetchall()
    assert links[0][1] == head_hash
    assert [prev for _seq, prev, _hash in links[1:]] == [h for _seq, _prev, h in links[:-1]]
    assert conn.execute("SELECT seq, hash FROM audit_head").fetchone() == \
        (links[-1][0], links[-1][2])
    report = verify_chain(service.db)
    assert report.ok and report.entries == head_seq + 3
