"""APDUs the field's own tools spend on the simulated card, beside ``simattest read``.

Serves a fresh simulated card of ``card_profiles/examples/ps-001.yaml`` behind a private
pcscd + vpcd (``hw.sim.pcsc_stack``) for each tool and protocol, runs the tool as its own
process with ``PCSCLITE_CSOCK_NAME`` pointing at that pcscd, and counts the APDUs the card
processed (GET RESPONSE and 6Cxx resends included: what crossed the wire):

* ``simattest read --reader pcsc:0``;
* osmocom pySim's ``pySim-read.py -p 0`` (what it reads is its own choice);
* ``pySim-shell.py -p 0`` with no command (its start-up: card detection, EF.DIR, ...);
* ``pySim-shell.py -p 0`` reading the identities ``simattest read`` reads (ICCID, IMSI,
  EF.AD, EF.UST, DF.ProSe, IMPI, DOMAIN, IMPU, IST), start-up included.

pySim is GPL and not on PyPI: check it out and give it its own virtualenv outside this
repository, then

    .venv/bin/python bench/bench_field_tools.py --pysim /tmp/pysim \\
        --pysim-python /tmp/pysim-venv/bin/python

Prints a Markdown block for bench/RESULTS.md. Not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import machine  # bench/machine.py, beside this script

from hw.cardfile import load_card_file
from hw.sim.card import SimulatedCard
from hw.sim.pcsc_stack import SOCKET_ENV, PcscStack, process_socket_path

REPO = Path(__file__).resolve().parent.parent
CARD = REPO / "card_profiles" / "examples" / "ps-001.yaml"
SIMATTEST = REPO / ".venv" / "bin" / "simattest"
IDENTITIES_SCRIPT = """\
select MF
select EF.ICCID
read_binary_decoded
select ADF.USIM
select EF.IMSI
read_binary_decoded
select EF.AD
read_binary_decoded
select EF.UST
read_binary_decoded
select DF.ProSe
select ADF.ISIM
select EF.IMPI
read_binary_decoded
select EF.DOMAIN
read_binary_decoded
select EF.IMPU
read_records_decoded
select EF.IST
read_binary_decoded
"""
TIMEOUT = 600.0  # a bound against a hung tool


def tools(pysim: Path, python: str, script: Path) -> dict[str, list[str]]:
    shell = [python, str(pysim / "pySim-shell.py"), "-p", "0", "--noprompt"]
    return {
        "simattest read": [str(SIMATTEST), "read", "--reader", "pcsc:0", "--json"],
        "pySim-read": [python, str(pysim / "pySim-read.py"), "-p", "0"],
        "pySim-shell, start-up only": shell,
        "pySim-shell, the same identities": [*shell, "--script", str(script)],
    }


def count(stack: PcscStack, argv: list[str], t0: bool, cwd: str) -> str:
    """The card-side APDU count of one run of ``argv`` (``(exit n)`` appended on failure)."""
    card = SimulatedCard(load_card_file(CARD), t0=t0)
    stack.attach(0, card)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
    finally:
        stack.detach(0)
    failed = "" if proc.returncode == 0 else f" (exit {proc.returncode})"
    return f"{card.apdu_count}{failed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pysim", type=Path, required=True, help="a pySim checkout")
    parser.add_argument("--pysim-python", default=sys.executable,
                        help="the Python with pySim's requirements")
    args = parser.parse_args()
    os.environ[SOCKET_ENV] = str(process_socket_path())  # the tools inherit it
    rows = []
    with tempfile.TemporaryDirectory() as tmp, PcscStack(readers=1) as stack:
        script = Path(tmp) / "identities.pysim"
        script.write_text(IDENTITIES_SCRIPT)
        for name, argv in tools(args.pysim, args.pysim_python, script).items():
            rows.append((name, count(stack, argv, False, tmp), count(stack, argv, True, tmp)))
    commit = subprocess.run(["git", "-C", str(args.pysim), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine.describe()}")
    print(f"- pySim: {commit or 'unknown commit'}")
    print("- command: `.venv/bin/python bench/bench_field_tools.py --pysim /tmp/pysim "
          "--pysim-python /tmp/pysim-venv/bin/python`")
    print()
    print("| tool, ps-001.yaml | APDUs T=1 | APDUs T=0 |")
    print("| --- | --- | --- |")
    for name, t1, t0 in rows:
        print(f"| {name} | {t1} | {t0} |")


if __name__ == "__main__":
    main()
