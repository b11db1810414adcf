"""APDU layer: encoding, logical-channel CLA, and T=0 procedure bytes (61xx / 6Cxx).

The raw exchange here is a recorded list of answers: it stands in for a T=0 card so that
every case-1..4 APDU can be driven through 61xx and 6Cxx deterministically.
"""

from __future__ import annotations

import pytest

from attest.errors import CardError
from hw.apdu import Response, build, channel_of, exchange, loggable, set_channel


class Wire:
    """Records what goes on the wire and answers from a list."""

    def __init__(self, *answers: str) -> None:
        self.answers = [bytes.fromhex(a) for a in answers]
        self.sent: list[str] = []

    def __call__(self, command: bytes) -> bytes:
        self.sent.append(command.hex().upper())
        return self.answers.pop(0)


def test_build_cases_1_to_4() -> None:
    assert build(0x00, 0x70, 0x80, 0x01).hex().upper() == "00708001"
    assert build(0x00, 0xB0, 0x82, 0x00, le=0).hex().upper() == "00B0820000"
    assert build(0x00, 0xA4, 0x00, 0x0C, b"\x6f\x07").hex().upper() == "00A4000C026F07"
    assert build(0x00, 0xA4, 0x00, 0x04, b"\x6f\x07", 0).hex().upper() == "00A40004026F0700"
    with pytest.raises(ValueError):
        build(0, 0, 0, 0, bytes(256))


@pytest.mark.parametrize(
    ("channel", "cla"), [(0, 0x00), (1, 0x01), (3, 0x03), (4, 0x40), (5, 0x41), (19, 0x4F)]
)
def test_set_channel_encodes_cla(channel: int, cla: int) -> None:
    out = set_channel(bytes.fromhex("00B0000000"), channel)
    assert out[0] == cla
    assert out[1:] == bytes.fromhex("B0000000")
    assert channel_of(cla) == channel


def test_set_channel_keeps_proprietary_class_bit() -> None:
    assert set_channel(bytes.fromhex("80F20000"), 2)[0] == 0x82
    assert set_channel(bytes.fromhex("80F20000"), 6)[0] == 0xC2


def test_set_channel_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        set_channel(bytes.fromhex("00B00000"), 20)


def test_t1_answer_passes_through() -> None:
    wire = Wire("01029000")
    assert exchange(wire, bytes.fromhex("00B0830000")) == Response(b"\x01\x02", 0x9000)
    assert wire.sent == ["00B0830000"]


def test_61xx_fetched_with_get_response_case4() -> None:
    wire = Wire("6110", "00" * 16 + "9000")
    resp = exchange(wire, bytes.fromhex("00A40004026F0700"))
    assert resp == Response(bytes(16), 0x9000)
    assert wire.sent == ["00A40004026F0700", "00C0000010"]


def test_61xx_loops_and_joins_data() -> None:
    wire = Wire("6104", "AABBCCDD6102", "EEFF9000")
    resp = exchange(wire, bytes.fromhex("0088008122" + "00" * 34 + "00"))
    assert resp == Response(bytes.fromhex("AABBCCDDEEFF"), 0x9000)
    assert wire.sent[1:] == ["00C0000004", "00C0000002"]


def test_get_response_goes_on_the_same_logical_channel() -> None:
    wire = Wire("6102", "01029000")
    exchange(wire, set_channel(bytes.fromhex("00A40004026F0700"), 2))
    assert wire.sent[1] == "02C0000002"
    wire = Wire("6102", "01029000")
    exchange(wire, set_channel(bytes.fromhex("00A40004026F0700"), 7))
    assert wire.sent[1] == "43C0000002"


def test_6cxx_resends_case2_with_new_le() -> None:
    wire = Wire("6C09", "080910101032547698" + "9000")
    resp = exchange(wire, bytes.fromhex("00B0870000"))
    assert resp.data == bytes.fromhex("080910101032547698")
    assert wire.sent == ["00B0870000", "00B0870009"]


def test_6cxx_resend_case1_gains_le() -> None:
    wire = Wire("6C02", "AABB9000")
    exchange(wire, bytes.fromhex("00CA0066"))
    assert wire.sent == ["00CA0066", "00CA006602"]


def test_6cxx_resend_keeps_data_of_case3_and_case4() -> None:
    wire = Wire("6C05", "01020304059000")
    exchange(wire, bytes.fromhex("00CB3FFF045C027F21"))
    assert wire.sent[1] == "00CB3FFF045C027F2105"
    wire = Wire("6C05", "01020304059000")
    exchange(wire, bytes.fromhex("00CB3FFF045C027F2100"))
    assert wire.sent[1] == "00CB3FFF045C027F2105"


def test_6cxx_then_61xx() -> None:
    wire = Wire("6C10", "6110", "11" * 16 + "9000")
    resp = exchange(wire, bytes.fromhex("01B2010400"))
    assert resp.data == b"\x11" * 16
    assert wire.sent == ["01B2010400", "01B2010410", "01C0000010"]


def test_get_response_answered_6cxx_is_resent_once() -> None:
    wire = Wire("6100", "6C20", "22" * 32 + "9000")
    resp = exchange(wire, bytes.fromhex("00A40004026F0700"))
    assert resp.data == b"\x22" * 32
    assert wire.sent[1:] == ["00C0000000", "00C0000020"]


def test_6cxx_is_resent_only_once() -> None:
    wire = Wire("6C04", "6C05")
    resp = exchange(wire, bytes.fromhex("00B0000000"))
    assert resp.sw == 0x6C05
    assert len(wire.sent) == 2


def test_9fxx_of_gsm_cards_is_fetched_like_61xx() -> None:
    # TS 51.011 clause 9.4.1: 9Fxx announces xx bytes; GET RESPONSE keeps the command's class.
    wire = Wire("9F0F", "6215820138" + "8A0105" + "8302 3F00" + "C60390 0100" + "9000")
    resp = exchange(wire, bytes.fromhex("A0A40000023F00"))
    assert resp.sw == 0x9000 and resp.data[:2] == bytes.fromhex("6215")
    assert wire.sent == ["A0A40000023F00", "A0C000000F"]
    wire = Wire("9F02", "01029000")
    assert exchange(wire, set_channel(bytes.fromhex("00A40004026F0700"), 1)).data == b"\x01\x02"
    assert wire.sent[1] == "01C0000002"


def test_endless_61xx_is_an_error_not_a_hang() -> None:
    wire = Wire(*(["6101"] + ["006101"] * 100))
    with pytest.raises(CardError, match="61xx"):
        exchange(wire, bytes.fromhex("00A40004026F0700"))


def test_answer_without_status_word_is_a_card_error() -> None:
    with pytest.raises(CardError, match="no status word"):
        exchange(Wire("90"), bytes.fromhex("00B0000000"))


def test_ok_includes_proactive_pending() -> None:
    assert Response(b"", 0x9000).ok
    assert Response(b"", 0x9112).ok
    assert Response(b"", 0x9201).ok
    assert not Response(b"", 0x6A82).ok


def test_loggable_hides_pin_data_only() -> None:
    assert loggable(bytes.fromhex("002000010831323334FFFFFFFF")) == "00200001 (data hidden)"
    assert loggable(bytes.fromhex("002C00011031323334353637383132333435363738")).endswith("hidden)")
    assert loggable(bytes.fromhex("00B0870000")) == "00B0870000"
