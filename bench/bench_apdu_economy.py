"""APDU economy of the UICC client (issue 2: ≤ 16 APDUs for a full read of the example
public-safety card under T=1; AUTHENTICATE with the application selected in 1 APDU, 2 under T=0).

Counts raw APDUs on the wire (GET RESPONSE and 6Cxx resends included) through the
in-process simulated transport, for every example card, under T=1 and T=0. Counts are
deterministic; nothing here is timed.

    .venv/bin/python bench/bench_apdu_economy.py [--markdown] [--write-results]

``--write-results`` puts the Markdown table, with date, machine and command, in
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import secrets
from datetime import UTC, datetime
from pathlib import Path

import machine  # bench/machine.py, beside this script
import results  # bench/results.py, beside this script

from attest.aka.sqn import next_sqn, split_sqn
from hw.cardfile import CardFile, load_card_file
from hw.identity import read_identities
from hw.transport.base import open_transport
from hw.uicc.authenticate import AuthSuccess, authenticate
from hw.uicc.ts_102_221 import FileNotFoundOnCard, Uicc

EXAMPLES = Path(__file__).resolve().parent.parent / "card_profiles" / "examples"


def _pin(cardfile: CardFile) -> str | None:
    return cardfile.pin1 if cardfile.pin1_enabled else None


def read_count(card: Path, t0: bool) -> int:
    """APDUs of a full read (a PIN-enabled card's PIN check included: 2 APDUs)."""
    with open_transport(f"sim:{card}?t0={int(t0)}") as transport:
        return read_identities(transport, pin=_pin(load_card_file(card))).apdu_count


def auth_count(card: Path, app: str, t0: bool) -> int | None:
    """APDUs of one AUTHENTICATE once the application is selected (None: no such app)."""
    cardfile = load_card_file(card)
    algorithm = cardfile.algorithm()
    with open_transport(f"sim:{card}?t0={int(t0)}") as transport:
        uicc = Uicc(transport)
        try:
            aid = uicc.find_application(app)
        except FileNotFoundOnCard:
            return None
        with uicc.application(aid) as channel:
            pin = _pin(cardfile)
            if pin is not None:
                uicc.verify_pin(pin, channel=channel)
            rand = secrets.token_bytes(16)
            sqn = next_sqn(split_sqn(cardfile.sqn_ms)[0], 0)  # fresh for the card
            vector = algorithm.vector(rand, sqn, bytes.fromhex("8000"))
            before = transport.apdu_count
            outcome = authenticate(channel, rand, vector.autn)
            assert isinstance(outcome, AuthSuccess), outcome
            return transport.apdu_count - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--write-results", action="store_true",
                        help="replace the figures of 'APDU economy' in bench/RESULTS.md")
    args = parser.parse_args()
    rows = []
    for card in sorted(EXAMPLES.glob("*.yaml")):
        cells: list[int | None] = [read_count(card, False), read_count(card, True)]
        for app in ("usim", "isim"):
            cells += [auth_count(card, app, False), auth_count(card, app, True)]
        rows.append((card.name, *("—" if c is None else str(c) for c in cells)))
    header = (
        "card",
        "read T=1",
        "read T=0",
        *(f"AUTH {a} T={t}" for a in ("USIM", "ISIM") for t in (1, 0)),
    )
    table = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
             *("| " + " | ".join(row) + " |" for row in rows)]
    if args.write_results:
        results.replace_figures("APDU economy", [
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine.describe()}",
            "- command: `.venv/bin/python bench/bench_apdu_economy.py --markdown`", "", *table,
        ])
    if args.markdown:
        print("\n".join(table))
    else:
        widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
        for row in (header, *rows):
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
