"""The desk pages' queries on both databases (SQLite and PostgreSQL), without a browser.

The pool is built and attested through the service functions; the assertions are what
the pages show: newest verdict per handset, filters, keyset pages, alerts, checkouts.
"""

from __future__ import annotations

from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.checkout import desk as checkout
from server.core.service import Service
from server.http.web import queries
from tests.fixtures_attestation import Pool, TestCard, TestHandset, build_pool


def _attest(svc: Service, handset: TestHandset, card: TestCard) -> str:
    challenge = create_challenge(svc, handset.request(), client="test")
    evidence, signature = handset.evidence(challenge.to_json(), card)
    return submit_evidence(svc, challenge.id, evidence, signature,
                                       client="test").attestation_id


def _pool(svc: Service) -> tuple[Pool, dict[str, str]]:
    pool = build_pool(svc, size=5)
    ids = {
        # unit 1: swapped first, then genuine — the newest verdict is what counts
        "unit 1 old": _attest(svc, pool.handsets[0], pool.cards[1]),
        "unit 1": _attest(svc, pool.handsets[0], pool.cards[0]),
        "unit 2": _attest(svc, pool.handsets[1], pool.commercial),
        "unit 3": _attest(svc, pool.handsets[2], pool.cards[2]),
    }
    checkout.start_checkout(svc, ids["unit 3"], "Sam", actor="test")
    return pool, ids


def test_pool_shows_the_newest_verdict_and_filters(service: Service) -> None:
    pool, ids = _pool(service)
    page = queries.pool_page(service, queries.PoolFilter())
    assert [r.label for r in page.rows] == [f"unit {n}" for n in range(1, 6)]
    assert page.total == 5 and page.next_after is None and page.prev_before is None
    by_label = {r.label: r for r in page.rows}
    assert (by_label["unit 1"].attestation_id, by_label["unit 1"].status) == (
        ids["unit 1"], "affirming")
    assert by_label["unit 2"].status == "contraindicated"
    assert by_label["unit 2"].reasons == ["COMMERCIAL_SIM"]
    assert by_label["unit 3"].checked_out_to == "Sam"
    assert by_label["unit 4"].status is None and by_label["unit 4"].iccid == pool.cards[3].iccid

    def labels(**kwargs: object) -> list[str]:
        found = queries.pool_page(service, queries.PoolFilter(**kwargs))
        assert found.total == len(found.rows)
        return [r.label for r in found.rows]

    assert labels(status="contraindicated") == ["unit 2"]
    assert labels(status="none") == ["unit 4", "unit 5"]
    assert labels(checked_out=True) == ["unit 3"]
    assert labels(checked_out=False) == ["unit 1", "unit 2", "unit 4", "unit 5"]
    assert labels(problems_only=True) == ["unit 2"]
    assert labels(search=pool.cards[4].iccid) == ["unit 5"]
    assert labels(search=pool.handsets[1].imei[:14]) == ["unit 2"]
    assert labels(search="UNIT 4") == ["unit 4"]
    assert labels(search="50%") == []  # LIKE wildcards are escaped


def test_pool_pages_by_keyset_both_ways(service: Service) -> None:
    build_pool(service, size=5)
    first = queries.pool_page(service, queries.PoolFilter(), limit=2)
    assert [r.label for r in first.rows] == ["unit 1", "unit 2"]
    assert first.prev_before is None and first.next_after is not None
    second = queries.pool_page(service, queries.PoolFilter(), after=first.next_after, limit=2)
    assert [r.label for r in second.rows] == ["unit 3", "unit 4"]
    third = queries.pool_page(service, queries.PoolFilter(), after=second.next_after, limit=2)
    assert [r.label for r in third.rows] == ["unit 5"] and third.next_after is None
    assert third.prev_before is not None
    back = queries.pool_page(service, queries.PoolFilter(), before=third.prev_before, limit=2)
    assert [r.label for r in back.rows] == ["unit 3", "unit 4"]
    assert back.next_after == second.next_after and back.prev_before is not None


def test_alerts_newest_first_without_answer_values(service: Service) -> None:
    pool, ids = _pool(service)
    rows, more = queries.alerts_page(service)
    assert [r.attestation_id for r in rows] == [ids["unit 2"], ids["unit 1 old"]]
    assert more is None
    assert rows[1].reasons == ["SIM_SWAPPED"] and rows[1].evidence["iccid"] == pool.cards[1].iccid
    assert rows[1].evidence["card_answer"] == "mac_failure"
    assert all("outcome" not in r.evidence and "res" not in r.evidence for r in rows)
    first, cursor = queries.alerts_page(service, limit=1)
    assert [r.attestation_id for r in first] == [ids["unit 2"]] and cursor == ids["unit 2"]
    older, _ = queries.alerts_page(service, before=cursor, limit=1)
    assert [r.attestation_id for r in older] == [ids["unit 1 old"]]
    assert queries.recent_alert_count(service) == 2


def test_desk_lookups(service: Service) -> None:
    pool, ids = _pool(service)
    assert [r.label for r in queries.find_handsets(service, pool.handsets[0].imei)] == ["unit 1"]
    assert [r.label for r in queries.find_handsets(service, "Unit 2")] == ["unit 2"]
    assert len(queries.find_handsets(service, "unit")) == 5  # no exact match: contains
    assert queries.find_handsets(service, "nothing like it") == []
    assert [r.checked_out_to for r in queries.open_checkouts(service)] == ["Sam"]
    assert queries.open_checkouts(service, "nobody") == []
    assert queries.checkout_of(service, ids["unit 3"]) is not None
    assert queries.checkout_of(service, ids["unit 1"]) is None
