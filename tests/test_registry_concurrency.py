"""At-most-once state changes under real multi-process races, on both databases.

Each worker is a separate process (multiprocessing, fork) with its own Service on
the same data directory and database, released together by a barrier.  The parent
disposes its connection pool before forking so no connection is shared.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from sqlalchemy import select

from server.core.errors import Conflict, PairingConflict
from server.core.service import Service
from server.demo.batchgen import csv_text, synth_cards
from server.pool import registry
from server.pool.provisioning import ImportRejected, import_batch
from server.store import audit_chain as audit
from server.store.models import Card
from tests.test_registry import public_pem

WORKERS = 4
CTX = mp.get_context("fork")

# IMEIs with valid check digits (worked out by hand, not by the code under test).
IMEIS = ["356938035643809", "490154203237518", "352099001761481", "353918051234561"]


def _run(svc: Service, target: Any, args_for: list[tuple[Any, ...]]) -> list[Any]:
    svc.db.engine.dispose()
    barrier = CTX.Barrier(len(args_for))
    queue = CTX.Queue()
    procs = [CTX.Process(target=target, args=(barrier, queue, *args)) for args in args_for]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return results


def _pair_worker(barrier: Barrier, queue: Any, data: str, url: str, imei: str,
                 iccid: str) -> None:
    with Service.open(Path(data), url) as svc:
        barrier.wait()
        try:
            registry.pair(svc, imei, iccid, actor=f"worker:{imei}")
            queue.put(("paired", imei))
        except PairingConflict as exc:
            queue.put(("conflict", str(exc)))


def test_one_card_raced_by_four_handsets_pairs_once(service: Service, db_url: str) -> None:
    (card,) = synth_cards(1)
    import_batch(service, csv_text([card]), "c.csv", actor="t")
    for imei in IMEIS:
        registry.add_handset(service, imei, public_pem(), actor="t")
    results = _run(service, _pair_worker, [(str(service.data_dir.path), db_url, imei, card.iccid)
                                  for imei in IMEIS])
    winners = [who for outcome, who in results if outcome == "paired"]
    assert len(winners) == 1
    assert sum(outcome == "conflict" for outcome, _ in results) == WORKERS - 1
    active = registry.active_pairing_for_iccid(service, card.iccid)
    assert active is not None and active.handset.imei == winners[0]
    assert audit.verify_chain(service.db).ok


def test_one_handset_raced_for_four_cards_pairs_once(service: Service, db_url: str) -> None:
    cards = synth_cards(WORKERS)
    import_batch(service, csv_text(cards), "c.csv", actor="t")
    registry.add_handset(service, IMEIS[0], public_pem(), actor="t")
    results = _run(service, _pair_worker, [(str(service.data_dir.path), db_url, IMEIS[0], c.iccid)
                                  for c in cards])
    assert sorted(outcome for outcome, _ in results) == ["conflict"] * 3 + ["paired"]
    assert len(registry.pairing_history(service, IMEIS[0])) == 1


def _sqn_worker(barrier: Barrier, queue: Any, data: str, url: str, iccid: str,
                count: int) -> None:
    with Service.open(Path(data), url) as svc:
        barrier.wait()
        queue.put([registry.reserve_sqn(svc, iccid) for _ in range(count)])


def test_sqn_never_handed_out_twice(service: Service, db_url: str) -> None:
    (card,) = synth_cards(1)
    import_batch(service, csv_text([card]), "c.csv", actor="t")
    per_worker = 25
    data = str(service.data_dir.path)
    results = _run(service, _sqn_worker,
                   [(data, db_url, card.iccid, per_worker) for _ in range(WORKERS)])
    handed_out = [sqn for batch in results for sqn in batch]
    assert len(handed_out) == len(set(handed_out)) == WORKERS * per_worker
    with service.db.read_session() as session:
        assert session.scalar(select(Card.sqn_seq)) == WORKERS * per_worker


def _audit_worker(barrier: Barrier, queue: Any, data: str, url: str, name: str,
                  count: int) -> None:
    with Service.open(Path(data), url) as svc:
        barrier.wait()
        for n in range(count):
            with svc.db.session() as session:
                audit.append(session, name, "test.append", f"n:{n}", {"n": n})
        queue.put(name)


def test_audit_chain_stays_valid_under_concurrent_appends(service: Service,
                                                          db_url: str) -> None:
    per_worker = 15
    _run(service, _audit_worker, [(str(service.data_dir.path), db_url, f"w{i}", per_worker)
                         for i in range(WORKERS)])
    report = audit.verify_chain(service.db)
    assert report.ok, report.reason
    assert report.entries == WORKERS * per_worker


def _start_worker(barrier: Barrier, queue: Any, data: str, url: str) -> None:
    barrier.wait()
    with Service.open(Path(data), url) as svc:
        queue.put((svc.keys.check_value, svc.signer.kid))


def test_simultaneous_first_start_agrees_on_schema_and_keys(
        db_url: str, tmp_path: Path) -> None:
    """Several processes starting on an empty data directory and database (gunicorn
    workers, hosts) migrate once and end up with one KEK and one signing key."""
    data = str(tmp_path / "data")
    barrier = CTX.Barrier(WORKERS)
    queue = CTX.Queue()
    procs = [CTX.Process(target=_start_worker, args=(barrier, queue, data, db_url))
             for _ in range(WORKERS)]
    for proc in procs:
        proc.start()
    results = {queue.get(timeout=120) for _ in procs}
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert len(results) == 1


def _import_worker(barrier: Barrier, queue: Any, data: str, url: str, text: str) -> None:
    with Service.open(Path(data), url) as svc:
        barrier.wait()
        try:
            report = import_batch(svc, text, "same.csv", actor="worker")
            queue.put(("imported", report.imported))
        except (Conflict, ImportRejected) as exc:
            queue.put(("refused", type(exc).__name__))


def test_racing_imports_of_the_same_batch_store_it_once(service: Service,
                                                        db_url: str) -> None:
    text = csv_text(synth_cards(50))
    results = _run(service, _import_worker,
                   [(str(service.data_dir.path), db_url, text) for _ in range(WORKERS)])
    assert sorted(outcome for outcome, _ in results) == ["imported"] + ["refused"] * 3
    with service.db.read_session() as session:
        assert len(session.scalars(select(Card.iccid)).all()) == 50
    assert audit.verify_chain(service.db).entries == 1
