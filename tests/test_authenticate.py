"""AUTHENTICATE: command encoding, strict answer parsing and outcome values.

The scripted card stands in for a card's exact answers (including malformed ones the
simulated card never produces); runs against a simulated card are in test_selfcheck.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from attest.aka.sqn import build_autn, join_sqn
from attest.errors import CardError, InputError
from hw.cardfile import load_card_file
from hw.transport.base import Channel, open_transport
from hw.uicc.authenticate import (
    AuthContext,
    AuthContextNotSupported,
    AuthGsmSuccess,
    AuthMacFailure,
    AuthPinNeeded,
    AuthSuccess,
    AuthSyncFailure,
    authenticate,
    parse_response,
)
from hw.uicc.ts_102_221 import Uicc
from tests.fixtures_uicc import ScriptedTransport

Script = Callable[[Sequence[tuple[str, str]]], ScriptedTransport]

RAND = bytes(range(16))
AUTN = bytes(range(0x10, 0x20))
CMD_3G = "0088008122 10" + RAND.hex() + "10" + AUTN.hex() + "00"
RES, CK, IK, KC = "11" * 8, "22" * 16, "33" * 16, "44" * 8


def answer(*parts: str) -> str:
    return "".join(parts) + "9000"


def test_3g_success_with_kc_in_one_apdu(scripted: Script) -> None:
    card = scripted([(CMD_3G, answer("DB08", RES, "10", CK, "10", IK, "08", KC))])
    out = authenticate(card.basic, RAND, AUTN)
    assert out == AuthSuccess(
        bytes.fromhex(RES), bytes.fromhex(CK), bytes.fromhex(IK), bytes.fromhex(KC)
    )
    assert card.apdu_count == 1


def test_ims_aka_success_without_kc(scripted: Script) -> None:
    card = scripted([(CMD_3G, answer("DB04", "A1A2A3A4", "10", CK, "10", IK))])
    out = authenticate(card.basic, RAND, AUTN)
    assert isinstance(out, AuthSuccess)
    assert out.res == bytes.fromhex("A1A2A3A4")
    assert out.kc is None


def test_t0_answer_takes_two_apdus(scripted: Script) -> None:
    body = "DB08" + RES + "10" + CK + "10" + IK
    card = scripted([(CMD_3G, "612C"), ("00C000002C", body + "9000")])
    assert isinstance(authenticate(card.basic, RAND, AUTN), AuthSuccess)
    assert card.apdu_count == 2


def test_on_a_logical_channel(scripted: Script) -> None:
    card = scripted([("01" + CMD_3G[2:], answer("DC0E", "55" * 14))])
    assert authenticate(Channel(card, 1), RAND, AUTN) == AuthSyncFailure(b"\x55" * 14)


@pytest.mark.parametrize(
    ("sw", "outcome"),
    [("9862", AuthMacFailure()), ("9864", AuthContextNotSupported()), ("6982", AuthPinNeeded())],
)
def test_status_words_are_outcomes(scripted: Script, sw: str, outcome: object) -> None:
    card = scripted([(CMD_3G, sw)])
    assert authenticate(card.basic, RAND, AUTN) == outcome


def test_unknown_status_word_is_a_card_error(scripted: Script) -> None:
    card = scripted([(CMD_3G, "6F00")])
    with pytest.raises(CardError, match=r"scripted:card: AUTHENTICATE: SW 6F00"):
        authenticate(card.basic, RAND, AUTN)


def test_gsm_context(scripted: Script) -> None:
    card = scripted([("0088008011 10" + RAND.hex() + "00", answer("04", "AABBCCDD", "08", KC))])
    out = authenticate(card.basic, RAND, context=AuthContext.GSM)
    assert out == AuthGsmSuccess(bytes.fromhex("AABBCCDD"), bytes.fromhex(KC))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "answer is empty"),
        ("DA0411223344", "byte 0 is DA, expected tag DB"),
        ("DB02AABB", "length of RES at byte 1 is 2, expected 4-32"),
        ("DB08" + RES + "0F" + "22" * 15, "length of CK at byte 10 is 15, expected 16, 32"),
        ("DB08" + RES + "10" + CK + "10" + "33" * 8, "IK at byte 28 needs 16 bytes, only 8 remain"),
        ("DB08" + RES + "10" + CK + "10" + IK + "07" + "44" * 7, "length of Kc at byte 44 is 7"),
        (
            "DB08" + RES + "10" + CK + "10" + IK + "08" + KC + "00",
            "1 unexpected byte(s) from byte 53",
        ),
        ("DB08" + RES + "10" + CK, "answer ends before the length of IK at byte 27"),
        ("DC0D" + "55" * 13, "length of AUTS at byte 1 is 13, expected 14, 22, 38"),
        ("DC0E" + "55" * 10, "AUTS at byte 2 needs 14 bytes, only 10 remain"),
    ],
)
def test_malformed_answers_name_the_field(data: str, message: str) -> None:
    with pytest.raises(CardError) as info:
        parse_response(bytes.fromhex(data), "pcsc:0: AUTHENTICATE")
    assert message in str(info.value)
    assert str(info.value).startswith("pcsc:0: AUTHENTICATE")


def test_malformed_gsm_answer(scripted: Script) -> None:
    card = scripted([("0088008011 10" + RAND.hex() + "00", answer("08", "AABBCCDD", "08", KC))])
    with pytest.raises(CardError, match="length of SRES at byte 0 is 8, expected 4"):
        authenticate(card.basic, RAND, context=AuthContext.GSM)


@pytest.mark.parametrize(
    ("rand", "autn", "message"),
    [
        (bytes(15), AUTN, "RAND must be 16 bytes, got 15"),
        (bytes(17), AUTN, "RAND must be 16 bytes, got 17"),
        (RAND, bytes(15), "AUTN must be 16 bytes"),
        (RAND, None, "AUTN must be 16 bytes"),
    ],
)
def test_sizes_checked_before_sending(
    scripted: Script, rand: bytes, autn: bytes | None, message: str
) -> None:
    card = scripted([])
    with pytest.raises(InputError, match=message):
        authenticate(card.basic, rand, autn)
    assert card.sent == []


def test_gsm_context_refuses_autn(scripted: Script) -> None:
    card = scripted([])
    with pytest.raises(InputError, match="GSM context takes RAND only"):
        authenticate(card.basic, RAND, AUTN, AuthContext.GSM)
    assert card.sent == []


def test_session_keys_stay_out_of_repr() -> None:
    text = repr(AuthSuccess(b"\x01" * 8, b"\xcc" * 16, b"\xdd" * 16, b"\xee" * 8))
    assert "cccc" not in text and "dddd" not in text and "eeee" not in text


@pytest.mark.parametrize(("t0", "apdus"), [("0", 1), ("1", 2)])
def test_one_apdu_with_the_app_selected_two_under_t0(t0: str, apdus: int) -> None:
    path = Path(__file__).resolve().parent.parent / "card_profiles" / "examples" / "ps-001.yaml"
    alg = load_card_file(path).algorithm()
    with open_transport(f"sim:{path}?t0={t0}") as transport:
        uicc = Uicc(transport)
        with uicc.application(uicc.find_application("usim")) as channel:
            before = transport.apdu_count
            out = authenticate(channel, RAND, build_autn(alg, RAND, join_sqn(1, 0), bytes(2)))
            assert transport.apdu_count - before == apdus
    assert isinstance(out, AuthSuccess)
    assert out.res == alg.f2345(RAND)[0]
