"""Bad answers and link faults on the modem path: each one a clear error, nothing hangs.

The simulated modem's :class:`Faults` break the link on purpose; the pty and pyserial
are real.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from attest.aka.sqn import build_autn, join_sqn
from attest.errors import TransportError
from hw.cardfile import load_card_file
from hw.discovery import probe
from hw.identity import read_identities
from hw.sim.modem import Faults
from hw.transport.at import AtError, AtPinError
from hw.transport.modem import ModemTransport, SessionChannel, parse_apdu_answer
from hw.uicc.authenticate import AuthSuccess, authenticate_app
from tests.fixtures_modem import PS_CARD, StartModem

SELECT_MF = bytes.fromhex("00A4000C023F00")  # case 3, no data back: one AT command
REPO = Path(__file__).resolve().parent.parent


def open_modem(modem_link: object, timeout: float = 2.0) -> ModemTransport:
    return ModemTransport(str(modem_link), timeout=timeout)


def test_port_disappears_mid_command(sim_modem: StartModem) -> None:
    # Commands 1-3 are AT, ATE0, AT+CMEE=1; the pty goes away when the 5th arrives.
    modem = sim_modem(faults=Faults(vanish_at=5))
    transport = open_modem(modem.link)
    assert transport.transmit(SELECT_MF).ok
    with pytest.raises(TransportError, match=rf"^modem {re.escape(str(modem.link))}: port "
                       r"disappeared during AT\+CSIM \(APDU 00A4000C023F00\)"):
        transport.transmit(SELECT_MF)
    transport.close()  # closing a vanished port is quiet
    assert not transport.at.is_open


def test_modem_that_never_answers_names_port_and_command(sim_modem: StartModem) -> None:
    modem = sim_modem(faults=Faults(mute_from=1))
    with pytest.raises(TransportError, match=rf"^modem {re.escape(str(modem.link))}: "
                       r"no answer to AT within 0.5 s$"):
        open_modem(modem.link, timeout=0.5)


def test_modem_that_stops_answering_mid_session(sim_modem: StartModem) -> None:
    modem = sim_modem(faults=Faults(mute_from=4))
    with open_modem(modem.link, timeout=0.5) as transport, \
            pytest.raises(TransportError, match=r"no answer to AT\+CSIM \(APDU 00A4000C023F00\) "
                          r"within 0.5 s$"):
        transport.transmit(SELECT_MF)


@pytest.mark.parametrize(
    ("rewrite", "message"),
    [
        (lambda line: line[:-3], r"truncated or malformed answer to AT\+CSIM"),
        (lambda line: line.split(",")[0], r"truncated or malformed answer to AT\+CSIM"),
        (lambda line: line.replace(",", ",").replace(line.split(",")[0], "+CSIM: 40"),
         r"says 40 hex characters but carries \d+"),
        (lambda line: line[:-2] + '"', r"odd number of hex digits"),
        (lambda line: line.replace('"', '"ZZ', 1).replace(line.split(",")[0], "+CSIM: 99"),
         r"is not hex"),
        (lambda line: '+CSIM: 2,"90"', r"has no status word"),
    ],
    ids=["cut-quote", "no-data", "length-disagrees", "odd-digits", "not-hex", "no-sw"],
)
def test_malformed_csim_answers(
    sim_modem: StartModem, rewrite: Callable[[str], str], message: str
) -> None:
    modem = sim_modem(faults=Faults(rewrite=rewrite))
    with open_modem(modem.link) as transport, pytest.raises(TransportError, match=message) as err:
        transport.transmit(SELECT_MF)
    assert str(err.value).startswith(f"modem {modem.link}: ")


def test_answer_parser_accepts_lowercase_and_unquoted() -> None:
    assert parse_apdu_answer('+CSIM: 4,"9000"', "p", "c") == b"\x90\x00"
    assert parse_apdu_answer('+CGLA: 6,"ab9000"', "p", "c") == b"\xab\x90\x00"
    assert parse_apdu_answer("+CSIM: 4,9000", "p", "c") == b"\x90\x00"


# Which command fails with which CME code, and what the user sees.
CME_STEPS = [
    ("ATE0", 100, AtError, "ATE0 failed: ERROR"),  # before AT+CMEE=1: a bare ERROR
    ("AT+CMEE=1", 4, AtError, "AT+CMEE=1 failed: ERROR"),
    ("AT+CSIM", 13, AtError, "+CME ERROR 13: SIM failure"),
    ("AT+CSIM", 14, AtError, "+CME ERROR 14: SIM busy"),
    ("AT+CSIM", 11, AtPinError, "+CME ERROR 11: SIM PIN required"),
    ("AT+CCHO", 13, AtError, 'AT+CCHO="A0000000871004FFFFFFFF8907090000" failed: +CME ERROR 13'),
    ("AT+CGLA", 10, AtError, "+CME ERROR 10: SIM not inserted"),
    ("AT+CCHC", 13, AtError, "AT+CCHC=161 failed: +CME ERROR 13: SIM failure"),
]


@pytest.mark.parametrize(("prefix", "code", "error", "message"), CME_STEPS)
def test_cme_error_at_every_step(
    sim_modem: StartModem, prefix: str, code: int, error: type[AtError], message: str
) -> None:
    faults = Faults(error_for=lambda line: code if line.startswith(prefix) else None)
    modem = sim_modem(faults=faults)
    with pytest.raises(error) as err, open_modem(modem.link) as transport:
        read_identities(transport)
    assert message in str(err.value)
    assert err.value.exit_code == (1 if error is AtPinError else 3)
    if prefix != "AT+CCHC":  # a modem that refuses to close keeps its session
        assert modem.sessions == {}  # even when the read failed half-way


@pytest.mark.parametrize("text", ["SIM not inserted", "sim busy", "Operation not allowed"])
def test_text_cme_errors_map_to_their_numbers(sim_modem: StartModem, text: str) -> None:
    codes = {"sim not inserted": 10, "sim busy": 14, "operation not allowed": 3}
    modem = sim_modem(quirks=["cme-text"], faults=Faults(
        error_for=lambda line: codes[text.lower()] if line.startswith("AT+CSIM") else None
    ))
    with open_modem(modem.link) as transport, pytest.raises(AtError) as err:
        transport.transmit(SELECT_MF)
    assert err.value.code == codes[text.lower()]


def test_ccho_refused_falls_back_to_manage_channel(sim_modem: StartModem) -> None:
    modem = sim_modem(faults=Faults(error_for=lambda line: 4 if "CCHO" in line else None))
    with open_modem(modem.link) as transport:
        read_identities(transport)
    csim = [c for c in modem.commands if c.startswith("AT+CSIM")]
    assert 'AT+CSIM=10,"0070000001"' in csim and csim[-1] == 'AT+CSIM=8,"00708001"'
    assert modem.csim_channels == set()


def test_imei_falls_back_to_gsn_and_checks_luhn(sim_modem: StartModem) -> None:
    modem = sim_modem(imei="490154203237518", quirks=["no-cgsn"])
    with open_modem(modem.link) as transport:
        assert transport.handset_identity().imei == "490154203237518"
    bad = sim_modem(faults=Faults(error_for=lambda line: 4 if "GSN" in line else None))
    with open_modem(bad.link) as transport, \
            pytest.raises(TransportError, match="neither AT\\+CGSN nor AT\\+GSN gave an IMEI"):
        transport.handset_identity()


def test_imei_failing_luhn_is_refused(sim_modem: StartModem) -> None:
    modem = sim_modem()
    modem.imei = "490154203237519"  # a firmware bug: wrong check digit
    with open_modem(modem.link) as transport, \
            pytest.raises(TransportError, match=r"IMEI 490154203237519 .* fails the 15-digit Luhn"):
        transport.handset_identity()


def test_second_process_gets_port_busy(sim_modem: StartModem) -> None:
    modem = sim_modem()
    code = (
        "import sys\n"
        "from attest.errors import SimattestError\n"
        "from hw.transport.modem import ModemTransport\n"
        "try:\n"
        f"    ModemTransport({str(modem.link)!r}, timeout=1)\n"
        "except SimattestError as exc:\n"
        "    print(exc); sys.exit(exc.exit_code)\n"
    )
    with open_modem(modem.link):
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=30)
        assert other.returncode == 3
        assert other.stdout.strip() == f"modem {modem.link}: port busy (another process holds it)"
    # released on close: the next process gets the port
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert again.returncode == 0, again.stdout + again.stderr


def test_ctrl_c_inside_a_session_closes_channels_and_releases_the_port(
    sim_modem: StartModem,
) -> None:
    modem = sim_modem()
    with pytest.raises(KeyboardInterrupt), open_modem(modem.link) as transport:
        transport.open_application_channel(bytes.fromhex("A0000000871004FFFFFFFF8907090000"))
        assert modem.sessions != {}
        raise KeyboardInterrupt
    assert modem.sessions == {}
    with open_modem(modem.link) as again:
        assert again.transmit(SELECT_MF).ok


def test_missing_port_is_a_transport_error(tmp_path: object) -> None:
    with pytest.raises(TransportError, match=r"^modem /nonexistent/ttyUSB9: cannot open port: "):
        ModemTransport("/nonexistent/ttyUSB9", timeout=0.5)


def test_probe_retries_until_firmware_answers(sim_modem: StartModem) -> None:
    modem = sim_modem(faults=Faults(ignore_first=2))
    result = probe(str(modem.link), timeout=3, attempt_wait=0.2)
    assert result.answers and result.detail == "answers AT"
    assert modem.commands[:3] == ["AT", "AT", "AT"]


def test_probe_of_a_silent_or_busy_port(sim_modem: StartModem) -> None:
    silent = sim_modem(faults=Faults(mute_from=1))
    result = probe(str(silent.link), timeout=0.4, attempt_wait=0.1)
    assert not result.answers and "no answer to AT within 0.4 s" in result.detail
    busy = sim_modem()
    with open_modem(busy.link):
        result = probe(str(busy.link), timeout=0.4)
    assert not result.answers and "port busy" in result.detail


def test_usim_refused_on_the_basic_channel_goes_through_ccho(sim_modem: StartModem) -> None:
    usim = "A0000000871002FFFFFFFF8907090000"
    modem = sim_modem(faults=Faults(
        error_for=lambda line: 3 if line.startswith("AT+CSIM") and usim in line else None
    ))
    with open_modem(modem.link) as transport:
        channel = transport.open_application_channel(bytes.fromhex(usim))
        assert isinstance(channel, SessionChannel)
        # EF.IMSI (6F07) on the USIM's session: 001010000000001 as the card file says
        assert channel.transmit(bytes.fromhex("00A4000C026F07")).ok
        imsi = channel.transmit(bytes.fromhex("00B0000009"))
        assert imsi.data == bytes.fromhex("080910100000000010")
    assert f'AT+CCHO="{usim}"' in modem.commands and modem.sessions == {}


def test_usim_uses_the_basic_channel_when_the_modem_allows(sim_modem: StartModem) -> None:
    usim = bytes.fromhex("A0000000871002FFFFFFFF8907090000")
    modem = sim_modem()
    with open_modem(modem.link) as transport:
        assert transport.open_application_channel(usim) is transport.basic
    assert not any(c.startswith("AT+CCHO") for c in modem.commands)


def test_ctrl_c_during_a_command_closes_the_isim_session_and_frees_the_port(
    sim_modem: StartModem,
) -> None:
    """SIGINT while `simattest read` waits for a CGLA answer: the answer is drained, the
    session closed with AT+CCHC, the port released, exit 130."""
    modem = sim_modem(quirks=["slow"], slow_delay=0.1)
    reader = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "read", "--reader",
         f"modem:{modem.link}?timeout=5", "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        while not any(c.startswith("AT+CGLA") for c in modem.commands):
            assert reader.poll() is None, reader.communicate()
            time.sleep(0.01)
        reader.send_signal(signal.SIGINT)
        out, err = reader.communicate(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
    assert (reader.returncode, out, err) == (130, "", "simattest: interrupted\n")
    assert modem.commands[-1] == "AT+CCHC=161" and modem.sessions == {}
    with open_modem(modem.link) as again:  # the port is free and the line in sync
        assert again.transmit(SELECT_MF).ok


def test_pin_never_reaches_logs_or_errors(
    sim_modem: StartModem, caplog: pytest.LogCaptureFixture
) -> None:
    modem = sim_modem(faults=Faults(mute_from=5))
    verify = bytes.fromhex("002000010831323334FFFFFFFF")  # VERIFY PIN1 "1234"
    with caplog.at_level(logging.DEBUG), open_modem(modem.link, timeout=0.5) as transport:
        transport.transmit(SELECT_MF)
        with pytest.raises(TransportError) as err:
            transport.transmit(verify)
    assert "31323334" not in caplog.text and "31323334" not in str(err.value)
    assert "AT+CSIM (APDU 00200001 (data hidden))" in str(err.value)


def test_ck_ik_never_reach_the_debug_log(
    sim_modem: StartModem, caplog: pytest.LogCaptureFixture
) -> None:
    rand = bytes.fromhex("23553cbe9637a89d218ae64dae47bf35")
    autn = build_autn(load_card_file(PS_CARD).algorithm(), rand, join_sqn(1, 0), b"\x80\x00")
    modem = sim_modem()
    with caplog.at_level(logging.DEBUG), open_modem(modem.link) as transport:
        outcome = authenticate_app(transport, "isim", rand, autn)
    assert isinstance(outcome, AuthSuccess)
    assert "AT+CGLA=161" in caplog.text  # the exchange was logged ...
    for secret in (outcome.ck, outcome.ik):  # ... without the session keys
        assert secret.hex().upper() not in caplog.text.upper()
