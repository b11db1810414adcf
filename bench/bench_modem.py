"""Modem transport economy and speed, through the simulated modem on a real pty.

1. AT commands per APDU after start-up, for a full ``read`` and for one AUTHENTICATE
   (``authenticate_app``: find the USIM, select it, AUTHENTICATE), against the APDU count
   the in-process ``sim:`` path needs for the same card (the PC/SC path's count equals
   ``sim:``'s, tests/test_pcsc_cli.py). Issue 3 target: ≤ 1.2 AT commands per APDU.
2. Wall time of a full ``read`` through the simulated modem with no artificial delay
   (open the port, resync, ATE0, AT+CMEE=1, read, close): median of several runs.
   Issue 3 target: < 1 s.

    .venv/bin/python bench/bench_modem.py [--runs 15]

Prints the figures and a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import machine  # bench/machine.py, beside this script

from attest.aka.sqn import build_autn, join_sqn
from hw.cardfile import load_card_file
from hw.identity import read_identities
from hw.sim.card import SimulatedCard
from hw.sim.modem import SimulatedModem
from hw.transport.base import Transport, open_transport
from hw.transport.modem import ModemTransport
from hw.uicc.authenticate import authenticate_app

CARD = Path(__file__).resolve().parent.parent / "card_profiles" / "examples" / "ps-001.yaml"
RAND = bytes.fromhex("23553cbe9637a89d218ae64dae47bf35")
AMF = bytes.fromhex("8000")
RATIO_TARGET = 1.2
WALL_TARGET = 1.0


@dataclass(frozen=True)
class Count:
    case: str
    apdus_sim: int  # APDUs through sim: for the same job
    apdus_modem: int  # APDUs our APDU layer sent through the modem
    at_commands: int  # AT lines after start-up

    @property
    def ratio(self) -> float:
        return self.at_commands / self.apdus_sim


def _auth(app: str) -> Callable[[Transport], object]:
    def job(transport: Transport) -> object:
        alg = load_card_file(CARD).algorithm()
        autn = build_autn(alg, RAND, join_sqn(1, 0), AMF)
        return authenticate_app(transport, app, RAND, autn)

    return job


def _read(transport: Transport) -> object:
    found = read_identities(transport).to_json()
    del found["apdu_count"]  # compared separately: that is what this benchmark is about
    return found


def count(case: str, job: Callable[[Transport], object], *, t0: bool, link: Path) -> Count:
    with open_transport(f"sim:{CARD}?t0={int(t0)}") as direct:
        expected = job(direct)
        apdus_sim = direct.apdu_count
    cardfile = load_card_file(CARD)
    modem = SimulatedModem(SimulatedCard(cardfile, t0=t0), imei=cardfile.imei)
    modem.start(link)
    try:
        with ModemTransport(str(link)) as transport:
            got = job(transport)
            apdus_modem = transport.apdu_count
            transport.close()  # closing channels is part of the job's cost
            at = transport.at.commands_sent - transport.startup_commands
    finally:
        modem.stop()
    if got != expected:
        raise SystemExit(f"{case}: the modem path answered differently from sim:")
    return Count(case, apdus_sim, apdus_modem, at)


def wall_times(runs: int, link: Path) -> list[float]:
    cardfile = load_card_file(CARD)
    modem = SimulatedModem(SimulatedCard(cardfile), imei=cardfile.imei)
    modem.start(link)
    times = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            with ModemTransport(str(link)) as transport:
                read_identities(transport)
                transport.handset_identity()
            times.append(time.perf_counter() - start)
    finally:
        modem.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    link = Path(tempfile.mkdtemp(prefix="bench-modem-")) / "tty"
    counts = [
        count("full read, T=1 card", _read, t0=False, link=link),
        count("full read, T=0 card", _read, t0=True, link=link),
        count("auth on the USIM (EF.DIR, SELECT, AUTHENTICATE), T=1", _auth("usim"), t0=False,
              link=link),
        count("auth on the USIM, T=0", _auth("usim"), t0=True, link=link),
        count("auth on the ISIM (EF.DIR, CCHO for SELECT, +CCHC), T=1", _auth("isim"), t0=False,
              link=link),
        count("auth on the ISIM, T=0", _auth("isim"), t0=True, link=link),
    ]
    times = wall_times(args.runs, link)
    median = statistics.median(times)

    lines = [
        "## Modem transport",
        "",
        "Through the simulated modem on a real pty (pyserial, exclusive), card",
        "`card_profiles/examples/ps-001.yaml` (USIM + ISIM, 3 IMPUs). AT commands are counted",
        "after start-up (`AT`, `ATE0`, `AT+CMEE=1`) and include closing the channels; the",
        "reference is the APDU count of the same job through `sim:` (equal to `pcsc:`'s).",
        f"Issue 3 targets: ≤ {RATIO_TARGET} AT commands per APDU; "
        f"a full `read` < {WALL_TARGET:g} s.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine.describe()}"
        f" (shared with other developers' test runs)",
        f"- command: `.venv/bin/python bench/bench_modem.py --runs {args.runs}`",
        "",
        "| job | APDUs via sim: | APDUs via modem | AT commands | AT per APDU |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in counts:
        lines.append(
            f"| {c.case} | {c.apdus_sim} | {c.apdus_modem} | {c.at_commands} | {c.ratio:.2f} |"
        )
    lines += [
        "",
        f"Full `read` (open, resync, read, IMEI/IMEISV, close) over {args.runs} runs: "
        f"median {median * 1000:.1f} ms, min {min(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
