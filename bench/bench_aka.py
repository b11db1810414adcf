"""AKA algorithm throughput: complete vectors per second, in-process, on one core.

A complete vector is every output of one challenge (f1, f1*, f2, f3, f4, f5, f5*) for a new
RAND, which is what an HSS or the attestation service computes per AUTHENTICATE. RANDs
are drawn before the clock starts so the figure is the algorithm's, not the RNG's.

    .venv/bin/python bench/bench_aka.py [--seconds 3] [--write-results]

Prints one line per case and a Markdown block for bench/RESULTS.md (``--write-results``
puts it there). Issue 2 asks for Milenage ≥ 50,000 vectors/s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

import machine  # bench/machine.py, beside this script
import results  # bench/results.py, beside this script

from attest.aka.base import AkaAlgorithm
from attest.aka.keccak import STATE_BYTES, keccak_f1600
from attest.aka.milenage import Milenage
from attest.aka.tuak import Tuak

SQN = bytes.fromhex("00000000ffe0")
AMF = bytes.fromhex("8000")
MILENAGE_TARGET = 50_000


def _pin_to_one_core() -> str:
    """Run on a single CPU so the figure is per core, whatever else the machine does."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def _rate(run: Callable[[int], None], seconds: float, batch: int) -> float:
    """Best of several timed batches, in operations per second (best, because noise only slows)."""
    run(max(1, batch // 10))  # warm-up
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        run(batch)
        best = max(best, batch / (time.perf_counter() - start))
    return best


def _vector_rate(alg: AkaAlgorithm, seconds: float, batch: int) -> float:
    """Best rate of complete vectors over batches of new RANDs drawn outside the clock."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    alg.vector(bytes(16), SQN, AMF)
    while time.perf_counter() < deadline:
        rands = [secrets.token_bytes(16) for _ in range(batch)]
        start = time.perf_counter()
        for rand in rands:
            alg.vector(rand, SQN, AMF)
        best = max(best, batch / (time.perf_counter() - start))
    return best


def _permutations(n: int) -> None:
    keccak_f1600(bytes(STATE_BYTES), n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per case (default 3)")
    parser.add_argument("--write-results", action="store_true",
                        help="replace the figures of 'AKA algorithms' in bench/RESULTS.md")
    args = parser.parse_args()
    pinned = _pin_to_one_core()

    k16, k32 = secrets.token_bytes(16), secrets.token_bytes(32)
    cases = [
        ("Milenage, complete vector", Milenage(k16, opc=secrets.token_bytes(16)), 20_000),
        ("TUAK, K 128, default lengths", Tuak(k16, topc=secrets.token_bytes(32)), 200),
        ("TUAK, K 256, default lengths", Tuak(k32, topc=secrets.token_bytes(32)), 200),
        (
            "TUAK, K 256, RES/MAC/CK/IK all 256 bits",
            Tuak(k32, topc=secrets.token_bytes(32), res_len=256, mac_len=256, ck_len=256,
                 ik_len=256),
            200,
        ),
    ]
    lines = []
    rates = []
    for label, alg, batch in cases:
        rate = _vector_rate(alg, args.seconds, batch)
        rates.append(rate)
        lines.append(f"| {label} | {rate:,.0f} vectors/s |")
        print(f"{label}: {rate:,.0f} vectors/s")
    perm = _rate(_permutations, args.seconds, 200)
    lines.append(f"| Keccak-f[1600] permutation (pure Python) | {perm:,.0f} /s |")
    print(f"Keccak-f[1600]: {perm:,.0f} permutations/s")
    verdict = "meets" if rates[0] >= MILENAGE_TARGET else "MISSES"
    print(f"Milenage {verdict} the {MILENAGE_TARGET:,}/s target")

    figures = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine.describe()}; {pinned}",
        f"- command: `.venv/bin/python bench/bench_aka.py --seconds {args.seconds:g}`",
        "", "| case | best rate |", "| --- | --- |", *lines,
    ]
    print("\n--- for bench/RESULTS.md ---")
    print("\n".join(figures))
    if args.write_results:
        results.replace_figures("AKA algorithms", figures)


if __name__ == "__main__":
    main()
