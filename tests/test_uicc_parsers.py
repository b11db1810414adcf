"""Decoders of TS 102 221 / TS 31.102 / TS 31.103 against bytes built by hand from the specs.

Malformed and truncated inputs stand for a misbehaving card: each must give one
CardError that names the file or tag and the byte, never an IndexError.
"""

from __future__ import annotations

import pytest

from attest.errors import CardError
from hw.uicc import ts_31_102 as usim
from hw.uicc import ts_31_103 as isim
from hw.uicc.tlv import parse_tlvs
from hw.uicc.ts_102_221 import parse_dir_record, parse_fcp

H = bytes.fromhex

# EF.IMSI as TS 102 221 clause 11.1.1.3 lays out an EF's FCP: descriptor 41 21 (shareable
# transparent), FID 6F07, proprietary A5, life cycle 05, security 8B, size 9, SFI 07.
FCP_IMSI = H("621C820241218302 6F07A503800171 8A01058B036F0602 800200098801 38".replace(" ", ""))
# EF.IMPU: linear fixed (42), record length 0x40, 5 records, SFI 04.
FCP_IMPU = H("6215820542210040058302 6F04 8A0105 800201 40 880120".replace(" ", ""))
# ADF.USIM: descriptor 78 21, DF name, PIN status template: PS_DO 80 -> key 01 enabled, 81 not.
FCP_ADF = H(
    "6224 820278 21 8410A0000000871002FF33FF018900000100 8A0105 C60990018083010183 0181".replace(
        " ", ""
    )
)


def test_fcp_of_transparent_ef() -> None:
    fcp = parse_fcp(FCP_IMSI)
    assert fcp.structure == "transparent"
    assert fcp.fid == H("6F07")
    assert fcp.file_size == 9
    assert fcp.sfi == 7
    assert fcp.life_cycle == 5
    assert fcp.record_length is None


def test_fcp_of_linear_fixed_ef() -> None:
    fcp = parse_fcp(FCP_IMPU)
    assert (fcp.structure, fcp.record_length, fcp.record_count) == ("linear_fixed", 64, 5)
    assert fcp.sfi == 4
    assert fcp.file_size == 0x140


def test_fcp_record_count_in_two_bytes() -> None:
    # ISO/IEC 7816-4 form: 2-byte number of records (here 5 records of 0x26 bytes).
    fcp = parse_fcp(H("620B 8206 422100260005 8801 20".replace(" ", "")))
    assert (fcp.structure, fcp.record_length, fcp.record_count, fcp.sfi) == (
        "linear_fixed", 0x26, 5, 4
    )


def test_fcp_of_cyclic_and_ber_tlv_ef() -> None:
    assert parse_fcp(H("6207820546210010 03".replace(" ", ""))).structure == "cyclic"
    assert parse_fcp(H("6204820239 21".replace(" ", ""))).structure == "ber_tlv"


def test_fcp_of_adf_with_pin_status() -> None:
    fcp = parse_fcp(FCP_ADF)
    assert fcp.structure == "df"
    assert fcp.df_name == H("A0000000871002FF33FF018900000100")
    assert fcp.pins == {0x01: True, 0x81: False}


def test_fcp_empty_sfi_means_none() -> None:
    assert parse_fcp(H("620682024121 8800".replace(" ", ""))).sfi is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "expected FCP template tag 62"),
        ("6F020000", "expected FCP template tag 62 at byte 0, found tag 6F"),
        ("621C820241", "tag 62 at byte 0 declares 28 bytes but only 3 remain"),
        ("62058202412183", "tag 83 at byte 6 has no length byte"),
        ("62078202412183026F", "tag 83 at byte 6 declares 2 bytes but only 1 remain"),
        ("6204830 26F07".replace(" ", ""), "file descriptor (tag 82) missing"),
        ("6206820442210040", "record file descriptor (tag 82 at byte 2) has 4 bytes"),
        ("62068203412101", "tag 62 at byte 0 declares 6 bytes but only 5"),
        ("6207820241218301 6F".replace(" ", ""), "tag 83 at byte 6 has 1 bytes, expected 2"),
        ("62058202412188", "tag 88 at byte 6 has no length byte"),
        ("62019F", "tag at byte 2 is truncated"),
        ("6203828241", "length of tag 82 at byte 2 is truncated"),
        ("62808202412100 00", "indefinite length"),
    ],
)
def test_malformed_fcp_names_tag_and_byte(data: str, message: str) -> None:
    with pytest.raises(CardError) as info:
        parse_fcp(H(data.replace(" ", "")), "FCP of 6F07")
    assert message in str(info.value)
    assert str(info.value).startswith("FCP of 6F07")


def test_tlv_padding_ends_the_list() -> None:
    tlvs = parse_tlvs(H("800361626380 00FFFFFF".replace(" ", "")), "x")
    assert [(t.tag, t.value, t.offset) for t in tlvs] == [(0x80, b"abc", 0), (0x80, b"", 5)]


def test_tlv_long_form_length() -> None:
    value = bytes(200)
    (tlv,) = parse_tlvs(H("8081C8") + value, "x")
    assert tlv.value == value


def test_dir_record() -> None:
    rec = (
        H("6118 4F10A0000000871002FF33FF018900000100 5004 5553494D".replace(" ", "")) + b"\xff" * 8
    )
    app = parse_dir_record(rec, 1)
    assert app is not None
    assert app.aid == H("A0000000871002FF33FF018900000100")
    assert app.label == "USIM"
    assert parse_dir_record(b"\xff" * 30, 2) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("4F07A0000000871002", "expected application template tag 61 at byte 0, found tag 4F"),
        ("6109 4F07A00000008710", "tag 61 at byte 0 declares 9 bytes but only 8 remain"),
        ("6106 4F07A0000000", "tag 4F at byte 2 declares 7 bytes but only 4 remain"),
        ("6106 50045553494D", "AID (tag 4F) missing"),
    ],
)
def test_malformed_dir_record(data: str, message: str) -> None:
    with pytest.raises(CardError) as info:
        parse_dir_record(H(data.replace(" ", "")), 3)
    assert "EF.DIR record 3" in str(info.value)
    assert message in str(info.value)


def test_iccid_swapped_bcd_with_padding() -> None:
    assert usim.decode_iccid(H("98103254769810325476")) == "89012345678901234567"
    assert usim.decode_iccid(H("981032547698103254F6")) == "8901234567890123456"


def test_iccid_wrong_length_and_bad_digit() -> None:
    with pytest.raises(CardError, match=r"EF.ICCID has 9 bytes, expected 10"):
        usim.decode_iccid(H("981032547698103254"))
    with pytest.raises(CardError, match=r"EF.ICCID: byte 2 holds a non-decimal digit"):
        usim.decode_iccid(H("9810A254769810325476"))


def test_imsi_odd_and_even_digit_counts() -> None:
    # 15 digits 001010123456789: byte 2 = digit 1 (0) | odd + type IMSI (9).
    assert usim.decode_imsi(H("080910101032547698")) == "001010123456789"
    # 14 digits 00101012345678: even indicator (1), F filler in the last high nibble.
    assert usim.decode_imsi(H("0801101010325476F8")) == "00101012345678"


def test_imsi_padded_with_f() -> None:
    # 13 digits 0010101234567 with the length byte counting all 8 bytes: FF after them.
    assert usim.decode_imsi(H("0809101010325476FF")) == "0010101234567"
    # 12 digits, even indicator, length byte 08: F filler and a whole FF byte.
    assert usim.decode_imsi(H("08011010103254F6FF")) == "001010123456"
    # A correct length byte (07) and an FF byte after the IMSI in a 9-byte file.
    assert usim.decode_imsi(H("0709101010325476FF")) == "0010101234567"
    # The file is longer than 9 bytes (proprietary padding).
    assert usim.decode_imsi(H("080910101032547698FFFF")) == "001010123456789"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("08", "EF.IMSI has 1 bytes"),
        ("0909101010325476981F", "length byte at byte 0 is 09, expected 01-08"),
        ("08091010103254", "says 8 bytes follow, only 6 do"),
        ("080A10101032547698", "identity type 2 is not IMSI"),
        ("08011010103254769F", "even digit count but the last nibble is not the F filler"),
        ("08091010A032547698", "byte 4 holds a non-decimal digit"),
        ("0809101010325476F8", "byte 1 says an odd number of digits, the file holds 14"),
        ("FFFFFFFFFFFFFFFFFF", "length byte at byte 0 is FF"),
    ],
)
def test_imsi_malformed(data: str, message: str) -> None:
    with pytest.raises(CardError, match=message):
        usim.decode_imsi(H(data))


def test_mnc_length_from_ef_ad() -> None:
    assert usim.decode_mnc_length(H("00000002")) == 2
    assert usim.decode_mnc_length(H("8000000301")) == 3
    assert usim.decode_mnc_length(H("000000")) is None
    # Reserved values (cards personalised before the field existed): unknown, not an error.
    assert usim.decode_mnc_length(H("00000005")) is None
    assert usim.decode_mnc_length(H("000000FF")) is None


def test_service_table_bits() -> None:
    # Byte 1 bit 1 = service 1; byte 13 bit 5 = service 101; byte 14 bit 5 = service 109.
    table = bytearray(14)
    table[0] = 0x01 | 0x04
    table[12] = 0x10
    table[13] = 0x10
    assert usim.decode_service_table(bytes(table)) == [1, 3, 101, 109]
    assert usim.decode_service_table(H("0040")) == [15]


def test_isim_tag80_text() -> None:
    data = b"\x80\x1b" + b"001010123456789@ims.example" + b"\xff" * 5
    assert isim.decode_tag80_text(data, "EF.IMPI") == "001010123456789@ims.example"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("8103616263", "EF.IMPU record 2: expected tag 80 at byte 0, found tag 81"),
        ("8005616263", "EF.IMPU record 2: tag 80 at byte 0 declares 5 bytes but only 3 remain"),
        ("8002C328", "EF.IMPU record 2: byte 2 is not valid UTF-8"),
        ("FFFFFF", "EF.IMPU record 2: expected tag 80 at byte 0, found no data object"),
    ],
)
def test_isim_tag80_malformed(data: str, message: str) -> None:
    with pytest.raises(CardError, match=message):
        isim.decode_tag80_text(H(data), "EF.IMPU record 2")


def test_isim_text_file_not_personalised_is_none() -> None:
    assert isim.decode_optional_tag80_text(H("FF" * 20), "EF.DOMAIN") is None
    assert isim.decode_optional_tag80_text(H("8003 6F7267 FFFF"), "EF.DOMAIN") == "org"
    with pytest.raises(CardError, match=r"EF\.DOMAIN: expected tag 80"):
        isim.decode_optional_tag80_text(H("8103 6F7267"), "EF.DOMAIN")


def test_pcscf_address_types() -> None:
    fqdn = b"pcscf.ims.example"
    rec = bytes((0x80, len(fqdn) + 1, 0x00)) + fqdn + b"\xff\xff"
    assert isim.decode_pcscf(rec, "EF.P-CSCF record 1") == "pcscf.ims.example"
    assert isim.decode_pcscf(H("800501C0000201FF"), "r") == "192.0.2.1"
    v6 = H("20010DB8000000000000000000000001")
    assert isim.decode_pcscf(H("801102") + v6, "r") == "2001:db8::1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("800401C00002", "address type 01 needs 4 bytes, the record holds 3"),
        ("800307AABB", "byte 2 has unknown address type 07"),
        ("8000", "tag 80 at byte 0 is empty"),
    ],
)
def test_pcscf_malformed(data: str, message: str) -> None:
    with pytest.raises(CardError, match=message):
        isim.decode_pcscf(H(data), "EF.P-CSCF record 1")
