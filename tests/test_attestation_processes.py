"""Two or more server processes on one database: one evidence is consumed exactly once."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.core.service import Service
from tests.fixtures_attestation import Pool

WORKERS = 4


def _worker(data_dir: str, db_url: str, doc: dict[str, Any], sig: str, barrier: Barrier,
            results: Any) -> None:
    svc = Service.open(Path(data_dir), db_url)
    try:
        barrier.wait()
        outcome = submit_evidence(svc, doc["attestation_id"], doc, sig, "127.0.0.1")
        results.put((outcome.status, outcome.reasons))
    finally:
        svc.close()


def test_same_evidence_from_several_processes(service: Service, db_url: str,
                                              pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = create_challenge(service, handset.request(), "127.0.0.1").to_json()
    doc, sig = handset.evidence(challenge, card)
    # fork: the children import nothing anew; each opens its own engine (no shared sockets)
    service.db.engine.dispose()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(service.data_dir.path), db_url, doc, sig,
                                               barrier, results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert outcomes == [("affirming", [])] + [("contraindicated", ["CHALLENGE_REUSED"])] * 3
