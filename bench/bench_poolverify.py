"""``pool verify`` throughput: 4 PC/SC readers in parallel vs one reader.

Real PC/SC: our own pcscd with 4 vpcd readers (``hw.sim.pcsc_stack.PcscStack``), each
simulated card answering every APDU after 20 ms (``latency=0.02``, a slow real card).
Rounds imitate an officer at a rack: insert a card in each reader, run
``server.pool.verify.verify_pool`` over the readers, take the cards out.  Only the
verify calls are timed (card swaps are the officer's time); one-reader and
four-reader rounds alternate so both see the same machine load.  The same comparison is
also run on ``sim:…?latency=0.02`` URIs (no pcscd).  Issue 4 target: ≥ 3.5× with 4.

    .venv/bin/python bench/bench_poolverify.py [--cards 24]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import machine  # bench/machine.py, beside this script
import yaml

from hw.cardfile import load_card_file
from hw.sim.card import SimulatedCard
from hw.sim.pcsc_stack import PcscStack
from server.core.service import Service
from server.demo.batchgen import SynthCard, csv_text, synth_cards
from server.pool.provisioning import import_batch
from server.pool.verify import VERIFIED, verify_pool

LATENCY = 0.02


def _card_file(directory: Path, card: SynthCard) -> Path:
    path = directory / f"{card.iccid}.yaml"
    path.write_text(yaml.safe_dump({"profile": "commercial-usim", "iccid": card.iccid,
                                    "imsi": card.imsi, "ki": card.k.hex(),
                                    "opc": card.opc.hex()}))
    return path


def _pcsc_round(svc: Service, stack: PcscStack, batch: list[Path]) -> float:
    """Insert ``batch`` (one card per reader), time the verify call, take them out."""
    for slot, path in enumerate(batch):
        stack.attach(slot, SimulatedCard(load_card_file(path), latency=LATENCY))
    t0 = time.perf_counter()
    outcomes = verify_pool(svc, [stack.uri(s) for s in range(len(batch))], actor="bench")
    elapsed = time.perf_counter() - t0
    assert all(o.state == VERIFIED for o in outcomes), outcomes
    for slot in range(len(batch)):
        stack.detach(slot)
    return elapsed


def _sim_round(svc: Service, batch: list[Path]) -> float:
    t0 = time.perf_counter()
    outcomes = verify_pool(svc, [f"sim:{p}?latency={LATENCY}" for p in batch], actor="bench")
    elapsed = time.perf_counter() - t0
    assert all(o.state == VERIFIED for o in outcomes), outcomes
    return elapsed


def _compare(files: list[Path], run: Callable[[list[Path]], float]) -> tuple[float, float]:
    """(cards/s with 1 reader, cards/s with 4): the two alternate every 4 cards, so a
    busy moment of this shared machine weighs on both alike."""
    one = four = 0.0
    for start in range(0, len(files), 4):
        group = files[start:start + 4]
        one += sum(run([path]) for path in group)
        four += run(group)
    return len(files) / one, len(files) / four


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=24, help="cards per run (multiple of 4)")
    args = parser.parse_args()
    cards = synth_cards(args.cards)
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="simattest-bench-verify-") as tmp:
        work = Path(tmp)
        files = [_card_file(work, c) for c in cards]
        with Service.open(work / "data") as svc:
            import_batch(svc, csv_text(cards), "bench.csv", actor="bench")
            with PcscStack(readers=4) as stack:
                one, four = _compare(files, lambda batch: _pcsc_round(svc, stack, batch))
            rows.append(("PC/SC (pcscd + vpcd)", one, four))
            print(f"PC/SC: 1 reader {one:.2f} cards/s, 4 readers {four:.2f} cards/s, "
                  f"{four / one:.2f}x")
            one, four = _compare(files, lambda batch: _sim_round(svc, batch))
            rows.append(("sim: URIs (in process)", one, four))
            print(f"sim: 1 reader {one:.2f} cards/s, 4 readers {four:.2f} cards/s, "
                  f"{four / one:.2f}x")

    print()
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine.describe()}"
          f"")
    print(f"- command: `.venv/bin/python bench/bench_poolverify.py --cards {args.cards}`")
    print()
    print("| readers path | 1 reader | 4 readers | speed-up |")
    print("| --- | --- | --- | --- |")
    for name, one, four in rows:
        print(f"| {name} | {one:.2f} cards/s | {four:.2f} cards/s | {four / one:.2f}× |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
