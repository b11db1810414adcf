"""The simulated modem as other tools see it, and its answers to bad input.

Raw command lines through real pyserial on the pty, the way a terminal program or
another tool (osmocom pySim's ``--modem-device``) talks to a module: no transport of
ours in between. Expected answers are TS 27.007 / V.250's, written out here.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import serial

from hw.sim.card import SimulatedCard
from hw.sim.modem import SimulatedModem
from tests.fixtures_modem import PS_CARD, StartModem

PIN_CARD = PS_CARD.parent / "ps-pin.yaml"
_FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*)\r\n$")
READ_TIMEOUT = 5.0  # a bound against a hang, not a timed assertion
SELECT_ICCID = 'AT+CSIM=14,"00A4000C022FE2"'
READ_ICCID = 'AT+CSIM=10,"00B000000A"'
# ps-001's ICCID 8900101000000000019 as EF.ICCID holds it (TS 102 221 clause 13.2:
# BCD, digits swapped in each byte, padded with F).
ICCID_BCD = "980001010000000010F9"


class Port:
    """A pyserial port on the modem's pty, one command line at a time."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port

    def raw(self, data: bytes) -> list[str]:
        """Write ``data``; the lines up to and including the final result code."""
        self.port.write(data)
        got = b""
        deadline = time.monotonic() + READ_TIMEOUT
        while not _FINAL.search(got):
            assert time.monotonic() < deadline, f"no final result code after {got!r}"
            got += self.port.read(self.port.in_waiting or 1)
        return [line for line in got.decode("ascii").split("\r\n") if line]

    def __call__(self, line: str) -> list[str]:
        return self.raw(line.encode("ascii") + b"\r")


@contextmanager
def opened(modem: SimulatedModem, *setup: str) -> Iterator[Port]:
    with serial.Serial(str(modem.link), 115200, timeout=0.2) as port:
        at = Port(port)
        for line in setup:
            assert at(line)[-1] == "OK"
        yield at


def card_of(modem: SimulatedModem) -> SimulatedCard:
    assert isinstance(modem.card, SimulatedCard)
    return modem.card


# --- what other tools send to open a modem ----------------------------------------------


def test_pysim_opening_sequence(sim_modem: StartModem) -> None:
    # pySim's ModemATCommandLink: AT (echo detected from the answer), ATZ, AT+CSIM=?.
    modem = sim_modem()
    with opened(modem) as at:
        assert at("AT") == ["AT\r", "OK"]  # echo on after power-up, V.250 default
        assert at("ATZ") == ["ATZ\r", "OK"]
        assert at("AT+CSIM=?") == ["AT+CSIM=?\r", "OK"]


def test_identification_commands(sim_modem: StartModem) -> None:
    version = importlib.metadata.version("simattest")
    modem = sim_modem()
    with opened(modem, "ATE0") as at:
        assert at("ATI") == ["simattest", "simulated modem", f"Revision: {version}", "OK"]
        for manufacturer in ("AT+CGMI", "AT+GMI"):
            assert at(manufacturer) == ["simattest", "OK"]
        for model in ("AT+CGMM", "AT+GMM"):
            assert at(model) == ["simulated modem", "OK"]
        for revision in ("AT+CGMR", "AT+GMR"):
            assert at(revision) == [version, "OK"]


@pytest.mark.parametrize(
    ("command", "answer"),
    [("AT+CSIM=?", []), ("AT+CCHO=?", []), ("AT+CGLA=?", []), ("AT+CCHC=?", []),
     ("AT+CMEE=?", ["+CMEE: (0-2)"]), ("AT+CGSN=?", ["+CGSN: (0-2)"]), ("AT+CPIN=?", []),
     ("at+cgmi=?", []), ("AT+GMR=?", [])],
)
def test_test_commands_answer_as_ts_27007_says(
    sim_modem: StartModem, command: str, answer: list[str]
) -> None:
    modem = sim_modem()
    with opened(modem, "ATE0") as at:
        assert at(command) == [*answer, "OK"]


@pytest.mark.parametrize(
    ("quirks", "refused", "answered"),
    [(["no-test-cmds"], ["AT+CSIM=?", "AT+CMEE=?", "AT+CGMI=?"], []),
     (["no-cgla"], ["AT+CCHO=?", "AT+CGLA=?", "AT+CCHC=?"], ["AT+CSIM=?"]),
     (["no-cgsn"], ["AT+CGSN=?"], ["AT+GSN=?"]),
     ([], ["AT+CFUN=?", "AT+XYZ=?"], [])],
)
def test_test_commands_refused(
    sim_modem: StartModem, quirks: list[str], refused: list[str], answered: list[str]
) -> None:
    modem = sim_modem(quirks=quirks)
    with opened(modem, "ATE0", "AT+CMEE=1") as at:
        for command in refused:
            assert at(command) == ["ERROR"]
        for command in answered:
            assert at(command) == ["OK"]


def test_atz_restores_the_default_settings(sim_modem: StartModem) -> None:
    modem = sim_modem()
    with opened(modem, "ATE0", "AT+CMEE=2") as at:
        assert at("AT+CMEE?") == ["+CMEE: 2", "OK"]
        assert at("ATZ") == ["OK"]  # still no echo: ATZ's own answer is sent after it
        assert at("AT+CMEE?") == ["AT+CMEE?\r", "+CMEE: 0", "OK"]  # echo back on


def test_cpin_ready_without_a_pin(sim_modem: StartModem) -> None:
    modem = sim_modem()
    with opened(modem, "ATE0", SELECT_ICCID) as at:
        iccid = at(READ_ICCID)
        assert iccid[0] == f'+CSIM: 24,"{ICCID_BCD}9000"'
        assert at("AT+CPIN?") == ["+CPIN: READY", "OK"]
        # The client's selection survived the query, and no channel was left open.
        assert at(READ_ICCID) == iccid
    assert card_of(modem).open_channels == [0]


def test_cpin_follows_pin1(sim_modem: StartModem) -> None:
    modem = sim_modem(PIN_CARD)
    card = card_of(modem)
    with opened(modem, "ATE0", "AT+CMEE=1") as at:
        assert at("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
        assert card.pin1_retries == 3  # asking spends no attempt
        verify = "0020000108" + b"1234".hex().upper() + "FFFFFFFF"
        assert at(f'AT+CSIM={len(verify)},"{verify}"') == ['+CSIM: 4,"9000"', "OK"]
        assert at("AT+CPIN?") == ["+CPIN: READY", "OK"]
    blocked = sim_modem(PIN_CARD)
    with opened(blocked, "ATE0") as at:
        wrong = "0020000108" + b"9999".hex().upper() + "FFFFFFFF"
        for _ in range(3):
            at(f'AT+CSIM={len(wrong)},"{wrong}"')
        assert at("AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]


def test_cpin_without_a_sim(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["no-sim"])
    with opened(modem, "ATE0", "AT+CMEE=1") as at:
        assert at("AT+CPIN?") == ["+CME ERROR: 10"]


# --- bad input: a module's answer, nothing changed, nothing crashed ----------------------


@pytest.mark.parametrize(
    "command", ["AT+FOO", "ATX99", "AT+CSIM", "AT+CSIM?", "AT+CCHOX=1", "HELLO", "AT+CMEE=7"]
)
def test_unknown_commands_are_error(sim_modem: StartModem, command: str) -> None:
    modem = sim_modem()
    card = card_of(modem)
    with opened(modem, "ATE0", "AT+CMEE=1") as at:
        before = card.apdu_count
        assert at(command) == ["ERROR"]
        assert at("AT+CMEE?") == ["+CMEE: 1", "OK"]  # the refused AT+CMEE=7 changed nothing
        assert card.apdu_count == before


@pytest.mark.parametrize(
    "command",
    [
        'AT+CSIM=12,"00A40000022FE2"',  # length disagrees with the hex
        'AT+CSIM=13,"00A40000022FE"',  # odd number of hex digits
        'AT+CSIM=14,"00A40000022FG2"',  # not hex
        'AT+CSIM=6,"00A400"',  # shorter than a command header
        f'AT+CSIM=524,"{"00D60000FF" + "00" * 257}"',  # longer than a short APDU
        'AT+CSIM=14,00A40000022FE2',  # no quotes
        'AT+CSIM=-14,"00A40000022FE2"',
        'AT+CSIM=14,"00A40000022FE2",1',
        'AT+CGLA=161,x,"00B0000001"',
        'AT+CGLA=161,10,"00B00000"',
        'AT+CCHO="A000"',  # not an AID
        'AT+CCHO=A0000000871002',
        "AT+CCHC=x",
    ],
)
def test_malformed_parameters_are_cme_50_and_never_reach_the_card(
    sim_modem: StartModem, command: str
) -> None:
    modem = sim_modem()
    card = card_of(modem)
    with opened(modem, "ATE0", "AT+CMEE=1", SELECT_ICCID) as at:
        before = card.apdu_count
        assert at(command) == ["+CME ERROR: 50"]
        assert card.apdu_count == before
        # The card's state is as it was: EF.ICCID still selected, no channel opened.
        assert at(READ_ICCID)[0] == f'+CSIM: 24,"{ICCID_BCD}9000"'
        assert card.open_channels == [0] and modem.sessions == {}


@pytest.mark.parametrize(
    ("cmee", "answer"), [("0", "ERROR"), ("2", "+CME ERROR: incorrect parameters")]
)
def test_malformed_parameters_follow_cmee(sim_modem: StartModem, cmee: str, answer: str) -> None:
    modem = sim_modem()
    with opened(modem, "ATE0", f"AT+CMEE={cmee}") as at:
        assert at('AT+CSIM=3,"00A4"') == [answer]


def test_unknown_session_is_invalid_index(sim_modem: StartModem) -> None:
    modem = sim_modem()
    with opened(modem, "ATE0", "AT+CMEE=1") as at:
        assert at('AT+CGLA=170,10,"00B0000001"') == ["+CME ERROR: 21"]
        assert at("AT+CCHC=170") == ["+CME ERROR: 21"]


@pytest.mark.parametrize("size", [2049, 5000, 70000])
def test_overlong_lines_are_one_error_and_the_line_survives(
    sim_modem: StartModem, size: int
) -> None:
    modem = sim_modem()
    card = card_of(modem)
    with opened(modem, "ATE0", "AT+CMEE=1", SELECT_ICCID) as at:
        before = (card.apdu_count, len(modem.commands))
        body = 'AT+CSIM=14,"00A40000022FE2"' + "0" * size  # a valid start, far too long
        assert at.raw(body.encode("ascii") + b"\r") == ["ERROR"]
        assert (card.apdu_count, len(modem.commands)) == before  # dropped whole
        assert at("AT") == ["OK"]  # the next line is read from its own start
        assert at(READ_ICCID)[0] == f'+CSIM: 24,"{ICCID_BCD}9000"'


def test_the_longest_line_still_taken(sim_modem: StartModem) -> None:
    # A maximal short APDU (UPDATE BINARY with 255 bytes) fits in the 2 KiB line.
    modem = sim_modem()
    with opened(modem, "ATE0", "AT+CMEE=1") as at:
        apdu = "00D60000FF" + "00" * 255
        answer = at(f'AT+CSIM={len(apdu)},"{apdu}"')
        assert answer[-1] == "OK" and answer[0].startswith("+CSIM: 4,")


def test_binary_noise_is_an_error_not_a_crash(sim_modem: StartModem) -> None:
    modem = sim_modem()
    with opened(modem, "ATE0", "AT+CMEE=1") as at:
        assert at.raw(b"\xff\xfe\x00AT\x80+CSIM\r") == ["ERROR"]
        assert at("AT") == ["OK"]
