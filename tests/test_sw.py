"""The status-word table against the numbers and wording of the specifications.

Every value below is written out from ETSI TS 102 221 clause 10.2.1 (tables 10.7-10.15),
3GPP TS 31.102 clause 7.3 (AUTHENTICATE), TS 51.011 clause 9.4 (the GSM class) and
ISO/IEC 7816-4 clause 5.1.3, not taken
from the code under test.
"""

from __future__ import annotations

import pytest

from hw.sw import SW, SWFamily, sw_meaning

# (name, the spec's SW1 SW2, words of the spec's meaning)
SPEC_ROWS = [
    (SW.OK, 0x9000, "normal ending of the command"),
    (SW.WARNING, 0x6200, "no information given, state of non-volatile memory unchanged"),
    (SW.DATA_MAY_BE_CORRUPTED, 0x6281, "part of returned data may be corrupted"),
    (SW.END_REACHED, 0x6282, "end of file/record reached before reading Le bytes"),
    (SW.FILE_INVALIDATED, 0x6283, "selected file invalidated"),
    (SW.FILE_TERMINATED, 0x6285, "selected file in termination state"),
    (SW.MORE_DATA_AVAILABLE, 0x62F1, "more data available"),
    (SW.MORE_DATA_PROACTIVE, 0x62F2, "more data available and proactive command pending"),
    (SW.MEMORY_UNCHANGED, 0x6400, "no information given, memory unchanged"),
    (SW.MEMORY_CHANGED, 0x6500, "no information given, memory changed"),
    (SW.MEMORY_PROBLEM, 0x6581, "memory problem"),
    (SW.WRONG_LENGTH, 0x6700, "wrong length"),
    (SW.CLA_FUNCTION_NOT_SUPPORTED, 0x6800, "function in CLA not supported"),
    (SW.CHANNEL_NOT_SUPPORTED, 0x6881, "logical channel not supported"),
    (SW.SECURE_MESSAGING_NOT_SUPPORTED, 0x6882, "secure messaging not supported"),
    (SW.NOT_ALLOWED, 0x6900, "command not allowed, no information given"),
    (SW.INCOMPATIBLE_FILE_STRUCTURE, 0x6981, "command incompatible with file structure"),
    (SW.SECURITY_NOT_SATISFIED, 0x6982, "security status not satisfied"),
    (SW.PIN_BLOCKED, 0x6983, "authentication/PIN method blocked"),
    (SW.REFERENCED_DATA_INVALIDATED, 0x6984, "referenced data invalidated"),
    (SW.CONDITIONS_NOT_SATISFIED, 0x6985, "conditions of use not satisfied"),
    (SW.NO_EF_SELECTED, 0x6986, "no EF selected"),
    (SW.WRONG_DATA, 0x6A80, "incorrect parameters in the data field"),
    (SW.FUNCTION_NOT_SUPPORTED, 0x6A81, "function not supported"),
    (SW.FILE_NOT_FOUND, 0x6A82, "file or application not found"),
    (SW.RECORD_NOT_FOUND, 0x6A83, "record not found"),
    (SW.NOT_ENOUGH_MEMORY, 0x6A84, "not enough memory space"),
    (SW.WRONG_P1P2, 0x6A86, "incorrect parameters P1 to P2"),
    (SW.LC_INCONSISTENT, 0x6A87, "Lc inconsistent with P1 to P2"),
    (SW.REFERENCE_NOT_FOUND, 0x6A88, "referenced data not found"),
    (SW.P1P2_OUT_OF_RANGE, 0x6B00, "wrong parameters P1-P2"),
    (SW.INS_NOT_SUPPORTED, 0x6D00, "instruction code not supported or invalid"),
    (SW.CLA_NOT_SUPPORTED, 0x6E00, "class not supported"),
    (SW.TECHNICAL_PROBLEM, 0x6F00, "technical problem, no precise diagnosis"),
    (SW.AUTH_MAC_FAILURE, 0x9862, "authentication error, incorrect MAC"),
    (SW.SECURITY_SESSION_EXPIRED, 0x9863, "security session or association expired"),
    (SW.AUTH_CONTEXT_NOT_SUPPORTED, 0x9864, "security context not supported"),
    (SW.KEY_FRESHNESS_FAILURE, 0x9865, "key freshness failure"),
    # The GSM class (3GPP TS 51.011 clause 9.4).
    (SW.GSM_NO_EF_SELECTED, 0x9400, "no EF selected"),
    (SW.GSM_OUT_OF_RANGE, 0x9402, "out of range, invalid address"),
    (SW.GSM_FILE_NOT_FOUND, 0x9404, "file ID not found"),
    (SW.GSM_FILE_INCONSISTENT, 0x9408, "file inconsistent with the command"),
    (SW.GSM_ACCESS_NOT_FULFILLED, 0x9804, "access condition not fulfilled"),
]


@pytest.mark.parametrize(("member", "value", "phrase"), SPEC_ROWS)
def test_status_word_value_and_meaning(member: SW, value: int, phrase: str) -> None:
    assert member == value
    assert phrase in member.meaning
    assert sw_meaning(value) == member.meaning


def test_every_status_word_of_the_table_is_checked_against_the_spec() -> None:
    assert sorted(row[0] for row in SPEC_ROWS) == sorted(SW)


def test_a_status_word_on_the_wire_compares_equal_to_its_name() -> None:
    # A card's answer parsed from bytes is a plain int; the table's names must match it.
    assert int.from_bytes(b"\x6a\x82", "big") == SW.FILE_NOT_FOUND
    assert SW.TECHNICAL_PROBLEM.to_bytes(2, "big") == b"\x6f\x00"
    assert f"{SW.SECURITY_NOT_SATISFIED:04X}" == "6982"


@pytest.mark.parametrize(
    ("family", "n", "sw"),
    [
        (SWFamily.MORE_DATA, 0x1C, 0x611C),
        (SWFamily.WRONG_LE, 0x0E, 0x6C0E),
        (SWFamily.PROACTIVE_PENDING, 0x12, 0x9112),
        (SWFamily.GSM_MORE_DATA, 0x20, 0x9F20),
        (SWFamily.INTERNAL_RETRIES, 1, 0x9201),
        (SWFamily.RETRIES_LEFT, 2, 0x63C2),
        (SWFamily.RETRIES_LEFT, 10, 0x63CA),
    ],
)
def test_family_builds_and_reads_its_number(family: SWFamily, n: int, sw: int) -> None:
    assert family.sw(n) == sw
    assert family.number(sw) == n


def test_family_does_not_claim_other_status_words() -> None:
    assert SWFamily.RETRIES_LEFT.number(0x6982) is None
    assert SWFamily.RETRIES_LEFT.number(0x63F1) is None  # "more data expected", no count
    assert SWFamily.INTERNAL_RETRIES.number(0x9240) is None
    assert SWFamily.MORE_DATA.number(0x6C10) is None


def test_family_number_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="RETRIES_LEFT carries 0 to 15, not 16"):
        SWFamily.RETRIES_LEFT.sw(16)
    with pytest.raises(ValueError, match="MORE_DATA carries 0 to 255, not 256"):
        SWFamily.MORE_DATA.sw(256)


@pytest.mark.parametrize(
    ("sw", "text"),
    [
        (0x9862, "incorrect MAC"),
        (0x63C2, "2 retries left"),
        (0x63C0, "0 retries left"),
        (0x6A83, "record not found"),
        (0x9863, "security session or association expired"),
        (0x9F20, "32 response bytes available"),
        (0x6110, "16 response bytes still available"),
        (0x6C0E, "wrong Le, 14 bytes available"),
        (0x9112, "proactive command of 18 bytes pending"),
        (0x9203, "after 3 internal retries"),
        (0x6A99, "wrong parameters"),
        (0x1234, "unknown status word"),
    ],
)
def test_sw_meaning(sw: int, text: str) -> None:
    assert text in sw_meaning(sw)
