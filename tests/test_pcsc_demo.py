"""The demo's reusable card part: read and self-check a card over the real PC/SC stack.

(The whole ``make demo`` run is tests/test_demo.py.)
"""

from __future__ import annotations

from hw.cardfile import load_card_file
from hw.sim.pcsc_stack import PcscStack
from server.demo.scenario import check_card
from tests.fixtures_pcsc import EXAMPLES


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
