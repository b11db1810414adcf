"""EAP-AKA with the field's own tools: wpa_supplicant's ``eapol_test`` on the simulated card.

``eapol_test`` (Debian ``eapoltest``) reads the card through its PC/SC USIM code
(``pcsc=""``) — libpcsclite → the tests' private pcscd → vpcd → the simulated card — and
authenticates over RADIUS to ``hostapd`` (Debian) as EAP server, whose AKA vectors come
from the test AuC (:mod:`tests.hlr_auc`) over ``eap_sim_db``. Nothing of ours sits between
the tools and the card: what passes here passes with a real card reader and real RADIUS.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hw.cardfile import CardFile, load_card_file
from tests.fixtures_pcsc import EXAMPLES, CardSlots
from tests.hlr_auc import HlrAuc, Subscriber

PS_001 = EXAMPLES / "ps-001.yaml"
SECRET = "radius-test-secret"
REALM = "wlan.mnc001.mcc001.3gppnetwork.org"
START_TIMEOUT = 20.0  # a bound against a hang, not a timed assertion
APT_LINE = "apt-get install -y eapoltest hostapd"
SENT, RECEIVED = "SCARD: scard_transmit: send -", "SCARD: scard_transmit: recv -"
DELTA = 2**28  # the card's SQN Δ limit (TS 33.102 annex C.2.2)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EapServer:
    port: int
    auc: HlrAuc
    log: Path


@pytest.fixture(scope="module")
def eap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EapServer]:
    """hostapd's integrated RADIUS/EAP server, its AKA vectors from the test AuC."""
    work = tmp_path_factory.mktemp("eap")
    auc = HlrAuc(work / "auc.sock", {}).start()
    port = _free_udp_port()
    (work / "eap_user").write_text('"0"*\tAKA\n')  # permanent AKA identities (RFC 4187)
    (work / "clients").write_text(f"127.0.0.1/32\t{SECRET}\n")
    conf = work / "hostapd.conf"
    conf.write_text(
        "driver=none\ninterface=simattest-as\n"
        f"radius_server_clients={work / 'clients'}\nradius_server_auth_port={port}\n"
        f"eap_server=1\neap_user_file={work / 'eap_user'}\neap_sim_db=unix:{auc.path}\n"
    )
    log = work / "hostapd.log"
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(["hostapd", "-d", str(conf)], stdout=out,
                                    stderr=subprocess.STDOUT)
    except FileNotFoundError:
        auc.stop()
        pytest.fail(f"hostapd is missing: {APT_LINE}")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "Setup of interface done" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"hostapd exited {proc.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, "hostapd did not come up"
            time.sleep(0.05)
        yield EapServer(port, auc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        auc.stop()


@dataclass(frozen=True)
class EapolRun:
    code: int
    verdict: str  # eapol_test's last line: SUCCESS or FAILURE
    scard: list[str]  # its SCARD lines (APDUs and their answers; no keys)


def eapol_test(server: EapServer, reader: str, imsi: str, tmp_path: Path) -> EapolRun:
    """``eapol_test`` with the card in ``reader`` as its USIM (``pcsc=""``)."""
    conf = tmp_path / "eapol_test.conf"
    conf.write_text(
        "network={\n  ssid=\"simattest\"\n  key_mgmt=WPA-EAP\n  eap=AKA\n"
        f"  identity=\"0{imsi}@{REALM}\"\n  pcsc=\"\"\n}}\n"
    )
    argv = ["eapol_test", "-c", str(conf), "-a", "127.0.0.1", "-p", str(server.port),
            "-s", SECRET, "-R", reader, "-t", "15"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.fail(f"eapol_test is missing: {APT_LINE}")
    lines = proc.stdout.splitlines()
    scard = [line for line in lines if line.startswith("SCARD:")]
    return EapolRun(proc.returncode, lines[-1] if lines else "", scard)


def subscriber(card: CardFile, seq: int = 0) -> Subscriber:
    return Subscriber(card.algorithm(), seq=seq)


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
def test_eap_aka_success(
    eap_server: EapServer, pcsc_cards: CardSlots, tmp_path: Path, t0: bool
) -> None:
    card = load_card_file(PS_001)
    eap_server.auc.reset({card.imsi: subscriber(card)})
    inserted = pcsc_cards.insert(PS_001, t0=t0)
    run = eapol_test(eap_server, inserted.reader, card.imsi, tmp_path)
    assert (run.code, run.verdict) == (0, "SUCCESS"), "\n".join(run.scard)
    protocol = "T0" if t0 else "T1"
    assert any(line.endswith(f"active_protocol={int(not t0) + 1} ({protocol})")
               for line in run.scard), "\n".join(run.scard)  # really this card, over PC/SC
    # Its SELECT carries no Le: on either protocol the card says 61xx and the data comes
    # with GET RESPONSE (ISO/IEC 7816-4, SW1 61; wpa_supplicant accepts nothing else).
    select_mf = run.scard.index(f"{SENT} hexdump(len=7): 00 a4 00 04 02 3f 00")
    assert run.scard[select_mf + 1].startswith(f"{RECEIVED} hexdump(len=2): 61 ")
    assert eap_server.auc.requests == [f"AKA-REQ-AUTH {card.imsi}"]  # one vector, no resync


@pytest.mark.parametrize(
    ("t0", "auc_seq"),
    [(False, DELTA + 5), (True, 0)],
    ids=["T=1 AuC ahead beyond delta", "T=0 AuC behind"],
)
def test_eap_aka_success_through_resynchronisation(
    eap_server: EapServer, pcsc_cards: CardSlots, tmp_path: Path, t0: bool, auc_seq: int
) -> None:
    # The AuC's next SEQ is auc_seq + 1: beyond the card's Δ, or one the card has
    # already accepted (personalised with SQN_MS = SEQ 1). The card answers AUTS,
    # hostapd hands it to the AuC (AKA-AUTS), which resynchronises; the second
    # challenge succeeds.
    card_file = tmp_path / "card.yaml"
    text = PS_001.read_text()
    card_file.write_text(text if auc_seq else text + "sqn_ms: '000000000020'\n")
    card = load_card_file(card_file)
    eap_server.auc.reset({card.imsi: subscriber(card, auc_seq)})
    inserted = pcsc_cards.insert(card_file, t0=t0)
    run = eapol_test(eap_server, inserted.reader, card.imsi, tmp_path)
    assert (run.code, run.verdict) == (0, "SUCCESS"), "\n".join(run.scard)
    assert eap_server.auc.requests == [f"AKA-REQ-AUTH {card.imsi}", f"AKA-AUTS {card.imsi}",
                                       f"AKA-REQ-AUTH {card.imsi}"]
    expected_seq_ms = 0 if auc_seq else 1  # the card's SEQ_MS, recovered from AUTS
    assert eap_server.auc.subscribers[card.imsi].resyncs == [expected_seq_ms]
    assert eap_server.auc.bad_auts == 0


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
def test_card_with_another_k_fails_cleanly(
    eap_server: EapServer, pcsc_cards: CardSlots, tmp_path: Path, t0: bool
) -> None:
    card = load_card_file(PS_001)
    eap_server.auc.reset({card.imsi: subscriber(card)})
    other = tmp_path / "other-k.yaml"
    other.write_text(PS_001.read_text().replace(card.ki.hex(), "0f" * 16))
    inserted = pcsc_cards.insert(other, t0=t0)
    run = eapol_test(eap_server, inserted.reader, card.imsi, tmp_path)
    assert run.verdict == "FAILURE" and run.code != 0
    assert eap_server.auc.requests == [f"AKA-REQ-AUTH {card.imsi}"]  # no AUTS: MAC failure
    # The simulated card is still there and answering: nothing crashed.
    again = eapol_test(eap_server, inserted.reader, card.imsi, tmp_path)
    assert again.verdict == "FAILURE"
    assert any("SCARD: card=" in line for line in again.scard)
