"""Every quirk of the simulated modem, through real pyserial on a pty.

The reference for what the card holds is the same card file read in-process (``sim:``);
the modem path must give the same identities whatever the modem's habits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from attest.errors import TransportError
from hw.identity import read_identities
from hw.sim.modem import QUIRKS
from hw.transport.at import AtError
from hw.transport.base import open_transport
from hw.transport.modem import ModemTransport, SessionChannel, parse_session_id
from tests.fixtures_modem import PS_CARD, StartModem, modem_uri

ISIM_AID = bytes.fromhex("A0000000871004FFFFFFFF8907090000")  # the simulated card's


def identities(uri: str) -> dict[str, Any]:
    with open_transport(uri) as transport:
        found = read_identities(transport).to_json()
    del found["apdu_count"]  # a cost of the path, not an identity (CCHO has no APDU)
    return found


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    found = identities(f"sim:{PS_CARD}")
    # The card file's values, so a wrong reference cannot pass unnoticed.
    assert found["iccid"] == "8900101000000000019" and found["imsi"] == "001010000000001"
    assert found["isim"]["impu"][2] == "sip:unit-0001@mcptt.example.org"
    return found


WORKING_QUIRKS = sorted(set(QUIRKS) - {"no-sim"})


@pytest.mark.parametrize("quirk", WORKING_QUIRKS)
def test_read_through_each_quirk_matches_the_card(
    quirk: str, sim_modem: StartModem, reference: dict[str, Any]
) -> None:
    modem = sim_modem(quirks=[quirk], slow_delay=0.05)
    assert identities(modem_uri(modem)) == reference
    assert not any(c.endswith("=?") for c in modem.commands)  # support never probed
    assert modem.sessions == {} and modem.csim_channels == set()  # every channel closed


def test_all_compatible_quirks_at_once(sim_modem: StartModem, reference: dict[str, Any]) -> None:
    quirks = set(WORKING_QUIRKS) - {"no-cgla", "no-cgsn"}
    modem = sim_modem(quirks=quirks, slow_delay=0.02)
    assert identities(modem_uri(modem)) == reference


def test_echo_stays_on_and_is_dropped(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["echo"])
    with ModemTransport(str(modem.link), timeout=2) as transport:
        transport.transmit(bytes.fromhex("00A40004023F00"))
        assert "ATE0" in modem.commands
        assert modem._echo  # the modem kept echoing; the transport dropped each echo line


def test_urcs_are_set_aside_not_parsed(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["urc"])
    with ModemTransport(str(modem.link), timeout=2) as transport:
        resp = transport.transmit(bytes.fromhex("00A40004023F00"))
        assert resp.ok
        assert {"+QUSIM: 1", "+CPIN: READY", "PB DONE", "SMS DONE"} <= set(transport.at.urcs)


def test_no_basic_isim_refuses_the_basic_channel_and_ccho_reaches_the_isim(
    sim_modem: StartModem, reference: dict[str, Any]
) -> None:
    modem = sim_modem(quirks=["no-basic-isim"])
    with ModemTransport(str(modem.link), timeout=2) as transport:
        select_isim = bytes.fromhex("00A4040410") + ISIM_AID
        with pytest.raises(AtError) as refused:
            transport.transmit(select_isim)
        assert refused.value.code == 3 and refused.value.refused
        assert "operation not allowed" in str(refused.value)
        channel = transport.open_application_channel(ISIM_AID)
        assert isinstance(channel, SessionChannel)


@pytest.mark.parametrize("with_pin", [False, True], ids=["no PIN", "PIN"])
def test_no_basic_usim_reads_the_usim_through_ccho(
    sim_modem: StartModem, reference: dict[str, Any], with_pin: bool
) -> None:
    # A modem that keeps the basic channel for its own USIM session: `read` reaches the
    # USIM files (and verifies the PIN) on a CCHO session, closed again before the ISIM.
    card_file = PS_CARD.parent / ("ps-pin.yaml" if with_pin else "ps-001.yaml")
    modem = sim_modem(card_file, quirks=["no-basic-usim"])
    with open_transport(modem_uri(modem)) as transport:
        found = read_identities(transport, pin="1234" if with_pin else None).to_json()
    if not with_pin:
        del found["apdu_count"]
        assert found == reference
    else:
        assert found["imsi"] == "001010000000006"
    usim_ccho = [c for c in modem.commands if c.startswith('AT+CCHO="A0000000871002')]
    assert len(usim_ccho) == 1
    cgla = [c for c in modem.commands if c.startswith("AT+CGLA=")]
    assert any('"00B0870000"' in c for c in cgla)  # EF.IMSI by SFI on the USIM's session
    if with_pin:
        assert any('"0020000108' in c for c in cgla)  # VERIFY on the same session
    assert modem.sessions == {} and modem.csim_channels == set()


@pytest.mark.parametrize(
    "quirks", [[], ["ccho-prefix"], ["ccho-hex"], ["ccho-prefix", "ccho-hex"]]
)
def test_session_id_formats(sim_modem: StartModem, quirks: list[str]) -> None:
    # The modem prints 161, +CCHO: 161, A1 or +CCHO: A1 for the same session.
    modem = sim_modem(quirks=quirks)
    with ModemTransport(str(modem.link), timeout=2) as transport:
        channel = transport.open_application_channel(ISIM_AID)
        assert isinstance(channel, SessionChannel) and channel.session_id == 161
        # IMPI (6F02) under ADF.ISIM via CGLA, CLA channel bits left 0.
        assert channel.transmit(bytes.fromhex("00A4000C026F02")).ok
    assert 'AT+CGLA=161,14,"00A4000C026F02"' in modem.commands
    assert modem.commands[-1] == "AT+CCHC=161"
    assert modem.sessions == {}


def test_no_cgla_opens_channels_with_manage_channel_through_csim(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["no-cgla"])
    with ModemTransport(str(modem.link), timeout=2) as transport:
        channel = transport.open_application_channel(ISIM_AID)
        assert channel is not None and not isinstance(channel, SessionChannel)
        assert channel.number == 1
        assert channel.transmit(bytes.fromhex("00A4000C026F02")).ok
        assert modem.csim_channels == {1}
    sent = [c for c in modem.commands if c.startswith("AT+C")]
    assert 'AT+CSIM=10,"0070000001"' in sent
    assert 'AT+CSIM=14,"01A4000C026F02"' in sent  # CLA carries channel 1
    assert sent[-1] == 'AT+CSIM=8,"01708001"' or sent[-1] == 'AT+CSIM=8,"00708001"'
    assert not any(c.startswith("AT+CGLA") for c in sent)
    assert modem.csim_channels == set()


def test_slow_modem_within_the_timeout(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["slow"], slow_delay=1.0)
    with ModemTransport(str(modem.link), timeout=2) as transport:
        assert transport.transmit(bytes.fromhex("00A40004023F00")).ok


def test_slow_modem_beyond_the_timeout_names_port_and_command(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["slow"], slow_delay=1.0)
    with pytest.raises(TransportError, match=rf"^modem {re.escape(str(modem.link))}: no answer to "
                       r"AT within 0.3 s$"):
        ModemTransport(str(modem.link), timeout=0.3)


def test_garbage_before_the_first_answer(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["garbage"])
    with ModemTransport(str(modem.link), timeout=2) as transport:
        assert transport.transmit(bytes.fromhex("00A40004023F00")).ok
        assert any("\ufffd" in u for u in transport.at.urcs)  # the noise was set aside


@pytest.mark.parametrize("quirks", [["no-sim"], ["no-sim", "cme-text"]])
def test_no_sim_is_a_clear_transport_error(sim_modem: StartModem, quirks: list[str]) -> None:
    modem = sim_modem(quirks=quirks)
    with ModemTransport(str(modem.link), timeout=2) as transport, \
            pytest.raises(AtError) as err:
        read_identities(transport)
    assert err.value.code == 10 and err.value.exit_code == 3
    assert str(err.value).startswith(f"modem {modem.link}: AT+CSIM (APDU ")
    assert str(err.value).endswith("+CME ERROR 10: SIM not inserted")


def test_lowercase_hex_answers_are_accepted(sim_modem: StartModem) -> None:
    modem = sim_modem(quirks=["lower-hex"])
    read_dir = bytes.fromhex("00B201F400")  # EF.DIR (SFI 1E) record 1
    with ModemTransport(str(modem.link), timeout=2) as transport:
        resp = transport.transmit(read_dir)
    with open_transport(f"sim:{PS_CARD}") as direct:
        assert resp == direct.transmit(read_dir)
    assert resp.ok and resp.data[:1] == b"\x61"  # an application template


@pytest.mark.parametrize(
    ("quirks", "imei", "imeisv"),
    [([], "356938035640011", "3569380356400101"),
     (["cgsn-prefix"], "356938035640011", "3569380356400101"),
     (["no-cgsn"], "356938035640011", None)],
)
def test_handset_identity(
    sim_modem: StartModem, quirks: list[str], imei: str, imeisv: str | None
) -> None:
    modem = sim_modem(quirks=quirks)
    with ModemTransport(str(modem.link), timeout=2) as transport:
        ident = transport.handset_identity()
    assert (ident.imei, ident.imeisv) == (imei, imeisv)
    if "no-cgsn" in quirks:
        assert "AT+GSN" in modem.commands


def test_without_a_configured_imei_the_test_imei_is_reported(
    sim_modem: StartModem, tmp_path: Path
) -> None:
    card = tmp_path / "no-imei.yaml"
    card.write_text("".join(
        line for line in PS_CARD.read_text().splitlines(keepends=True)
        if not line.startswith("imei:")
    ))
    modem = sim_modem(card)
    with ModemTransport(str(modem.link), timeout=2) as transport:
        assert transport.handset_identity().imei == "490154203237518"


@pytest.mark.parametrize(
    ("line", "session"),
    [("161", 161), ("+CCHO: 161", 161), ("A1", 0xA1), ("+CCHO: A1", 0xA1),
     ("+CCHO: 0x10", 16), ('+CCHO: "7"', 7), ("1a", 0x1A)],
)
def test_session_id_parsing(line: str, session: int) -> None:
    assert parse_session_id(line, "/dev/ttyUSB2") == session


def test_one_at_command_per_apdu(sim_modem: StartModem) -> None:
    modem = sim_modem()
    with ModemTransport(str(modem.link), timeout=2) as transport:
        assert transport.startup_commands == 3  # AT, ATE0, AT+CMEE=1
        read_identities(transport)
        lines = transport.at.commands_sent - transport.startup_commands
        apdus = transport.apdu_count
    assert lines - apdus == 2  # only AT+CCHO and AT+CCHC around the ISIM carry no APDU
    sent = modem.commands[3:]
    assert sum(c.startswith(("AT+CSIM=", "AT+CGLA=")) for c in sent) == apdus


def test_csim_and_cgla_pass_61xx_through_for_a_command_without_le(sim_modem: StartModem) -> None:
    """+CSIM and +CGLA carry the card's own answer (TS 27.007 clauses 8.17, 8.43): a case-3
    SELECT answers 61xx there too, and the TE fetches the data with GET RESPONSE."""
    modem = sim_modem()
    answer = re.compile(r"^\+(CSIM|CGLA): ")
    with ModemTransport(str(modem.link), timeout=2) as transport:
        at = transport.at
        assert at.command('AT+CSIM=14,"00A40004023F00"', timeout=2,
                          answer=answer).lines == ('+CSIM: 4,"611F"',)
        (fcp,) = at.command('AT+CSIM=10,"00C000001F"', timeout=2, answer=answer).lines
        assert fcp.startswith('+CSIM: 66,"621D') and fcp.endswith('9000"')
        (session,) = at.command('AT+CCHO="A0000000871002"', timeout=2,
                                answer=re.compile(r"^\d+$")).lines
        sid = int(session)
        assert at.command(f'AT+CGLA={sid},10,"80F2000000"', timeout=2,
                          answer=answer).lines[0].endswith('9000"')
        assert at.command(f'AT+CGLA={sid},8,"80F20000"', timeout=2,
                          answer=answer).lines[0].startswith('+CGLA: 4,"61')
