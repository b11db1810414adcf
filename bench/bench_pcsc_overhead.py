"""PC/SC path overhead per APDU: pyscard → pcscd → vpcd → simulated card vs. in process.

The same APDU mix runs on both paths against a fresh simulated card of
``card_profiles/examples/ps-001.yaml``: full identity reads (``read_identities``) and
AUTHENTICATEs on ADF.USIM with a fresh SQN each. Every raw exchange (GET RESPONSE
included) is timed on its own, at the transport's ``_exchange``, so the figures are per
APDU on the wire; the ratio is PC/SC over in-process.

    .venv/bin/python bench/bench_pcsc_overhead.py [--reads 50] [--auths 300] [--t0]

Prints a Markdown block for bench/RESULTS.md. Not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import machine  # bench/machine.py, beside this script

from attest.aka.sqn import build_autn, join_sqn
from hw.cardfile import CardFile, load_card_file
from hw.identity import read_identities
from hw.sim.card import SimulatedCard
from hw.sim.pcsc_stack import PcscStack
from hw.transport.base import Transport
from hw.transport.pcsc import PcscTransport
from hw.transport.simulated import SimulatedTransport
from hw.uicc.authenticate import AuthSuccess, authenticate
from hw.uicc.ts_102_221 import Uicc

CARD = Path(__file__).resolve().parent.parent / "card_profiles" / "examples" / "ps-001.yaml"
AMF = bytes.fromhex("8000")


@dataclass(frozen=True)
class Figures:
    samples: list[float]  # seconds per raw APDU exchange

    @property
    def mean_us(self) -> float:
        return statistics.fmean(self.samples) * 1e6

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples) * 1e6

    @property
    def p95_us(self) -> float:
        return statistics.quantiles(self.samples, n=20)[-1] * 1e6


def _timed(transport: Transport, samples: list[float]) -> None:
    """Time each raw exchange of ``transport`` (an instance attribute shadows the method)."""
    exchange: Callable[[bytes], bytes] = transport._exchange

    def timed(command: bytes) -> bytes:
        start = time.perf_counter()
        answer = exchange(command)
        samples.append(time.perf_counter() - start)
        return answer

    transport._exchange = timed  # type: ignore[method-assign]


def _workload(transport: Transport, cardfile: CardFile, reads: int, auths: int) -> list[float]:
    samples: list[float] = []
    read_identities(transport)  # warm-up, untimed
    _timed(transport, samples)
    for _ in range(reads):
        read_identities(transport)
    algorithm = cardfile.algorithm()
    uicc = Uicc(transport)
    with uicc.application(uicc.find_application("usim")) as channel:
        for seq in range(1, auths + 1):
            rand = secrets.token_bytes(16)
            autn = build_autn(algorithm, rand, join_sqn(seq, 0), AMF)
            if not isinstance(authenticate(channel, rand, autn), AuthSuccess):
                raise SystemExit(f"AUTHENTICATE {seq} did not succeed")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50, help="full reads per path (50)")
    parser.add_argument("--auths", type=int, default=300, help="AUTHENTICATEs per path (300)")
    parser.add_argument("--t0", action="store_true", help="a T=0 card (61xx/6Cxx answers)")
    args = parser.parse_args()
    cardfile = load_card_file(CARD)

    local = SimulatedTransport(SimulatedCard(cardfile, t0=args.t0), f"sim:{CARD}")
    in_process = Figures(_workload(local, cardfile, args.reads, args.auths))
    with PcscStack(readers=1) as stack:
        stack.attach(0, SimulatedCard(cardfile, t0=args.t0))
        with PcscTransport(stack.reader_names[0]) as remote:
            pcsc = Figures(_workload(remote, cardfile, args.reads, args.auths))

    rows = [("in-process `sim:`", in_process), ("pyscard → pcscd → vpcd", pcsc)]
    protocol = "T=0" if args.t0 else "T=1"
    command = f".venv/bin/python bench/bench_pcsc_overhead.py --reads {args.reads} " + (
        f"--auths {args.auths}" + (" --t0" if args.t0 else "")
    )
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"- machine: {machine.describe()}"
        f""
    )
    print(f"- command: `{command}`")
    print(
        f"- mix: {args.reads} full reads + {args.auths} AUTHENTICATEs ({protocol}), "
        f"{len(pcsc.samples)} APDUs per path\n"
    )
    print("| path | APDUs | mean µs/APDU | median µs/APDU | p95 µs/APDU |")
    print("| --- | --- | --- | --- | --- |")
    for label, fig in rows:
        print(
            f"| {label} | {len(fig.samples)} | {fig.mean_us:,.1f} | {fig.median_us:,.1f} | "
            f"{fig.p95_us:,.1f} |"
        )
    print(
        f"\nratio PC/SC / in-process: mean {pcsc.mean_us / in_process.mean_us:,.1f}×, "
        f"median {pcsc.median_us / in_process.median_us:,.1f}×"
    )


if __name__ == "__main__":
    main()
