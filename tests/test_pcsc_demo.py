"""The demo's reusable card part: read and self-check a card over the real PC/SC stack.

(The whole ``make demo`` run is tests/test_demo.py.)
"""

from __future__ import annotations

import os

from hw.cardfile import load_card_file
from hw.sim.pcsc_stack import USB_DROPDIR, PcscStack, can_hide_usb_readers
from server.demo.scenario import check_card, host_notes
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


def test_the_private_pcscd_takes_no_usb_reader(pcsc_stack: PcscStack) -> None:
    """What pcscd sees of its USB driver directory (through its own mount namespace):
    nothing, so no USB reader is taken from the system's pcscd; where the host refuses
    the namespace the demo says so before it starts."""
    assert pcsc_stack.hide_usb_readers == can_hide_usb_readers()
    if pcsc_stack.hide_usb_readers:
        assert "ifd-ccid.bundle" in os.listdir(USB_DROPDIR)  # the host's CCID driver
        seen = os.listdir(f"/proc/{pcsc_stack.pid}/root{USB_DROPDIR}")
        assert seen == []
        assert "stay with the system's pcscd" in host_notes(True)[0]
    else:
        assert "unplug them first" in host_notes(False)[0]
    assert "vpcd, listens on TCP on all interfaces" in host_notes(True)[1]
