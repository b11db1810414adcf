"""The PC/SC transport's reader choice and faults, through a real pcscd + vpcd.

Every fault is one readable line and the transport exit code (3); a malformed URI is
exit 2. Nothing here mocks PC/SC: the "pcscd not running" case points a separate process
at a socket no daemon listens on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from smartcard import scard

from attest.errors import CardRemovedError, TransportError
from hw.apdu import build
from hw.cardfile import load_card_file
from hw.identity import read_identities
from hw.sim.card import SimulatedCard
from hw.sim.pcsc_stack import SOCKET_ENV, PcscStack
from hw.transport.base import Transport, open_transport
from hw.transport.pcsc import PcscTransport, protocol_for_atr, resolve_reader
from hw.transport.simulated import SimulatedTransport
from hw.uicc.authenticate import AuthContext, authenticate_app
from tests.fixtures_pcsc import EXAMPLES, REPO, CardSlots, CliRun, run_cli

PS_001 = EXAMPLES / "ps-001.yaml"
PS_PIN = EXAMPLES / "ps-pin.yaml"
RAND = bytes(range(16))
AUTN = bytes(range(16, 32))  # never checked: the card goes away before it looks


def _one_line(run: CliRun) -> str:
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.err
    return lines[0]


def test_glob_matching_two_readers_names_both(
    pcsc_stack: PcscStack, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = pcsc_stack.reader_names[:2]
    run = run_cli(capsys, "read", "--reader", "pcsc:Virtual PCD 00 0*")
    assert run.code == 3
    assert _one_line(run) == (
        f"simattest: reader pattern 'Virtual PCD 00 0*' matches 2 readers: {first}, {second}"
    )


def test_glob_matching_nothing_lists_the_readers(
    pcsc_stack: PcscStack, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "read", "--reader", "pcsc:Omnikey*")
    assert run.code == 3
    line = _one_line(run)
    assert "no reader matches 'Omnikey*'" in line
    assert all(name in line for name in pcsc_stack.reader_names)


def test_index_out_of_range_lists_the_readers(
    pcsc_stack: PcscStack, capsys: pytest.CaptureFixture[str]
) -> None:
    count = len(pcsc_stack.reader_names)
    run = run_cli(capsys, "read", "--reader", f"pcsc:{count}")
    assert run.code == 3
    line = _one_line(run)
    assert f"reader index {count} is out of range: {count} reader(s)" in line
    assert f"0: {pcsc_stack.reader_names[0]}" in line


@pytest.mark.parametrize("uri", ["pcsc:", "pcsc:-1"])
def test_malformed_pcsc_uri_is_usage_error(
    pcsc_stack: PcscStack, capsys: pytest.CaptureFixture[str], uri: str
) -> None:
    run = run_cli(capsys, "read", "--reader", uri)
    assert run.code == 2
    assert uri in _one_line(run)


def test_empty_reader_says_no_card(
    pcsc_stack: PcscStack, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = next(s for s in range(len(pcsc_stack.reader_names)) if not pcsc_stack.occupied(s))
    run = run_cli(capsys, "read", "--reader", pcsc_stack.uri(empty))
    assert run.code == 3
    assert _one_line(run) == f"simattest: no card in reader {pcsc_stack.reader_names[empty]!r}"


_BATCH = """
import contextlib, io, json, sys
from server.cli.main import main

def run_all():
    runs = []
    for argv in json.loads(sys.argv[2]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        runs.append((code, out.getvalue(), err.getvalue()))
    return runs

if sys.argv[1] == "readerless":
    from hw.sim.pcsc_stack import PcscStack
    with PcscStack(readers=0):
        runs = run_all()
elif sys.argv[1] == "omnikey":  # readers named as a real one, brackets and all
    from hw.cardfile import load_card_file
    from hw.sim.card import SimulatedCard
    from hw.sim.pcsc_stack import PcscStack
    with PcscStack(readers=2, name=sys.argv[3]) as stack:
        stack.attach(1, SimulatedCard(load_card_file(sys.argv[4])))
        runs = run_all()
else:
    runs = run_all()
print(json.dumps(runs))
"""
Batch = dict[tuple[str, ...], CliRun]


def _cli_batch(
    mode: str, argvs: tuple[tuple[str, ...], ...], env: dict[str, str], *extra: str
) -> Batch:
    proc = subprocess.run(
        [sys.executable, "-c", _BATCH, mode, json.dumps(argvs), *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return {argv: CliRun(*run) for argv, run in zip(argvs, json.loads(proc.stdout), strict=True)}


@pytest.fixture(scope="module")
def readerless() -> Batch:
    argvs = (
        ("read", "--reader", "pcsc:0"),
        ("read", "--reader", "pcsc:Virtual*"),
        ("readers", "--json"),
        ("readers",),
        ("modems",),
    )
    return _cli_batch("readerless", argvs, dict(os.environ))


OMNIKEY = "HID Global OMNIKEY 3x21 Smart Card Reader [OMNIKEY 3x21 Smart Card Reader]"


@pytest.fixture(scope="module")
def omnikey() -> Batch:
    """A stack of its own whose two readers carry a real reader's name; card in 00 01."""
    argvs = (
        ("readers", "--json"),
        ("read", "--reader", f"pcsc:{OMNIKEY} 00 01", "--json"),
        ("read", "--reader", "pcsc:HID Global OMNIKEY*01", "--json"),
        ("read", "--reader", "pcsc:HID Global OMNIKEY*"),
    )
    return _cli_batch("omnikey", argvs, dict(os.environ), OMNIKEY, str(PS_001))


def test_reader_named_with_brackets_is_found_by_its_exact_name(omnikey: Batch) -> None:
    # Read as a glob, "[OMNIKEY 3x21 ...]" is a character class and matches no reader.
    readers = json.loads(omnikey[("readers", "--json")].out)
    assert [r["name"] for r in readers] == [f"{OMNIKEY} 00 00", f"{OMNIKEY} 00 01"]
    run = omnikey[("read", "--reader", f"pcsc:{OMNIKEY} 00 01", "--json")]
    assert (run.code, run.err) == (0, "")
    assert json.loads(run.out)["iccid"] == "8900101000000000019"


def test_glob_still_selects_among_bracketed_names(omnikey: Batch) -> None:
    run = omnikey[("read", "--reader", "pcsc:HID Global OMNIKEY*01", "--json")]
    assert (run.code, run.err) == (0, "")
    assert json.loads(run.out)["iccid"] == "8900101000000000019"
    run = omnikey[("read", "--reader", "pcsc:HID Global OMNIKEY*")]
    assert run.code == 3
    assert "matches 2 readers" in _one_line(run)


@pytest.mark.parametrize(
    ("spec", "names", "chosen"),
    [
        # The exact name wins even where, read as a glob, it would match another reader.
        ("Reader [A] 00 00", ["Reader [A] 00 00", "Reader A 00 00"], "Reader [A] 00 00"),
        ("Reader [A] 00 00", ["Reader A 00 00", "Reader [A] 00 00"], "Reader [A] 00 00"),
        ("Reader [AB] 00 00", ["Reader [AB] 00 00"], "Reader [AB] 00 00"),
        ("Reader [AB]*", ["Reader A 00 00", "Reader [AB] 00 00"], "Reader A 00 00"),
        ("Virtual PCD 00 0[1]", ["Virtual PCD 00 00", "Virtual PCD 00 01"], "Virtual PCD 00 01"),
        ("1", ["Reader [A] 00 00", "Reader [A] 00 01"], "Reader [A] 00 01"),
    ],
)
def test_resolve_reader_exact_name_then_glob(spec: str, names: list[str], chosen: str) -> None:
    assert resolve_reader(spec, names) == chosen


@pytest.fixture(scope="module")
def no_pcscd(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    # The client looks for pcscd where none listens.
    nowhere = tmp_path_factory.mktemp("no-pcscd") / "pcscd.comm"
    argvs = (("readers",), ("read", "--reader", "pcsc:0"))
    return _cli_batch("as-is", argvs, {**os.environ, SOCKET_ENV: str(nowhere)})


@pytest.mark.parametrize("uri", ["pcsc:0", "pcsc:Virtual*"])
def test_no_reader_at_all(readerless: Batch, uri: str) -> None:
    run = readerless[("read", "--reader", uri)]
    assert run.code == 3
    assert _one_line(run) == "simattest: no PC/SC readers found (is a reader plugged in?)"


@pytest.mark.parametrize("argv", [("readers",), ("read", "--reader", "pcsc:0")])
def test_pcscd_not_running(no_pcscd: Batch, argv: tuple[str, ...]) -> None:
    run = no_pcscd[argv]
    assert run.code == 3
    assert _one_line(run) == "simattest: cannot reach pcscd (is the pcscd service running?)"


def test_readers_with_no_reader(readerless: Batch) -> None:
    run = readerless[("readers", "--json")]
    assert (run.code, run.out, run.err) == (0, "[]\n", "")
    run = readerless[("readers",)]
    # The note is for people (stderr); stdout, the data, is empty -- as `modems` does.
    assert (run.code, run.out) == (0, "")
    assert run.err == "no PC/SC readers (pcscd is running but reports none)\n"
    # This host has no modem either (a container; see test_discovery): same shape.
    run = readerless[("modems",)]
    assert (run.code, run.out, run.err) == (0, "", "no modem AT ports found\n")


_HOLDER = """
import sys
from hw.transport.pcsc import PcscTransport, protocol_for_atr
with PcscTransport(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.read()
"""


def test_reader_held_exclusively_by_another_process(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]
) -> None:
    inserted = pcsc_cards.insert(PS_001)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, inserted.reader],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        run = run_cli(capsys, "read", "--reader", inserted.uri)
        assert run.code == 3
        assert _one_line(run) == (
            f"simattest: reader {inserted.reader!r} is in use by another process"
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    # Released: the card is ours again.
    assert run_cli(capsys, "read", "--reader", inserted.uri, "--json").code == 0


def test_shared_connections_coexist_but_block_exclusive(pcsc_cards: CardSlots) -> None:
    inserted = pcsc_cards.insert(PS_001)
    select_mf = build(0x00, 0xA4, 0x00, 0x04, bytes.fromhex("3F00"), le=0)
    with (
        PcscTransport(inserted.reader, exclusive=False) as one,
        PcscTransport(inserted.reader, exclusive=False) as two,
    ):
        assert one.transmit(select_mf).ok and two.transmit(select_mf).ok
        with pytest.raises(TransportError, match="is in use by another process"):
            PcscTransport(inserted.reader)


def _authenticate_position(card_file: Path, t0: bool) -> int:
    """Which APDU of an ``auth`` session is AUTHENTICATE, counted by a card in process."""
    seen: list[int] = []

    class Recording(SimulatedCard):
        def process(self, apdu: bytes) -> bytes:
            seen.append(apdu[1])
            return super().process(apdu)

    from hw.cardfile import load_card_file

    card = Recording(load_card_file(card_file), t0=t0)
    authenticate_app(
        SimulatedTransport(card, "sim:recording"), "usim", RAND, AUTN, AuthContext.UMTS
    )
    return seen.index(0x88) + 1


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
def test_card_removed_mid_authenticate(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str], t0: bool
) -> None:
    position = _authenticate_position(PS_001, t0)
    inserted = pcsc_cards.insert(PS_001, t0=t0, remove_at=position)
    run = run_cli(
        capsys, "auth", "--rand", RAND.hex(), "--autn", AUTN.hex(), "--reader", inserted.uri
    )
    assert run.code == 3
    assert _one_line(run) == (
        f"simattest: card removed from reader {inserted.reader!r} while sending an APDU"
    )
    assert inserted.card.removed and inserted.card.apdu_count == position


def test_reset_starts_a_new_card_session(pcsc_cards: CardSlots) -> None:
    inserted = pcsc_cards.insert(PS_001)
    with open_transport(inserted.uri) as transport:
        assert transport.atr == inserted.card.atr
        opened = transport.transmit(build(0x00, 0x70, 0x00, 0x00, le=1))
        assert opened.ok and inserted.card.open_channels == [0, opened.data[0]]
        assert transport.reset() == inserted.card.atr
        assert inserted.card.open_channels == [0]


def test_closing_resets_so_a_verified_pin_does_not_linger(pcsc_cards: CardSlots) -> None:
    inserted = pcsc_cards.insert(PS_PIN)
    pin = b"1234".ljust(8, b"\xff")
    with open_transport(inserted.uri) as transport:
        assert transport.transmit(build(0x00, 0x20, 0x00, 0x01, pin)).ok
        assert inserted.card.pin1_verified
    assert not inserted.card.pin1_verified


def test_pcscd_restart_under_an_open_reader(pcsc_stack: PcscStack, pcsc_cards: CardSlots) -> None:
    inserted = pcsc_cards.insert(PS_001)
    select_mf = build(0x00, 0xA4, 0x00, 0x04, bytes.fromhex("3F00"), le=0)
    transport = open_transport(inserted.uri)
    try:
        assert transport.transmit(select_mf).ok
        pcsc_stack.restart_pcscd()
        with pytest.raises(TransportError) as gone:
            transport.transmit(select_mf)
        assert not isinstance(gone.value, CardRemovedError)
        assert str(gone.value) == (
            f"reader {inserted.reader!r} is gone: pcscd stopped or restarted while sending an APDU"
        )
    finally:
        transport.close()
    # The bridge reconnected to the new pcscd: the card is usable again.
    with open_transport(inserted.uri) as again:
        assert again.transmit(select_mf).ok


@pytest.mark.parametrize(
    ("atr", "protocol"),
    [
        ("3B9F96801FC78031E073FE211B633A204E83009000", scard.SCARD_PROTOCOL_T0),  # T=0 only
        ("3B9F96811FC78031E073FE211B633A204E8300900092", scard.SCARD_PROTOCOL_T1),  # T=1
        ("3B9F96801F878031E073FE211B674A4C753034054BA9", scard.SCARD_PROTOCOL_T0),  # T=0, T=15
    ],
)
def test_protocol_comes_from_the_atr(atr: str, protocol: int) -> None:
    assert protocol_for_atr(bytes.fromhex(atr)) == protocol


def test_malformed_atr_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="sent a malformed ATR 3BFF"):
        protocol_for_atr(bytes.fromhex("3BFF"), "Reader X")


@pytest.fixture
def dual_protocol_card(pcsc_stack: PcscStack) -> Iterator[tuple[str, SimulatedCard]]:
    """A card whose ATR offers T=0 (its default) and T=1, as many commercial UICCs do."""
    slot = next(s for s in range(len(pcsc_stack.reader_names)) if not pcsc_stack.occupied(s))
    card = SimulatedCard(load_card_file(PS_001), t0=True, offers_t1=True)
    pcsc_stack.attach(slot, card)
    try:
        yield pcsc_stack.reader_names[slot], card
    finally:
        pcsc_stack.detach(slot)


def _leave_running_t0(reader: str) -> None:
    """Another PC/SC client connects with T=0 and leaves the card unreset: pcscd keeps the
    card in T=0, and a connection asking for T=1 alone gets SCARD_E_PROTO_MISMATCH."""
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        hresult, card, active = scard.SCardConnect(
            ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0
        )
        assert (hresult, active) == (scard.SCARD_S_SUCCESS, scard.SCARD_PROTOCOL_T0)
        scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        hresult, card, _ = scard.SCardConnect(
            ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
        )
        assert hresult & 0xFFFFFFFF == scard.SCARD_E_PROTO_MISMATCH & 0xFFFFFFFF
    finally:
        scard.SCardReleaseContext(ctx)


def _read_json(transport: Transport) -> dict[str, object]:
    return read_identities(transport).to_json()


def test_card_offering_both_protocols_runs_t1(
    dual_protocol_card: tuple[str, SimulatedCard],
) -> None:
    reader, _card = dual_protocol_card
    with PcscTransport(reader) as transport:
        assert transport.protocol == "T=1"  # pcscd prefers T=1 when the ATR offers it
        via_pcsc = _read_json(transport)
    with open_transport(f"sim:{PS_001}?t0=1") as simulated:
        assert via_pcsc == _read_json(simulated)  # same APDUs, same count


def test_card_left_in_t0_is_used_in_t0_not_refused(
    dual_protocol_card: tuple[str, SimulatedCard],
) -> None:
    # The ATR prefers T=1, but the card already runs T=0: take what pcscd activated.
    reader, card = dual_protocol_card
    _leave_running_t0(reader)
    with PcscTransport(reader) as transport:
        assert transport.protocol == "T=0"
        before = card.apdu_count
        via_pcsc = _read_json(transport)
        assert via_pcsc["apdu_count"] == card.apdu_count - before
    with open_transport(f"sim:{PS_001}?t0=1") as simulated:
        assert via_pcsc == _read_json(simulated)
