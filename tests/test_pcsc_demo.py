"""``make demo`` (``python -m server.demo``) and its reusable card check."""

from __future__ import annotations

import os
import subprocess
import sys

from hw.cardfile import load_card_file
from hw.sim.pcsc_stack import PcscStack
from server.demo import EXAMPLE_CARD, check_card
from tests.fixtures_pcsc import EXAMPLES, REPO


def test_demo_prints_identities_and_a_pass() -> None:
    # Its own process: the demo starts its own pcscd on its own socket.
    proc = subprocess.run(
        [sys.executable, "-m", "server.demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    card = load_card_file(EXAMPLE_CARD)
    assert card.isim is not None
    for text in (card.iccid, card.imsi, card.isim.impi, *card.isim.impu, "PASS"):
        assert text in proc.stdout
    assert "Virtual PCD 00 00" in proc.stdout
    assert "FAIL" not in proc.stdout


def test_check_card_reads_and_passes_over_pcsc(pcsc_stack: PcscStack) -> None:
    slot = next(s for s in range(len(pcsc_stack.reader_names)) if not pcsc_stack.occupied(s))
    card_file = EXAMPLES / "ps-pin.yaml"  # PIN1 enabled: the check verifies it first
    try:
        check = check_card(pcsc_stack, card_file, slot)
    finally:
        pcsc_stack.detach(slot)
    assert check.reader == pcsc_stack.reader_names[slot]
    assert check.identities.iccid == load_card_file(card_file).iccid
    assert check.result.passed and check.result.reason is None
    assert check.apdu_count > check.identities.apdu_count  # the self-check ran on the card
