"""The TS 102 221 client (hw.uicc.ts_102_221.Uicc) against a scripted card.

The scripted card (tests/fixtures_uicc.py) stands in for cards that behave unusually
(long files, an MF that is not current, odd status words); the exact APDUs sent are
part of what is checked, since every APDU costs time on a real reader.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

import pytest

from attest.errors import CardError, InputError
from hw.transport.base import Channel
from hw.uicc.ts_102_221 import (
    AID_ISIM_PREFIX,
    AID_USIM_PREFIX,
    FileNotFoundOnCard,
    PinNeeded,
    Uicc,
)
from tests.fixtures_uicc import ScriptedTransport

Script = Callable[[Sequence[tuple[str, str]]], ScriptedTransport]

USIM_AID = "A0000000871002FF33FF018900000100"
ISIM_AID = "A0000000871004FF33FF018900000100"
DIR_USIM = "6118 4F10" + USIM_AID + "5004 5553494D"
DIR_ISIM = "6118 4F10" + ISIM_AID + "5004 4953494D"


def test_select_fid_with_fcp(scripted: Script) -> None:
    card = scripted(
        [("00A40004026F0400", "6215820542210040058302 6F04 8A0105 800201 40 880120 9000")]
    )
    fcp = Uicc(card).select_fid(bytes.fromhex("6F04"))
    assert fcp is not None and (fcp.record_length, fcp.record_count) == (64, 5)


def test_select_not_found_names_reader_and_file(scripted: Script) -> None:
    card = scripted([("00A4000C025F90", "6A82")])
    with pytest.raises(FileNotFoundOnCard) as info:
        Uicc(card).select_fid(bytes.fromhex("5F90"), fcp=False)
    assert str(info.value) == "scripted:card: SELECT 5F90: SW 6A82 (file or application not found)"


def test_select_path_and_aid(scripted: Script) -> None:
    card = scripted([("00A4080C047F105F3D", "9000"), ("00A4040C10" + USIM_AID, "9000")])
    uicc = Uicc(card)
    assert uicc.select_path(bytes.fromhex("7F105F3D"), fcp=False) is None
    uicc.select_aid(bytes.fromhex(USIM_AID))
    assert card.done()


def test_select_malformed_fcp_is_card_error(scripted: Script) -> None:
    card = scripted([("00A40004026F0700", "621C8202 9000")])
    with pytest.raises(
        CardError, match=r"scripted:card: FCP of 6F07: tag 62 at byte 0 declares 28"
    ):
        Uicc(card).select_fid(bytes.fromhex("6F07"))


def test_read_binary_sfi_le00(scripted: Script) -> None:
    card = scripted([("00B0870000", "080910101032547698 9000")])
    assert Uicc(card).read_binary_sfi(7, "EF.IMSI") == bytes.fromhex("080910101032547698")


def test_read_binary_sfi_longer_than_256_continues_at_offset(scripted: Script) -> None:
    card = scripted(
        [
            ("00B0840000", "11" * 256 + "9000"),
            ("00B0010000", "22" * 256 + "9000"),
            ("00B0020000", "33" * 4 + "6282"),
        ]
    )
    data = Uicc(card).read_binary_sfi(4, "EF.UST")
    assert data == b"\x11" * 256 + b"\x22" * 256 + b"\x33" * 4


def test_read_binary_sfi_exactly_256_ends_on_6b00(scripted: Script) -> None:
    card = scripted([("00B0840000", "11" * 256 + "9000"), ("00B0010000", "6B00")])
    assert Uicc(card).read_binary_sfi(4, "EF.UST") == b"\x11" * 256


def test_read_transparent_sized_from_fcp(scripted: Script) -> None:
    card = scripted(
        [
            ("00A40004026F0700", "6212 820241218302 6F07 8A0105 80020130 880138 9000"),
            ("00B0000000", "AA" * 256 + "9000"),
            ("00B0010030", "BB" * 0x30 + "9000"),
        ]
    )
    uicc = Uicc(card)
    fcp = uicc.select_fid(bytes.fromhex("6F07"))
    assert fcp is not None
    assert uicc.read_transparent(fcp, "EF.X") == b"\xaa" * 256 + b"\xbb" * 0x30


def test_read_transparent_short_answer_is_an_error(scripted: Script) -> None:
    card = scripted(
        [
            ("00A40004026F0700", "620F 820241218302 6F07 80020009 880138 9000"),
            ("00B0000009", "0809 6282"),
            ("00B0000207", "6B00"),
        ]
    )
    uicc = Uicc(card)
    fcp = uicc.select_fid(bytes.fromhex("6F07"))
    assert fcp is not None
    with pytest.raises(CardError, match=r"EF.X ended at byte 2, its FCP says 9 bytes"):
        uicc.read_transparent(fcp, "EF.X")


def test_records_without_sfi_are_read_sized_from_fcp(scripted: Script) -> None:
    card = scripted(
        [
            ("00A40004026F0900", "620E 820542210004 03 8302 6F09 880100 9000"),
            ("00B2010404", "80026162 9000"),
            ("00B2020404", "FFFFFFFF 9000"),
        ]
    )
    records = list(Uicc(card).iter_records(None, bytes.fromhex("6F09"), "EF.P-CSCF"))
    assert records == [(1, bytes.fromhex("80026162"))]  # the unused record 2 ends the list
    assert card.done()


def test_records_by_sfi_until_record_not_found(scripted: Script) -> None:
    card = scripted(
        [("00B2012400", "8003616263 9000"), ("00B2022400", "8001 64 9000"), ("00B2032400", "6A83")]
    )
    records = list(Uicc(card).iter_records(4, bytes.fromhex("6F04"), "EF.IMPU"))
    assert [n for n, _ in records] == [1, 2]


def test_card_refusing_sfi_gets_select_by_fid(scripted: Script) -> None:
    # Some cards do not resolve SFIs: the file is then selected and read by its size.
    card = scripted(
        [
            ("00B0870000", "6A81"),
            ("00A40004026F0700", "620F 820241218302 6F07 80020009 880100 9000"),
            ("00B0000009", "080910101032547698 9000"),
            ("00B2012400", "6981"),
            ("00A40004026F0400", "620E 820542210010 02 8302 6F04 880100 9000"),
            ("00B2010410", "800E" + b"tel:+155501000".hex() + "9000"),
            ("00B2020410", "6A83"),
        ]
    )
    uicc = Uicc(card)
    assert uicc.read_ef(7, bytes.fromhex("6F07"), "EF.IMSI") == bytes.fromhex("080910101032547698")
    assert [r for _, r in uicc.iter_records(4, bytes.fromhex("6F04"), "EF.IMPU")] == [
        bytes.fromhex("800E") + b"tel:+155501000"
    ]
    assert card.done()


def test_sfi_failure_other_than_refusal_is_not_retried(scripted: Script) -> None:
    card = scripted([("00B0870000", "6F00")])
    with pytest.raises(CardError, match="SW 6F00"):
        Uicc(card).read_ef(7, bytes.fromhex("6F07"), "EF.IMSI")
    assert card.done()


def test_pin_needed_is_its_own_error(scripted: Script) -> None:
    card = scripted([("00B0870000", "6982")])
    with pytest.raises(PinNeeded, match=r"verify the PIN first"):
        Uicc(card).read_binary_sfi(7, "EF.IMSI")


def test_unknown_status_word_is_named(scripted: Script) -> None:
    card = scripted([("00B0870000", "6F42")])
    with pytest.raises(CardError, match=r"READ BINARY EF.IMSI: SW 6F42 \(unknown status word\)"):
        Uicc(card).read_binary_sfi(7, "EF.IMSI")


def test_dir_stops_when_both_apps_found(scripted: Script) -> None:
    card = scripted([("00B201F400", DIR_USIM + "FFFF 9000"), ("00B202F400", DIR_ISIM + "9000")])
    apps = Uicc(card).applications((AID_USIM_PREFIX, AID_ISIM_PREFIX))
    assert [a.label for a in apps] == ["USIM", "ISIM"]
    assert card.done()


def test_dir_stops_on_record_not_found(scripted: Script) -> None:
    card = scripted([("00B201F400", DIR_USIM + "9000"), ("00B202F400", "6A83")])
    assert len(Uicc(card).applications((AID_USIM_PREFIX, AID_ISIM_PREFIX))) == 1
    assert card.done()


def test_dir_passes_over_empty_records(scripted: Script) -> None:
    # A deleted application leaves an unused record; the ISIM after it is still found.
    card = scripted(
        [
            ("00B201F400", "FF" * 26 + "9000"),
            ("00B202F400", DIR_USIM + "9000"),
            ("00B203F400", "FF" * 26 + "9000"),
            ("00B204F400", DIR_ISIM + "9000"),
        ]
    )
    apps = Uicc(card).applications((AID_USIM_PREFIX, AID_ISIM_PREFIX))
    assert [(a.label, a.record) for a in apps] == [("USIM", 2), ("ISIM", 4)]
    assert card.done()
    # Without a USIM+ISIM pair to stop at, the read goes on to the 6A83 after the gaps.
    card = scripted(
        [
            ("00B201F400", DIR_USIM + "9000"),
            ("00B202F400", "FF" * 26 + "9000"),
            ("00B203F400", "6A83"),
        ]
    )
    assert len(Uicc(card).applications((AID_USIM_PREFIX, AID_ISIM_PREFIX))) == 1
    assert card.done()


def test_dir_without_sfi_passes_over_empty_records(scripted: Script) -> None:
    # A card that refuses SFI 1E from the MF too: EF.DIR by FID, records sized by its FCP.
    card = scripted(
        [
            ("00B201F400", "6A82"),
            ("00A4000C023F00", "9000"),
            ("00B201F400", "6A82"),
            ("00A40004022F0000", "6216 82054221002003 83022F00 A5038001FF 8A0105 8801F0 9000"),
            ("00B2010420", "FF" * 32 + "9000"),
            ("00B2020420", DIR_ISIM + "FF" * 6 + "9000"),
            ("00B2030420", DIR_USIM + "FF" * 6 + "9000"),
        ]
    )
    apps = Uicc(card).applications((AID_USIM_PREFIX, AID_ISIM_PREFIX))
    assert [(a.label, a.record) for a in apps] == [("ISIM", 2), ("USIM", 3)]
    assert card.done()


def test_dir_selects_mf_once_when_another_df_is_current(scripted: Script) -> None:
    card = scripted(
        [
            ("00B201F400", "6A82"),
            ("00A4000C023F00", "9000"),
            ("00B201F400", DIR_USIM + "9000"),
            ("00B202F400", "6A83"),
        ]
    )
    assert [a.aid.hex().upper() for a in Uicc(card).applications()] == [USIM_AID]


def test_dir_wrong_file_under_sfi_1e_also_falls_back(scripted: Script) -> None:
    card = scripted(
        [
            ("00B201F400", "0203AABBCC 9000"),
            ("00A4000C023F00", "9000"),
            ("00B201F400", "0203AABBCC 9000"),
        ]
    )
    with pytest.raises(CardError, match=r"EF.DIR record 1: expected application template tag 61"):
        Uicc(card).applications()


def test_logical_channel_is_closed_even_when_the_body_fails(scripted: Script) -> None:
    card = scripted(
        [
            ("0070000001", "01 9000"),
            ("01A4040C10" + ISIM_AID, "9000"),
            ("01B0820000", "6F00"),
            ("00708001", "9000"),
        ]
    )
    uicc = Uicc(card)
    with pytest.raises(CardError), uicc.application(bytes.fromhex(ISIM_AID), logical=True) as ch:
        assert ch.number == 1
        uicc.read_binary_sfi(2, "EF.IMPI", ch)
    assert card.done()


def test_channel_4_and_up_use_further_interindustry_cla(scripted: Script) -> None:
    card = scripted(
        [
            ("0070000001", "05 9000"),
            ("41A4040C10" + ISIM_AID, "9000"),
            ("00708005", "9000"),
        ]
    )
    with Uicc(card).application(bytes.fromhex(ISIM_AID), logical=True) as ch:
        assert ch.number == 5
    assert card.done()


def test_manage_channel_bad_answer(scripted: Script) -> None:
    card = scripted([("0070000001", "9000")])
    with pytest.raises(CardError, match=r"MANAGE CHANNEL open returned no data"):
        Uicc(card).open_channel()


class NativeChannelTransport(ScriptedTransport):
    """A transport with its own way to reach an application (like a modem's AT+CCHO)."""

    def __init__(self, script: Sequence[tuple[str, str]]) -> None:
        super().__init__(script)
        self.opened: list[bytes] = []
        self.closed: list[int] = []

    def open_application_channel(self, aid: bytes) -> Channel | None:
        self.opened.append(aid)
        return Channel(self, 2)

    def close_channel(self, channel: Channel) -> None:
        self.closed.append(channel.number)


def test_native_application_channel_is_used_without_select() -> None:
    card = NativeChannelTransport([("02B0820000", "8003616263 9000")])
    uicc = Uicc(card)
    with uicc.application(bytes.fromhex(ISIM_AID), logical=True) as ch:
        assert uicc.read_binary_sfi(2, "EF.IMPI", ch) == bytes.fromhex("8003616263")
    assert card.opened == [bytes.fromhex(ISIM_AID)]
    assert card.closed == [2]
    assert card.done()


def test_basic_channel_application_selects_aid(scripted: Script) -> None:
    card = scripted([("00A4040C10" + USIM_AID, "9000")])
    with Uicc(card).application(bytes.fromhex(USIM_AID)) as ch:
        assert ch.number == 0
    assert card.done()


# --- PIN: the retry counter is always read first; the last attempt needs force ---------


def test_pin_retry_counter_read_before_verify(scripted: Script) -> None:
    card = scripted([("00200001", "63C3"), ("002000010831323334FFFFFFFF", "9000")])
    Uicc(card).verify_pin("1234")
    assert card.done()


def test_pin_not_needed_sends_no_pin(scripted: Script) -> None:
    card = scripted([("00200001", "9000")])
    Uicc(card).verify_pin("1234")
    assert card.sent == ["00200001"]


def test_disabled_pin_is_not_an_error(scripted: Script) -> None:
    # Real cards report the retry counter of a disabled PIN too, then refuse VERIFY with
    # 6984 without counting an attempt: nothing needs verifying, the caller goes on.
    card = scripted([("00200001", "63C3"), ("002000010831323334FFFFFFFF", "6984")])
    Uicc(card).verify_pin("1234")
    assert card.done()
    # Others answer the retry query itself with 6984: the PIN never goes to the card.
    card = scripted([("00200001", "6984")])
    Uicc(card).verify_pin("1234")
    assert card.sent == ["00200001"]


def test_application_on_the_universal_pin(scripted: Script) -> None:
    # No key reference 01 (6A88): the universal PIN (11) is queried, then verified.
    card = scripted(
        [("00200001", "6A88"), ("00200011", "63C3"), ("002000110831323334FFFFFFFF", "9000")]
    )
    Uicc(card).verify_pin("1234")
    assert card.done()
    # Its last attempt is protected like PIN1's.
    card = scripted([("00200001", "6A88"), ("00200011", "63C1")])
    with pytest.raises(CardError, match="only one PIN attempt left"):
        Uicc(card).verify_pin("1234")
    assert card.done()


def test_pin_reference_missing_altogether_is_an_error(scripted: Script) -> None:
    card = scripted([("00200001", "6A88"), ("00200011", "6A88")])
    with pytest.raises(CardError, match=r"VERIFY universal PIN \(retry counter\): SW 6A88"):
        Uicc(card).verify_pin("1234")
    assert card.done()


def test_last_pin_attempt_not_spent_without_force(scripted: Script) -> None:
    card = scripted([("00200001", "63C1")])
    with pytest.raises(
        CardError, match=r"only one PIN attempt left; not spending it without --force"
    ):
        Uicc(card).verify_pin("1234")
    assert card.sent == ["00200001"]  # the PIN itself never went to the card


def test_last_pin_attempt_spent_with_force(scripted: Script) -> None:
    card = scripted([("00200001", "63C1"), ("002000010831323334FFFFFFFF", "9000")])
    Uicc(card).verify_pin("1234", force=True)
    assert card.done()


def test_wrong_pin_reports_attempts_left_and_is_not_retried(scripted: Script) -> None:
    card = scripted([("00200001", "63C3"), ("002000010831313131FFFFFFFF", "63C2")])
    with pytest.raises(CardError, match=r"wrong PIN, 2 attempt"):
        Uicc(card).verify_pin("1111")
    assert len(card.sent) == 2


def test_blocked_pin_is_not_tried(scripted: Script) -> None:
    card = scripted([("00200001", "6983")])
    with pytest.raises(CardError, match=r"PIN1 is blocked"):
        Uicc(card).verify_pin("1234", force=True)
    assert card.sent == ["00200001"]


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "١٢٣٤"])
def test_malformed_pin_never_reaches_the_card(scripted: Script, pin: str) -> None:
    card = scripted([])
    with pytest.raises(InputError, match=r"PIN must be 4 to 8 decimal digits"):
        Uicc(card).verify_pin(pin)
    assert card.sent == []


def test_first_error_survives_a_failing_channel_close(scripted: Script) -> None:
    # The body fails, then closing the channel fails too: the body's error is reported.
    card = scripted(
        [
            ("0070000001", "02 9000"),
            ("02A4040C10" + ISIM_AID, "9000"),
            ("02B0820000", "6F01"),
            ("00708002", "6881"),
        ]
    )
    uicc = Uicc(card)
    opened = uicc.application(bytes.fromhex(ISIM_AID), logical=True)
    with pytest.raises(CardError, match=r"READ BINARY EF\.IMPI: SW 6F01"), opened as ch:
        uicc.read_binary_sfi(2, "EF.IMPI", ch)
    assert card.done()


def test_channel_close_failure_is_reported_when_nothing_else_failed(scripted: Script) -> None:
    card = scripted(
        [
            ("0070000001", "02 9000"),
            ("02A4040C10" + ISIM_AID, "9000"),
            ("00708002", "6881"),
        ]
    )
    opened = Uicc(card).application(bytes.fromhex(ISIM_AID), logical=True)
    with pytest.raises(CardError, match="closing logical channel 2: SW 6881"), opened:
        pass


def test_apdu_log_never_shows_the_pin(scripted: Script, caplog: pytest.LogCaptureFixture) -> None:
    card = scripted([("00200001", "63C3"), ("002000010837333539FFFFFFFF", "9000")])
    with caplog.at_level(logging.DEBUG, logger="hw.transport.base"):
        Uicc(card).verify_pin("7359")
    text = caplog.text
    assert "scripted:card > 00200001" in text  # the APDUs are logged …
    assert "37333539" not in text and "7359" not in text  # … the PIN is not


def test_select_aid_p2_0c_refused_is_asked_with_p2_04(scripted: Script) -> None:
    card = scripted(
        [
            ("00A4040C10" + USIM_AID, "6A86"),
            ("00A4040410" + USIM_AID + "00", "6216 8202782184 10" + USIM_AID + " 9000"),
        ]
    )
    fcp = Uicc(card).select_aid(bytes.fromhex(USIM_AID))
    assert fcp is not None and fcp.df_name == bytes.fromhex(USIM_AID)


def test_select_by_fid_or_path_p2_0c_refused_is_asked_with_p2_04(scripted: Script) -> None:
    # Older cards know only "return FCP": DF.ProSe's presence and the MF still resolve.
    card = scripted(
        [
            ("00A4000C025F90", "6A86"),
            ("00A40004025F9000", "620D 82027821 83025F90 A5038001FF 9000"),
            ("00A4080C047F105F3D", "6A86"),
            ("00A40804047F105F3D00", "6208 82027821 83025F3D 9000"),
        ]
    )
    uicc = Uicc(card)
    fcp = uicc.select_fid(bytes.fromhex("5F90"), fcp=False)
    assert fcp is not None and (fcp.structure, fcp.fid) == ("df", bytes.fromhex("5F90"))
    assert uicc.select_path(bytes.fromhex("7F105F3D"), fcp=False) is not None
    assert card.done()


def test_select_p2_04_refused_too_is_an_error_not_a_loop(scripted: Script) -> None:
    card = scripted([("00A4000C025F90", "6A86"), ("00A40004025F9000", "6A86")])
    with pytest.raises(CardError, match=r"SELECT 5F90: SW 6A86"):
        Uicc(card).select_fid(bytes.fromhex("5F90"), fcp=False)
    assert card.done()


def test_le_00_refused_is_read_by_fid_and_size(scripted: Script) -> None:
    card = scripted(
        [
            ("00B0830000", "6700"),
            ("00A40004026FAD00", "620F 820241218302 6FAD 80020004 880118 9000"),
            ("00B0000004", "00000002 9000"),
        ]
    )
    assert Uicc(card).read_ef(3, bytes.fromhex("6FAD"), "EF.AD") == bytes.fromhex("00000002")


# --- PIN management (TS 102 221 clauses 11.1.10 to 11.1.13) -----------------------------

def test_last_puk_attempt_not_spent_without_force(scripted: Script) -> None:
    card = scripted([("002C0001", "63C1")])
    with pytest.raises(CardError, match=r"the PUK of PIN1: only one PUK attempt left"):
        Uicc(card).unblock_pin("12345678", "4321")
    assert card.sent == ["002C0001"]  # neither the PUK nor the new PIN went to the card
    card = scripted([("002C0001", "63C1"),
                     ("002C000110313233343536373834333231FFFFFFFF", "9000")])
    Uicc(card).unblock_pin("12345678", "4321", force=True)
    assert card.done()


def test_blocked_puk_and_missing_puk_are_not_tried(scripted: Script) -> None:
    card = scripted([("002C0081", "6983")])
    with pytest.raises(CardError, match=r"the PUK of PIN2 is blocked; the card cannot "
                                        r"unblock this PIN any more"):
        Uicc(card).unblock_pin("12345678", "4321", reference=0x81, force=True)
    card = scripted([("002C0011", "6A88")])
    with pytest.raises(CardError, match=r"no unblocking PIN \(PUK\) for universal PIN"):
        Uicc(card).unblock_pin("12345678", "4321", reference=0x11)
    assert card.done()


def test_change_disable_enable_send_the_spec_apdus(scripted: Script) -> None:
    old, new = "31323334FFFFFFFF", "35363738FFFFFFFF"
    card = scripted([("00200001", "63C3"), (f"0024000110{old}{new}", "9000"),
                     ("00200001", "9000"), (f"0026000108{new}", "9000"),
                     ("00200001", "63C3"), (f"0028000108{new}", "9000")])
    uicc = Uicc(card)
    uicc.change_pin("1234", "5678")
    uicc.disable_pin("5678")
    uicc.enable_pin("5678")
    assert card.done()


@pytest.mark.parametrize(("sw", "message"), [
    ("6984", "PIN1 is disabled (enable it first)"),
    ("6985", "PIN1 is already enabled"),
    ("63C2", "PIN1: wrong PIN, 2 attempt(s) left"),
])
def test_pin_command_refusals_in_words(scripted: Script, sw: str, message: str) -> None:
    card = scripted([("00200001", "63C3"), ("002800010831323334FFFFFFFF", sw)])
    with pytest.raises(CardError, match=re.escape(message)):
        Uicc(card).enable_pin("1234")


def test_pin_status_spends_nothing(scripted: Script) -> None:
    # VERIFY and UNBLOCK without data, and STATUS for the FCP's PIN status template.
    fcp = "621B8202782183027FF08A01058B032F0601C609900140830101830181"
    card = scripted([("00200081", "63C2"), ("80F2000000", fcp + "9000"),
                     ("002C0081", "63C9")])
    status = Uicc(card).pin_status(0x81)
    assert status is not None
    assert (status.name, status.enabled, status.retries, status.verified,
            status.puk_retries) == ("PIN2", True, 2, False, 9)
    assert Uicc(scripted([("00200011", "6A88")])).pin_status(0x11) is None
