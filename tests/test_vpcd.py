"""The vpcd bridge and ``simattest sim vpcd`` against the real vpcd driver in pcscd."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading

import pytest
from smartcard import scard

from attest.errors import CardRemovedError, TransportError
from hw.apdu import build
from hw.cardfile import load_card_file
from hw.sim.card import SimulatedCard
from hw.sim.pcsc_stack import PcscStack
from hw.sim.vpcd import VpcdBridge
from hw.transport.base import open_transport
from hw.transport.pcsc import list_readers
from tests.fixtures_pcsc import EXAMPLES, REPO, CardSlots, run_cli_process
from tests.processes import as_background_job

PS_001 = EXAMPLES / "ps-001.yaml"
SELECT_MF = build(0x00, 0xA4, 0x00, 0x04, bytes.fromhex("3F00"), le=0)


def _state(reader: str) -> tuple[bool, str | None]:
    info = next(r for r in list_readers() if r.name == reader)
    return info.card_present, info.atr.hex() if info.atr else None


def test_inserted_card_shows_its_atr_and_leaves_on_stop(
    pcsc_stack: PcscStack, pcsc_cards: CardSlots
) -> None:
    inserted = pcsc_cards.insert(PS_001, t0=True)
    assert _state(inserted.reader) == (True, inserted.card.atr.hex())
    with open_transport(inserted.uri) as transport:
        assert transport.transmit(SELECT_MF).ok
        pcsc_cards.remove(inserted)  # the bridge closes its connection
        assert _state(inserted.reader) == (False, None)
        with pytest.raises(CardRemovedError):
            transport.transmit(SELECT_MF)


def test_card_taken_out_between_commands(pcsc_stack: PcscStack, pcsc_cards: CardSlots) -> None:
    inserted = pcsc_cards.insert(PS_001)
    inserted.card.remove()
    # vpcd polls for the ATR; the bridge answers a removed card by leaving the reader.
    pcsc_stack.wait_for_card(inserted.slot, present=False)
    assert _state(inserted.reader) == (False, None)


def test_bridge_reconnects_after_pcscd_restart(
    pcsc_stack: PcscStack, pcsc_cards: CardSlots
) -> None:
    inserted = pcsc_cards.insert(PS_001)
    pcsc_stack.restart_pcscd()  # waits until the bridge has brought the card back
    assert _state(inserted.reader) == (True, inserted.card.atr.hex())
    with open_transport(inserted.uri) as transport:
        assert transport.transmit(SELECT_MF).ok




@pytest.mark.parametrize(
    ("stop", "started"),
    [(signal.SIGINT, "foreground"), (signal.SIGINT, "background"),
     (signal.SIGTERM, "background")],
)
def test_sim_vpcd_command_serves_until_ctrl_c_or_sigterm(
    pcsc_stack: PcscStack, stop: signal.Signals, started: str
) -> None:
    slot = next(s for s in range(len(pcsc_stack.reader_names)) if not pcsc_stack.occupied(s))
    reader = pcsc_stack.reader_names[slot]
    argv = [sys.executable, "-m", "server.cli.main", "sim", "vpcd", str(PS_001),
            "--port", str(pcsc_stack.ports[slot])]
    proc = subprocess.Popen(
        as_background_job(argv) if started == "background" else argv,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pcsc_stack.wait_for_card(slot, present=True)
        card = SimulatedCard(load_card_file(PS_001))
        assert _state(reader) == (True, card.atr.hex())
        with open_transport(f"pcsc:{reader}") as transport:
            assert transport.transmit(SELECT_MF).ok
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err == ""
    iccid = load_card_file(PS_001).iccid
    assert f"card inserted into vpcd at 127.0.0.1:{pcsc_stack.ports[slot]}" in out
    assert f"serving card ICCID {iccid}" in out
    assert out.rstrip().endswith("card taken out of the reader")
    pcsc_stack.wait_for_card(slot, present=False)


def test_sim_vpcd_without_vpcd_listening() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_cli_process("sim", "vpcd", str(PS_001), "--port", str(port))
    assert run.code == 3
    assert run.err.count("\n") == 1 and "Traceback" not in run.err
    assert run.err.startswith(f"simattest: nothing accepts a virtual card at 127.0.0.1:{port}")


def test_sim_vpcd_with_a_bad_card_file() -> None:
    run = run_cli_process("sim", "vpcd", "no/such/card.yaml")
    assert run.code == 2
    assert run.err == "simattest: no/such/card.yaml: no such file\n"


def test_stack_without_pcscd_names_the_packages() -> None:
    with pytest.raises(TransportError) as missing:
        PcscStack(pcscd="pcscd-not-installed").start()
    assert str(missing.value) == (
        "pcscd-not-installed is not installed; install it with: "
        "apt-get install -y pcscd vsmartcard-vpcd"
    )


def test_one_stack_per_process(pcsc_stack: PcscStack) -> None:
    # libpcsclite talks to one socket per process: a second stack must refuse to start.
    with pytest.raises(TransportError, match="already running in this process"):
        PcscStack().start()
    assert [r.name for r in list_readers()] == pcsc_stack.reader_names


def test_second_card_in_an_occupied_slot_is_reported(pcsc_cards: CardSlots) -> None:
    inserted = pcsc_cards.insert(PS_001)
    port = pcsc_cards.stack.ports[inserted.slot]
    heard: list[str] = []
    ready = threading.Event()

    def notify(message: str) -> None:
        heard.append(message)
        if "another card" in message:
            ready.set()

    intruder = VpcdBridge(
        SimulatedCard(load_card_file(PS_001)), port, silence_warning=0.5, notify=notify
    )
    intruder.start()
    try:
        assert ready.wait(timeout=30)
    finally:
        intruder.stop()
    assert heard == [
        f"card inserted into vpcd at 127.0.0.1:{port}",
        f"vpcd at 127.0.0.1:{port} has not asked for the card in 0.5 s; "
        "is another card in that slot?",
    ]
    # The first card is still the one pcscd talks to.
    assert _state(inserted.reader) == (True, inserted.card.atr.hex())


@pytest.mark.parametrize("t0", [False, True])
def test_raw_case_3_select_through_pcscd_answers_61xx(
    pcsc_stack: PcscStack, pcsc_cards: CardSlots, t0: bool
) -> None:
    """What wpa_supplicant's PC/SC code sends, raw through pcscd and vpcd (no GET RESPONSE
    done for it): SELECT MF without Le gets SW 611F alone on T=1 as on T=0."""
    inserted = pcsc_cards.insert(PS_001, t0=t0)
    protocol = scard.SCARD_PROTOCOL_T0 if t0 else scard.SCARD_PROTOCOL_T1
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        hresult, handle, active = scard.SCardConnect(
            ctx, inserted.reader, scard.SCARD_SHARE_SHARED, protocol)
        assert (hresult, active) == (scard.SCARD_S_SUCCESS, protocol)
        hresult, answer = scard.SCardTransmit(handle, protocol, list(bytes.fromhex(
            "00A4000402 3F00")))
        assert (hresult, bytes(answer).hex().upper()) == (scard.SCARD_S_SUCCESS, "611F")
        hresult, answer = scard.SCardTransmit(handle, protocol, list(bytes.fromhex(
            "00C000001F")))
        assert hresult == scard.SCARD_S_SUCCESS
        assert len(answer) == 33 and bytes(answer[:2]) == b"\x62\x1d"
        assert bytes(answer[-2:]) == b"\x90\x00"
        scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
    finally:
        scard.SCardReleaseContext(ctx)
