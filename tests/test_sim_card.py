"""The simulated UICC answers as the specifications say a real one does.

Expected bytes are written out by hand from ETSI TS 102 221 and 3GPP TS 31.102/31.103
(and the official TS 35.208 / TS 35.233 test sets), never produced by the card's own
encoders.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from attest.aka.sqn import build_autn, resync
from attest.errors import CardRemovedError, InputError, TransportError
from hw.apdu import set_channel
from hw.cardfile import load_card_file
from hw.sim.card import SimulatedCard
from hw.sim.filesystem import DF, EF
from hw.transport.base import open_transport
from hw.uicc.tlv import find, parse_tlvs
from hw.uicc.ts_102_221 import parse_fcp
from tests.aka_vectors import all_sets, operator_key, params, tuak_lengths
from tests.fixtures_pcsc import EXAMPLES

USIM_AID = "A0000000871002FFFFFFFF8907090000"
ISIM_AID = "A0000000871004FFFFFFFF8907090000"


def card(name: str = "ps-001", **options: object) -> SimulatedCard:
    return SimulatedCard(load_card_file(EXAMPLES / f"{name}.yaml"), **options)  # type: ignore[arg-type]


def card_without_gsm() -> SimulatedCard:
    """ps-001 on a profile without DF.GSM and the GSM class."""
    cardfile = load_card_file(EXAMPLES / "ps-001.yaml")
    usim = replace(cardfile.profile.usim, df_gsm=False)
    return SimulatedCard(replace(cardfile, profile=replace(cardfile.profile, usim=usim)))


def send(c: SimulatedCard, hexapdu: str) -> tuple[str, str]:
    """One APDU in, (data hex, SW hex) out, upper case."""
    raw = c.process(bytes.fromhex(hexapdu.replace(" ", "")))
    return raw[:-2].hex().upper(), raw[-2:].hex().upper()


def ok(c: SimulatedCard, hexapdu: str) -> str:
    data, sw = send(c, hexapdu)
    assert sw == "9000", f"{hexapdu}: SW {sw}"
    return data


def utf8_tlv(text: str) -> str:
    raw = text.encode()
    return (bytes((0x80, len(raw))) + raw).hex().upper()


# --- ATR ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "offered"),
    [({"t0": False}, [1]), ({"t0": True}, [0]), ({"t0": True, "offers_t1": True}, [0, 1])],
)
def test_atr_has_correct_tck_and_protocol(options, offered):
    atr = card(**options).atr
    assert atr[0] == 0x3B
    check = 0
    for byte in atr[1:]:
        check ^= byte
    assert check == 0  # TCK makes the XOR of T0..TCK zero (ISO/IEC 7816-3 clause 8.2.5)
    # Walk the interface bytes: the protocols offered in TD1, TD2, ...
    i, y, protocols = 1, atr[1] >> 4, []  # i: index of the last interface byte read
    while True:
        i += bin(y & 0x7).count("1")  # skip TA, TB, TC
        if not y & 0x8:
            break
        i += 1
        protocols.append(atr[i] & 0x0F)  # TD
        y = atr[i] >> 4
    # The first is the default (ISO/IEC 7816-3 clause 8.2.3); T=15 carries global bytes.
    assert sorted(set(protocols) - {15}) == offered and protocols[0] == offered[0]
    assert 15 in protocols
    assert len(atr) == i + 1 + (atr[1] & 0x0F) + 1  # interface + historical + TCK


# --- MF, EF.DIR, EF.ICCID ---------------------------------------------------------------


def test_ef_dir_fcp_and_records():
    c = card()
    fcp = ok(c, "00A40004 02 2F00 00")
    # 62 L | 82 05 42 21 0020 02 (linear fixed, 2 records of 32) | 83 02 2F00 |
    # 8A 01 05 | 8B 03 2F06 01 | 80 02 0040 | 88 01 F0 (SFI 1E)
    assert fcp == "621A" "820542210020 02".replace(" ", "") + "83022F00" "8A0105" \
        "8B032F0601" "80020040" "8801F0"
    usim = "61184F10" + USIM_AID + "50045553494D" + "FF" * 6
    isim = "61184F10" + ISIM_AID + "50044953494D" + "FF" * 6
    assert ok(c, "00B2 01 04 00") == usim
    assert ok(c, "00B2 02 04 20") == isim
    assert send(c, "00B2 03 04 00") == ("", "6A83")


def test_ef_dir_by_sfi_and_iccid_by_sfi():
    c = card()
    assert ok(c, "00B2 01 F4 00").startswith("61184F10A0000000871002")  # SFI 1E, absolute
    # ICCID 8900101000000000019: swapped BCD, F padding (TS 102 221 clause 13.2)
    assert ok(c, "00B0 82 00 00") == "980001010000000010F9"


def test_iccid_select_and_read():
    c = card()
    fcp = ok(c, "00A40004 02 2FE2 00")
    # 82 02 41 21 transparent | 83 02 2FE2 | 8A 01 05 | 8B 03 2F06 01 | 80 02 000A | 88 01 10
    assert fcp == "6217" "82024121" "83022FE2" "8A0105" "8B032F0601" "8002000A" "880110"
    assert ok(c, "00B0 0000 0A") == "980001010000000010F9"


def test_mf_fcp_has_pin_status_template():
    fcp = ok(card(), "00A40004 02 3F00 00")
    assert fcp == ("621D" "82027821" "83023F00" "A503800171" "8A0105" "8B032F0601"
                   "C606" "900100" "830101")
    # PIN1 enabled: PS_DO b8 set
    assert ok(card("ps-pin"), "00A40004 02 3F00 00").endswith("C606" "900180" "830101")


# --- USIM ---------------------------------------------------------------------------------


def test_usim_by_partial_aid_and_its_files():
    c = card()
    fcp = ok(c, "00A40404 07 A0000000871002 00")
    assert fcp.startswith("622A" "82027821" "83027FF0" "8410" + USIM_AID)
    # EF.IMSI 001010000000001: length 8, parity nibble 9, swapped BCD (TS 31.102 4.2.2)
    assert ok(c, "00B0 87 00 00") == "080910100000000010"
    assert ok(c, "00B0 83 00 00") == "00000002"  # EF.AD: MNC length 2
    # EF.UST: services 10 12 19 20 21 27 33 68 85 95 101 109
    assert ok(c, "00B0 84 00 00") == "000A1C0401000000080010401010"
    # EF.EST exists only with service 2, 6, 34 or 35 (TS 31.102 clause 4.2.47): all off.
    assert send(c, "00B0 85 00 00") == ("", "6A82")
    imsi_fcp = ok(c, "00A40004 02 6F07 00")
    # Tag 8B: rule 2 of the ADF's own EF.ARR 6F06.
    assert imsi_fcp == "6217" "82024121" "83026F07" "8A0105" "8B036F0602" "80020009" "880138"


def test_df_prose_present_on_public_safety_only():
    c = card()
    ok(c, "00A4040C 07 A0000000871002")
    assert ok(c, "00A40004 02 5F90 00").startswith("6218" "82027821" "83025F90")
    assert send(c, "00B2 01 1C 00")[1] == "9000"  # EF.PROSEFUNC, SFI 03 in DF.ProSe
    com = card("commercial-001")
    ok(com, "00A4040C 07 A0000000871002")
    assert send(com, "00A40004 02 5F90 00") == ("", "6A82")
    assert ok(com, "00A40004 02 3F00 00")
    assert send(com, "00B2 02 F4 00") == ("", "6A83")  # no ISIM record in EF.DIR
    assert send(com, "00A4040C 07 A0000000871004") == ("", "6A82")


def test_df_mcs_under_telecom():
    c = card()
    assert ok(c, "00A40804 04 7F10 5F3D 00").startswith("6218" "82027821" "83025F3D")
    assert ok(c, "00A40004 02 4F01 00").startswith("6217" "82024121" "83024F01")
    assert send(card("commercial-001"), "00A4080C 04 7F10 5F3D") == ("", "6A82")


def test_select_paths_and_errors():
    c = card()
    ok(c, "00A4040C 07 A0000000871002")
    assert ok(c, "00A4080C 04 7FFF 6F07") == ""  # path from MF through the current ADF
    assert ok(c, "00B0 0000 00") == "080910100000000010"
    ok(c, "00A4000C 02 7FFF")
    assert ok(c, "00A4090C 04 5F90 4F03") == ""  # path from the current DF
    assert send(c, "00A4000C 02 6F99") == ("", "6A82")
    assert send(c, "00A4000C 03 6F0700") == ("", "6700")
    assert send(c, "00A4050C 02 6F07") == ("", "6A86")
    assert send(c, "00A40001 02 6F07") == ("", "6A86")
    assert send(c, "00A4040C 05 A000000088") == ("", "6A82")
    # From the ADF, an EF of the MF is not reachable by FID (TS 102 221 clause 8.4.1).
    assert send(c, "00A4000C 02 2FE2") == ("", "6A82")


def test_read_binary_le_rules():
    c = card()
    ok(c, "00A4000C 02 2FE2")
    assert ok(c, "00B0 0004 00") == "0000000010F9"  # Le 00: to the end of the file
    assert ok(c, "00B0 0000 02") == "9800"
    assert send(c, "00B0 0000 0C") == ("980001010000000010F9", "6282")
    assert send(c, "00B0 000A 00") == ("", "6B00")
    ok(c, "00A4000C 02 2F00")
    assert send(c, "00B0 0000 00") == ("", "6981")  # linear fixed file
    ok(c, "00A4000C 02 3F00")
    assert send(c, "00B0 0000 00") == ("", "6986")  # no EF selected
    assert send(c, "00B0 9F00 00") == ("", "6A82")  # no EF with SFI 1F... reserved value


def test_read_record_modes():
    c = card()
    ok(c, "00A4040C 07 A0000000871004")
    ok(c, "00A4000C 02 6F04")
    impus = ["sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org", "tel:+15550100001",
             "sip:unit-0001@mcptt.example.org"]
    first = ok(c, "00B2 00 02 00")  # next from no record: the first
    assert first.startswith(utf8_tlv(impus[0]))
    assert ok(c, "00B2 00 02 00").startswith(utf8_tlv(impus[1]))
    assert ok(c, "00B2 00 04 00").startswith(utf8_tlv(impus[1]))  # current record
    assert ok(c, "00B2 00 02 00").startswith(utf8_tlv(impus[2]))
    assert send(c, "00B2 00 02 00") == ("", "6A83")  # next after the last
    assert ok(c, "00B2 00 03 00").startswith(utf8_tlv(impus[1]))  # previous
    assert ok(c, "00B2 03 24 00").startswith(utf8_tlv(impus[2]))  # absolute, SFI 04
    assert send(c, "00B2 04 24 00") == ("", "6A83")
    assert send(c, "00B2 01 25 00") == ("", "6A86")  # mode 5 is not a read mode
    record = bytes.fromhex(first)
    assert record.rstrip(b"\xff") == bytes.fromhex(utf8_tlv(impus[0]))
    assert len(record) % 16 == 0


def test_isim_files():
    c = card()
    ok(c, "00A4040C 07 A0000000871004")
    impi = ok(c, "00B0 82 00 00")
    assert impi.startswith(utf8_tlv("001010000000001@ims.mnc001.mcc001.3gppnetwork.org"))
    assert set(bytes.fromhex(impi)[2 + 49:]) == {0xFF}
    domain = ok(c, "00B0 85 00 00")  # EF.DOMAIN has SFI 05 (TS 31.103 clause 4.2)
    assert domain.startswith(utf8_tlv("ims.mnc001.mcc001.3gppnetwork.org"))
    assert ok(c, "00B0 87 00 00") == "0040"  # EF.IST: service 15 only
    assert ok(c, "00B0 83 00 00") == "000000"  # EF.AD of the ISIM
    assert send(c, "00A4000C 02 6F09") == ("", "6A82")  # no P-CSCF on this card
    fcp = ok(c, "00A40004 02 6F04 00")
    assert fcp.startswith("621A" "82054221" "0040" "03" "83026F04")  # 3 records of 64


def test_pcscf_records_and_ist_service_1():
    c = card("ps-pcscf")
    ok(c, "00A4040C 07 A0000000871004")
    assert ok(c, "00B0 87 00 00") == "0140"  # services 1 and 15
    ok(c, "00A4000C 02 6F09")
    fqdn = b"pcscf.ims.mnc001.mcc001.3gppnetwork.org"
    assert ok(c, "00B2 01 04 00").startswith(
        (bytes((0x80, len(fqdn) + 1, 0x00)) + fqdn).hex().upper())  # type 00 = FQDN
    assert ok(c, "00B2 02 04 00").startswith("8005" "01" "0A2D000A")  # 01 = IPv4 10.45.0.10


def test_status_and_unknown_commands():
    c = card()
    ok(c, "00A4040C 07 A0000000871002")
    assert ok(c, "80F2 00 01 00") == "8410" + USIM_AID
    assert ok(c, "80F2 00 00 00").startswith("622A" "82027821" "83027FF0")
    assert send(c, "80F2 00 0C") == ("", "9000")
    assert send(c, "00F2 00 00 00") == ("", "6E00")  # STATUS is an '8X' command
    assert send(c, "80A4 000C 02 3F00") == ("", "6E00")
    assert send(c, "A0A4 0000 02 3F00") == ("", "9F16")  # GSM class: the profile has it
    assert send(card_without_gsm(), "A0A4 0000 02 3F00") == ("", "6E00")
    assert send(c, "0012 0000 00") == ("", "6D00")
    assert send(c, "0CB0 0000 00") == ("", "6882")  # secure messaging
    assert send(c, "00D6 0000 01 00") == ("", "6982")  # UPDATE needs ADM
    assert send(c, "00DC 01 04 01 00") == ("", "6982")
    assert send(c, "00A4") == ("", "6700")
    assert send(c, "00A4 0000 05 3F00") == ("", "6700")  # Lc longer than the data


# --- PIN ----------------------------------------------------------------------------------


def test_pin_protects_reads_and_authenticate_and_blocks():
    c = card("ps-pin")
    assert send(c, "0020 0001") == ("", "63C3")
    ok(c, "00A4040C 07 A0000000871002")
    assert send(c, "00B0 87 00 00") == ("", "6982")
    assert ok(c, "00B0 83 00 00") == "00000002"  # EF.AD is readable always
    assert send(c, "0088 0081 22" + "10" + "00" * 16 + "10" + "00" * 16) == ("", "6982")
    wrong = "39393939FFFFFFFF"
    assert send(c, "0020 0001 08" + wrong) == ("", "63C2")
    assert send(c, "0020 0001 08" + wrong) == ("", "63C1")
    assert send(c, "0020 0001 08" + wrong) == ("", "63C0")
    assert send(c, "0020 0001 08" + "31323334FFFFFFFF") == ("", "6983")  # blocked
    assert send(c, "0020 0001") == ("", "63C0")
    assert c.pin1_retries == 0
    assert send(c, "002C 0001") == ("", "63CA")
    assert send(c, "002C 0001 10" + "3939393939393939" + "35353535FFFFFFFF") == ("", "63C9")
    # PUK 12345678 + new PIN 5555
    assert send(c, "002C 0001 10" + "3132333435363738" + "35353535FFFFFFFF") == ("", "9000")
    assert (c.pin1_retries, c.puk1_retries, c.pin1_verified) == (3, 10, True)
    assert ok(c, "00B0 87 00 00") == "080910100000000060"
    c.reset()
    assert not c.pin1_verified
    assert send(c, "0020 0001 08" + "31323334FFFFFFFF") == ("", "63C2")  # old PIN is gone
    assert send(c, "0020 0001 08" + "35353535FFFFFFFF") == ("", "9000")
    assert send(c, "0020 0001") == ("", "9000")


def test_pin_commands_errors_and_disabled_pin():
    c = card("ps-pin")
    assert send(c, "0020 0081 08" + "31323334FFFFFFFF") == ("", "6A88")  # no PIN2
    assert send(c, "0020 0101") == ("", "6A86")
    assert send(c, "0020 0001 04 31323334") == ("", "6700")
    assert c.pin1_retries == 3  # none of these spent an attempt
    plain = card()  # PIN1 disabled: the query still answers 63CX, data is refused
    assert send(plain, "0020 0001") == ("", "63C3")
    assert send(plain, "0020 0001 08" + "31323334FFFFFFFF") == ("", "6984")
    assert plain.pin1_retries == 3


# --- logical channels ---------------------------------------------------------------------


def test_channels_keep_their_own_selection():
    c = card()
    assert ok(c, "0070 0000 01") == "01"
    ok(c, "01A4040C 07 A0000000871004")
    ok(c, "00A4040C 07 A0000000871002")
    assert ok(c, "00B0 87 00 00") == "080910100000000010"  # channel 0: USIM EF.IMSI
    assert ok(c, "01B0 87 00 00") == "0040"  # channel 1: ISIM EF.IST
    assert ok(c, "81F2 00 01 00") == "8410" + ISIM_AID
    assert ok(c, "0070 0000 01") == "02"
    assert ok(c, "82F2 00 00 00").startswith("621D82027821" "83023F00")
    # Opened from channel 1: inherits the ISIM.
    assert ok(c, "0170 0000 01") == "03"
    assert ok(c, "83F2 00 01 00") == "8410" + ISIM_AID
    assert send(c, "0070 8003") == ("", "9000")
    assert send(c, "03A4000C 02 3F00") == ("", "6881")
    assert c.open_channels == [0, 1, 2]


def test_channels_4_to_19_and_exhaustion():
    c = card()
    for expected in range(1, 20):
        assert ok(c, "0070 0000 01") == f"{expected:02X}"
    assert send(c, "0070 0000 01") == ("", "6A81")
    # Channel 4 is CLA 40, channel 19 is CLA 4F (TS 102 221 clause 10.1.1).
    ok(c, "40A4040C 07 A0000000871002")
    assert ok(c, "40B0 87 00 00") == "080910100000000010"
    ok(c, "4FA4040C 07 A0000000871004")
    assert ok(c, "4FB0 87 00 00") == "0040"
    assert ok(c, "C0F2 00 01 00") == "8410" + USIM_AID  # STATUS on channel 4
    assert send(c, "0070 8000") == ("", "6A86")  # the basic channel cannot be closed
    c.reset()
    assert c.open_channels == [0]


# --- AUTHENTICATE -------------------------------------------------------------------------


def _card_with(tmp_path: Path, body: str, **options: object) -> SimulatedCard:
    path = tmp_path / "card.yaml"
    path.write_text(
        'profile: public-safety-usim-isim\niccid: "8900101000000000019"\n'
        'imsi: "001010000000001"\n' + body +
        "isim: {impi: a@ims.mnc001.mcc001.3gppnetwork.org, domain: d, impu: [sip:a@d]}\n")
    return SimulatedCard(load_card_file(path), **options)  # type: ignore[arg-type]


def _sqn_before(sqn: str) -> str:
    """The SQN one SEQ step below ``sqn`` in the same IND slot (IND = 5 bits)."""
    return f"{int(sqn, 16) - 32:012x}"


def _xor(a: str, b: str) -> str:
    return f"{int(a, 16) ^ int(b, 16):0{len(a)}x}"


def _kc(ck: str, ik: str) -> str:
    """c3 (TS 33.102 clause 6.8.1.2): Kc = CK1 ^ CK2 ^ IK1 ^ IK2, written out here."""
    return _xor(_xor(ck[:16], ck[16:]), _xor(ik[:16], ik[16:]))


# Every set the vectors files hold (tests/aka_vectors.py), keyed by whichever form it has.
MILENAGE = all_sets("milenage")
TUAK = all_sets("tuak")


def _keys(v: dict[str, Any], name: str = "milenage") -> str:
    """The card file's key lines for a set: ``ki`` and its OPc/OP (TOPc/TOP)."""
    key, value = operator_key(v, name)
    return f"ki: {v['k']}\n{key}: '{value}'\n"


@pytest.mark.parametrize("v", params(MILENAGE))
def test_milenage_3g_and_ims_aka_match_ts_35_208(tmp_path, v):
    c = _card_with(tmp_path, _keys(v) + f"sqn_ms: '{_sqn_before(v['sqn'])}'\n")
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + v["mac_a"]
    command = "0088 0081 22 10" + v["rand"] + "10" + autn + "00"  # case 4: Le 00
    ok(c, "00A4040C 07 A0000000871002")
    answer = ok(c, command)
    expected = ("DB08" + v["res"] + "10" + v["ck"] + "10" + v["ik"] + "08"
                + _kc(v["ck"], v["ik"])).upper()
    assert answer == expected
    if "kc" in v:
        assert answer.endswith(v["kc"].upper())
    assert c.sqn_ms.hex() == v["sqn"]
    # The ISIM (IMS AKA, P2 81) has no Kc; the same SQN is now stale there too.
    ok(c, "00A4040C 07 A0000000871004")
    stale = ok(c, command)
    assert stale.startswith("DC0E")
    # AUTS = SQN_MS ^ AK* || MAC-S: SQN_MS is the SQN the card accepted.
    assert _xor(stale[4:16], v["ak_star"]).lower() == v["sqn"]
    alg = c.cardfile.algorithm()
    assert resync(alg, bytes.fromhex(v["rand"]), bytes.fromhex(stale[4:])).hex() == v["sqn"]


def test_gsm_context_matches_ts_55_205(tmp_path):
    v = next(v for v in MILENAGE if "sres" in v)  # tests/data has some at least
    c = _card_with(tmp_path, _keys(v))
    ok(c, "00A4040C 07 A0000000871002")
    expected = ("04" + v["sres"] + "08" + v["kc"]).upper()
    assert ok(c, "0088 0080 11 10" + v["rand"] + "00") == expected
    ok(c, "00A4040C 07 A0000000871004")
    assert send(c, "0088 0080 11 10" + v["rand"]) == ("", "9864")  # no GSM context on ISIM


def test_gba_bootstrap_context(tmp_path):
    v = MILENAGE[0]
    c = _card_with(tmp_path, _keys(v) + f"sqn_ms: '{_sqn_before(v['sqn'])}'\n")
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + v["mac_a"]
    ok(c, "00A4040C 07 A0000000871002")
    # TS 31.102 clause 7.1.2: DD 10 RAND 10 AUTN -> DB L RES (Ks = CK||IK stays on the card)
    command = "0088 0084 23 DD10" + v["rand"] + "10" + autn + "00"
    assert ok(c, command) == ("DB08" + v["res"]).upper()
    assert ok(c, command).startswith("DC0E")
    ok(c, "00A4040C 07 A0000000871004")
    assert send(c, "0088 0084 23 DD10" + v["rand"] + "10" + autn) == ("", "9864")


@pytest.mark.parametrize("v", params(TUAK))
def test_tuak_3g_matches_ts_35_233(tmp_path, v):
    lengths = tuak_lengths(v)
    body = ("algorithm: tuak\n" + _keys(v, "tuak")
            + "".join(f"{option}: {value}\n" for option, value in lengths.items())
            + f"sqn_ms: '{_sqn_before(v['sqn'])}'\n")
    c = _card_with(tmp_path, body)
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + v["mac_a"]
    ok(c, "00A4040C 07 A0000000871002")
    data = "10" + v["rand"] + f"{len(autn) // 2:02X}" + autn
    answer = ok(c, f"0088 0081 {len(data) // 2:02X}" + data + "00")
    expected = "DB" + "".join(f"{len(v[k]) // 2:02X}" + v[k] for k in ("res", "ck", "ik"))
    if lengths["ck_len"] == lengths["ik_len"] == 128:
        expected += "08" + _kc(v["ck"], v["ik"])  # c3 is defined for 128-bit CK and IK only
    assert answer == expected.upper()


def test_mac_failure_and_wrong_format(tmp_path):
    v = MILENAGE[0]
    c = _card_with(tmp_path, _keys(v) + f"sqn_ms: '{_sqn_before(v['sqn'])}'\n")
    bad_mac = _xor(v["mac_a"], "0000000000000001")
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + bad_mac
    ok(c, "00A4040C 07 A0000000871002")
    assert send(c, "0088 0081 22 10" + v["rand"] + "10" + autn) == ("", "9862")
    assert c.sqn_ms.hex() == _sqn_before(v["sqn"])  # nothing accepted
    assert send(c, "0088 0081 21 10" + v["rand"] + "10" + autn[:-2]) == ("", "6700")
    assert send(c, "0088 0081 22 11" + v["rand"] + "10" + autn) == ("", "6A80")
    assert send(c, "0088 0082 22 10" + v["rand"] + "10" + autn) == ("", "9864")  # VGCS/VBS
    assert send(c, "0088 0001 22 10" + v["rand"] + "10" + autn) == ("", "6A86")
    ok(c, "00A4000C 02 3F00")  # MF selected, but the USIM session stays on the channel
    assert send(c, "0070 0000 01") == ("01", "9000")
    assert send(c, "0188 0081 22 10" + v["rand"] + "10" + autn) == ("", "6985")


def test_sqn_array_freshness_per_ind_and_delta(tmp_path):
    c = _card_with(tmp_path, "ki: 000102030405060708090a0b0c0d0e0f\n"
                   "opc: 00112233445566778899aabbccddeeff\nsqn_ms: '000000000C80'\n")
    alg = c.cardfile.algorithm()
    ok(c, "00A4040C 07 A0000000871002")
    rand = bytes(range(16))

    def auth(sqn: int) -> str:
        autn = build_autn(alg, rand, sqn.to_bytes(6, "big"), b"\x80\x00")
        return ok(c, "0088 0081 22 10" + rand.hex() + "10" + autn.hex() + "00")

    # sqn_ms 0xC80 = SEQ 100, IND 0. SEQ 50 in IND 3 is fresh for that slot (Annex C.2).
    assert auth((50 << 5) | 3).startswith("DB")
    assert auth((50 << 5) | 3).startswith("DC0E")  # replay
    assert auth((100 << 5) | 0).startswith("DC0E")  # SEQ 100 already seen in IND 0
    assert auth((101 << 5) | 0).startswith("DB")
    assert c.sqn_ms.hex() == f"{(101 << 5):012x}"
    too_far = ((101 + 2**28 + 1) << 5) | 1
    answer = auth(too_far)
    assert answer.startswith("DC0E")  # beyond the Δ limit
    assert resync(alg, rand, bytes.fromhex(answer[4:])).hex() == f"{(101 << 5):012x}"


# --- T=0, removal, latency, threads --------------------------------------------------------


def test_t0_get_response_and_6cxx():
    c = card(t0=True)
    assert send(c, "00A40004 02 3F00") == ("", "611F")
    assert send(c, "00C0 0000 20") == ("", "6C1F")  # wrong Le: the exact count
    assert send(c, "00C0 0000 10")[1] == "610F"  # part of it, the rest still pending
    data, sw = send(c, "00C0 0000 0F")
    assert sw == "9000" and data.endswith("C606900100830101")
    assert send(c, "00C0 0000 0F") == ("", "6985")  # nothing pending any more
    ok(c, "00A4000C 02 2FE2")
    assert send(c, "00B0 0000 00") == ("", "6C0A")
    assert send(c, "00B0 0000 0B") == ("", "6C0A")
    assert ok(c, "00B0 0000 0A") == "980001010000000010F9"


def test_t0_authenticate_takes_two_apdus():
    v = MILENAGE[0]
    transport = open_transport(f"sim:{EXAMPLES / 'ps-001.yaml'}?t0=1")
    transport.transmit(bytes.fromhex("00A4040C07A0000000871002"))
    before = transport.apdu_count
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + v["mac_a"]
    # ps-001 has SQN_MS 0: this SQN is beyond Δ, so the answer is AUTS, fetched by 61xx.
    resp = transport.transmit(bytes.fromhex("0088008122 10" + v["rand"] + "10" + autn))
    assert resp.sw == 0x9000 and resp.data[:2] == b"\xdc\x0e"
    assert transport.apdu_count - before == 2


def test_remove_at_and_reinsert():
    c = card(remove_at=3)
    ok(c, "00A4000C 02 3F00")
    ok(c, "00A4000C 02 2FE2")
    with pytest.raises(CardRemovedError):
        c.process(bytes.fromhex("00B000000A"))
    with pytest.raises(CardRemovedError):
        c.process(bytes.fromhex("00B000000A"))
    with pytest.raises(CardRemovedError):
        c.power_on()
    assert c.removed
    assert c.insert() == c.atr
    assert send(c, "00B0 0000 0A") == ("", "6986")  # a new session: nothing selected
    ok(c, "00A4000C 02 2FE2")


def test_transport_uri_options_and_errors(tmp_path):
    path = EXAMPLES / "ps-001.yaml"
    t = open_transport(f"sim:{path}?t0=1&latency=0.02&remove_at=5")
    assert t.card.t0 and t.card.latency == 0.02  # type: ignore[attr-defined]
    assert t.atr == t.card.atr and t.reset() == t.atr  # type: ignore[attr-defined]
    with open_transport(f"sim:{path}") as plain:
        assert plain.transmit(bytes.fromhex("00A4000C023F00")).sw == 0x9000
    for bad, message in [
        (f"sim:{path}?colour=red", "unknown option 'colour'"),
        (f"sim:{path}?t0=maybe", "option 't0' must be 0 or 1"),
        (f"sim:{path}?latency=fast", "option 'latency' must be seconds"),
        (f"sim:{path}?remove_at=0", "option 'remove_at' must be an APDU number"),
        (f"sim:{tmp_path}/missing.yaml", "missing.yaml: no such file"),
    ]:
        with pytest.raises(InputError, match=message):
            open_transport(bad)
    t.close()
    with pytest.raises(Exception, match="closed"):
        t.transmit(bytes.fromhex("00A4000C023F00"))


def test_concurrent_callers_each_get_their_own_answers():
    c = card()
    channels = [int(ok(c, "0070 0000 01"), 16) for _ in range(4)]
    errors: list[str] = []

    def worker(n: int) -> None:
        app, expected = (("A0000000871002", "080910100000000010") if n % 2
                         else ("A0000000871004", "0040"))
        select = set_channel(bytes.fromhex("00A4040C07" + app), n).hex()
        read = set_channel(bytes.fromhex("00B0870000"), n).hex()
        for _ in range(100):
            send(c, select)
            data, sw = send(c, read)
            if (data, sw) != (expected, "9000"):
                errors.append(f"channel {n}: {data} {sw}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in channels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_power_cycle_keeps_counters_and_sqn_but_not_the_session(tmp_path):
    v = MILENAGE[0]
    c = _card_with(tmp_path, _keys(v) + f"sqn_ms: '{_sqn_before(v['sqn'])}'\n"
                   "pin1: '1234'\n")
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + v["mac_a"]
    ok(c, "00A4040C 07 A0000000871002")
    assert ok(c, "0088 0081 22 10" + v["rand"] + "10" + autn + "00").startswith("DB08")
    assert send(c, "0020 0001 08 39393939FFFFFFFF") == ("", "6984")  # PIN1 disabled here
    assert ok(c, "0070 0000 01") == "01"
    c.power_off()
    with pytest.raises(TransportError, match="not powered"):
        c.process(bytes.fromhex("00A4000C023F00"))
    assert c.power_on() == c.atr
    assert c.open_channels == [0]
    assert c.sqn_ms.hex() == v["sqn"]
    ok(c, "00A4040C 07 A0000000871002")
    stale = ok(c, "0088 0081 22 10" + v["rand"] + "10" + autn + "00")
    assert stale.startswith("DC0E")  # still stale


# --- ISO/IEC 7816 command cases (7816-3 clause 12.2, 7816-4 clause 5.1.3) -----------------

# FCP of the MF as written out in test_mf_fcp_has_pin_status_template (31 bytes).
MF_FCP = "621D82027821" "83023F00" "A503800171" "8A0105" "8B032F0601" "C606900100830101"


@pytest.mark.parametrize("t0", [False, True])
def test_select_without_le_announces_the_fcp_on_both_protocols(t0):
    # wpa_supplicant's first APDU, with a 3-byte answer buffer: SW1 61 and nothing else.
    c = card(t0=t0)
    assert send(c, "00A40004 02 3F00") == ("", "611F")
    assert send(c, "00C0 0000 1F") == (MF_FCP, "9000")
    assert send(c, "00A4000C 02 3F00") == ("", "9000")  # P2 0C: no data whatever Le says
    assert send(c, "00A4000C 02 3F00 00") == ("", "9000")


def test_select_with_le_answers_at_once_on_t1_and_61xx_on_t0():
    assert send(card(), "00A40004 02 3F00 00") == (MF_FCP, "9000")
    assert send(card(t0=True), "00A40004 02 3F00 00") == ("", "611F")  # case 4 on T=0
    # Le shorter than the FCP: that much now, the rest announced for GET RESPONSE.
    c = card()
    assert send(c, "00A40004 02 3F00 10") == (MF_FCP[:32], "610F")
    assert send(c, "00C0 0000 0F") == (MF_FCP[32:], "9000")


@pytest.mark.parametrize("t0", [False, True])
def test_case_1_status_and_reads_never_return_data(t0):
    c = card(t0=t0)
    ok(c, "00A4040C 07 A0000000871002")
    data, sw = send(c, "80F2 0000")  # pySim's STATUS: no Le
    assert (data, sw[:2]) == ("", "61")
    fcp, last = send(c, f"00C0 0000 {sw[2:]}")
    assert last == "9000" and fcp.startswith("62") and "83027FF0" in fcp
    # READ BINARY of EF.AD by SFI 03 and READ RECORD of EF.DIR without Le.
    assert send(c, "00B0 8300") == ("", "6104")
    assert send(c, "00C0 0000 04") == ("00000002", "9000")
    ok(c, "00A4000C 02 3F00")
    assert send(c, "00B2 01 F4") == ("", "6120")
    assert send(c, "00C0 0000 20")[0].startswith("61184F10" + USIM_AID)


@pytest.mark.parametrize("t0", [False, True])
def test_authenticate_without_le_is_fetched_with_get_response(tmp_path, t0):
    v = MILENAGE[0]
    c = _card_with(tmp_path, _keys(v) + f"sqn_ms: '{_sqn_before(v['sqn'])}'\n", t0=t0)
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + v["mac_a"]
    ok(c, "00A4040C 07 A0000000871002")
    assert send(c, "0088 0081 22 10" + v["rand"] + "10" + autn) == ("", "6135")
    answer = ok(c, "00C0 0000 35")
    assert answer.startswith("DB08" + v["res"].upper())


def test_authenticate_with_a_short_le_on_t1_keeps_the_rest(tmp_path):
    v = MILENAGE[0]
    c = _card_with(tmp_path, _keys(v) + f"sqn_ms: '{_sqn_before(v['sqn'])}'\n")
    autn = _xor(v["sqn"], v["ak"]) + v["amf"] + v["mac_a"]
    ok(c, "00A4040C 07 A0000000871002")
    head, sw = send(c, "0088 0081 22 10" + v["rand"] + "10" + autn + "0A")
    assert (head, sw) == (("DB08" + v["res"]).upper(), "612B")
    tail = ok(c, "00C0 0000 2B")
    assert tail.startswith("10" + v["ck"].upper())


def test_get_response_rules():
    c = card()
    assert send(c, "00A40004 02 3F00") == ("", "611F")
    assert send(c, "00C0 0000") == ("", "6700")  # no Le: refused, the data stays pending
    assert send(c, "00C0 0000 00") == (MF_FCP, "9000")  # T=1: Le 00 takes all there is
    assert send(c, "00C0 0000 00") == ("", "6985")
    t0 = card(t0=True)
    assert send(t0, "00A40004 02 3F00") == ("", "611F")
    assert send(t0, "00C0 0000 00") == ("", "6C1F")  # T=0: Le must be exact
    assert send(t0, "00C0 0000 1F") == (MF_FCP, "9000")
    # Any other command in between drops what was pending.
    assert send(t0, "00A40004 02 3F00") == ("", "611F")
    ok(t0, "00A4000C 02 3F00")
    assert send(t0, "00C0 0000 1F") == ("", "6985")


# --- the file system of TS 31.102 / 31.103 / 102 221 (mandatory files, services' files) ---


def _read_sfi(c: SimulatedCard, sfi: int) -> str:
    return ok(c, f"00B0 {0x80 | sfi:02X} 00 00")


def test_mandatory_usim_files_hold_what_a_fresh_card_holds():
    c = card()  # IMSI 001010000000001: access class 1
    ok(c, "00A4040C 07 A0000000871002")
    assert _read_sfi(c, 0x02) == "656EFFFF"  # EF.LI: "en" (clause 4.2.3)
    assert _read_sfi(c, 0x08) == "07" + "FF" * 32  # EF.Keys: KSI 07, no CK/IK
    assert _read_sfi(c, 0x09) == "07" + "FF" * 32  # EF.KeysPS
    assert _read_sfi(c, 0x12) == "0A"  # EF.HPPLMN
    assert _read_sfi(c, 0x06) == "0002"  # EF.ACC: class 1 is byte 2 b2 (clause 4.2.15)
    assert _read_sfi(c, 0x0D) == "FF" * 12  # EF.FPLMN: empty
    assert _read_sfi(c, 0x0B) == "FFFFFFFF" "FFFFFF" "FFFE" "00" "01"  # EF.LOCI: not updated
    assert _read_sfi(c, 0x0C) == "FFFFFFFF" "FFFFFF" "FFFFFF" "FFFE" "FF" "01"  # EF.PSLOCI
    assert _read_sfi(c, 0x0F) == "F00000F00000"  # EF.START-HFN
    assert _read_sfi(c, 0x10) == "FFFFFF"  # EF.THRESHOLD
    assert ok(c, "00B2 01 0C 00") == "11F2FF00"  # EF.ECC (SFI 01): 112
    assert ok(c, "00B2 02 0C 00") == "19F1FF00"  # 911
    # EF.ARR 6F06 (SFI 17) holds the rules the FCPs reference: 2 = read PIN1, update ADM1.
    assert ok(c, "00B2 02 BC 00").startswith("800101A406830101950108" "800102A40683010A950108")
    # EF.NETPAR: no SFI (an empty tag 88 says so).
    assert ok(c, "00A40004 02 6FC4 00") == "6216" "82024121" "83026FC4" "8A0105" \
        "8B036F0602" "80020010" "8800"
    ok(c, "00A4000C 02 3F00")
    assert _read_sfi(c, 0x05) == "656EFFFF"  # EF.PL at the MF (TS 102 221 clause 13.3)
    assert _read_sfi(c, 0x08) == "3205000000"  # EF.UMPC: 50 mA, 5 s (clause 13.5)


def test_access_class_follows_the_last_imsi_digit(tmp_path):
    # Classes 8 and 9 are in byte 1 (TS 31.102 clause 4.2.15).
    path = tmp_path / "card.yaml"
    path.write_text((EXAMPLES / "commercial-001.yaml").read_text().replace(
        "999700000000001", "999700000000009"))
    c = SimulatedCard(load_card_file(path))
    ok(c, "00A4040C 07 A0000000871002")
    assert _read_sfi(c, 0x06) == "0200"


def _exists(c: SimulatedCard, fid: str) -> bool:
    return send(c, f"00A4000C 02 {fid}")[1] == "9000"


# FIDs in ADF.USIM by service (TS 31.102 clause 4.2): SMS, SMSS, SMSP, SPN, PLMNwAcT,
# MSISDN, DF.GSM-ACCESS, GBABP, GBANL, GBAUAPI, EPSLOCI, EPSNSC, DF.ProSe, EST.
_SERVICE_FIDS = {10: ["6F3C", "6F43"], 12: ["6F42"], 19: ["6F46"], 20: ["6F60"], 21: ["6F40"],
                 27: ["5F3B"], 68: ["6FD6", "6FDA", "6F0A"], 85: ["6FE3", "6FE4"],
                 101: ["5F90"], 2: ["6F56"]}


@pytest.mark.parametrize(
    ("name", "on"),
    [("ps-001", {10, 12, 19, 20, 21, 27, 68, 85, 101}),
     ("commercial-001", {10, 12, 19, 20, 21, 27, 85}),
     ("legacy-001", {10, 12, 19, 21, 27})],
)
def test_a_service_on_has_its_files_and_one_off_has_none(name, on):
    c = card(name)
    ok(c, "00A4040C 07 A0000000871002")
    for service, fids in _SERVICE_FIDS.items():
        for fid in fids:
            assert _exists(c, fid) == (service in on), f"{name}: service {service}, {fid}"
            ok(c, "00A4000C 02 7FFF")  # back to the ADF for the next one


def test_service_files_as_a_fresh_card_has_them():
    c = card()
    ok(c, "00A4040C 07 A0000000871002")
    # EF.SMS: 10 records of 176 bytes (linear fixed), each free (status 00).
    assert ok(c, "00A40004 02 6F3C 00").startswith("6219" "8205422100B00A")
    assert ok(c, "00B2 01 04 00") == "00" + "FF" * 175
    assert _read_sfi(c, 0x1E) == "FF" * 12 + "FFFFFFFFFE" + "01"  # EF.EPSLOCI: not updated
    assert _read_sfi(c, 0x0A) == "FFFFFF0000" * 8  # EF.PLMNwAcT: empty entries
    ok(c, "00A4000C 02 5F3B")  # DF.GSM-ACCESS
    assert _read_sfi(c, 0x01) == "FF" * 8 + "07"  # EF.Kc: no key, CKSN 07
    assert _read_sfi(c, 0x02) == "FF" * 8 + "07"  # EF.KcGPRS
    ok(c, "00A4000C 02 7FFF")
    ok(c, "00A4000C 02 5F90")  # DF.ProSe has all its EFs, 4F01-4F09 and 4F10-4F14
    for fid in [f"4F0{n}" for n in range(1, 10)] + [f"4F1{n}" for n in range(5)]:
        assert _exists(c, fid), fid


def test_isim_has_its_mandatory_files_and_no_gba_files_without_service_2():
    c = card()
    ok(c, "00A4040C 07 A0000000871004")
    assert ok(c, "00B2 01 34 00").startswith("8001019000")  # EF.ARR (SFI 06), rule 1
    assert ok(c, "00A40004 02 6F07 00").endswith("8B036F0602" "80020002" "880138")  # EF.IST
    for fid in ("6FD5", "6FD7", "6FDD", "6F0A", "6F09"):
        assert not _exists(c, fid)


def test_mcs_service_table_and_configuration_file():
    c = card()
    ok(c, "00A4080C 04 7F10 5F3D")
    assert ok(c, "00B0 81 00 00") == "0100"  # EF.MST: service 1 (TS 31.102 clause 4.6.2)
    # EF.MCS_CONFIG 4F02 (clause 4.6.3): BER-TLV (descriptor 79), 512 bytes reserved, SFI 02.
    assert ok(c, "00A40004 02 4F02 00") == "6217" "82027921" "83024F02" "8A0105" \
        "8B032F0602" "80020200" "880110"
    # RETRIEVE DATA (TS 102 221 clause 11.3.1): the list of tags (5C) is empty on a fresh
    # card; an absent object is 6A88; a read or SET DATA is refused.
    assert send(c, "80CB 0080 01 5C") == ("", "6102")
    assert ok(c, "00C0 0000 02") == "5C00"
    assert send(c, "80CB 0080 01 80 00") == ("", "6A88")
    assert send(c, "80CB 0000 00") == ("", "6985")
    assert send(c, "00CB 0080 01 5C 00") == ("", "6E00")
    assert send(c, "00B0 0000 01") == ("", "6981")
    assert send(c, "80DB 0080 03 800100") == ("", "6982")
    ok(c, "00A4000C 02 4F01")
    assert send(c, "80CB 0080 01 5C 00") == ("", "6981")  # EF.MST is transparent


# --- the GSM class and DF.GSM (TS 51.011) --------------------------------------------------


def gsm_select(c: SimulatedCard, fid: str) -> str:
    data, sw = send(c, f"A0A4 0000 02 {fid}")
    assert data == "" and sw.startswith("9F"), f"{fid}: {sw}"
    return ok(c, f"A0C0 0000 {sw[2:]}")


def test_gsm_class_reads_df_gsm_like_pysim_read():
    c = card()
    # MF: RFU, no free memory, 3F00, type 01 (MF), RFU, 9 bytes: characteristics 81 (CHV1
    # disabled, clock stop allowed), 2 DFs (TELECOM, GSM), 5 EFs (DIR, ICCID, PL, ARR, UMPC),
    # 4 codes, RFU, CHV1 3 tries, UNBLOCK CHV1 10 tries, no CHV2 (TS 51.011 clause 9.2.1).
    assert gsm_select(c, "3F00") == "00000000" "3F00" "01" "0000000000" "09" \
        "81" "02" "05" "04" "00" "83" "8A" "0000"
    gsm_select(c, "7F20")
    # EF.IMSI: 9 bytes, 6F07, EF, read CHV1 / update ADM, status 01, transparent.
    assert gsm_select(c, "6F07") == "0000" "0009" "6F07" "04" "00" "1AFFAA" "01" "02" "0000"
    assert ok(c, "A0B0 0000 09") == "080910100000000010"
    gsm_select(c, "6FAD")
    assert ok(c, "A0B0 0000 04") == "00000002"
    gsm_select(c, "6F78")
    assert ok(c, "A0B0 0000 02") == "0002"  # EF.ACC as in the USIM
    gsm_select(c, "6F38")
    # EF.SST: SIM services 4 (SMS), 9 (MSISDN), 12 (SMSP), 17 (SPN), 38 (GPRS), 43
    # (PLMNwAcT) allocated and activated, two bits each (TS 51.011 clause 10.3.7).
    assert ok(c, "A0B0 0000 0B") == "C000C30003000000000C30"
    gsm_select(c, "6F46")
    assert ok(c, "A0B0 0000 11") == "00" + "FF" * 16  # EF.SPN
    gsm_select(c, "7F10")
    assert gsm_select(c, "6F40").endswith("01" "02" "0118")  # EF.MSISDN: records of 24
    assert ok(c, "A0B2 01 04 18") == "FF" * 24
    assert send(c, "A0F2 0000 16")[1] == "9000"  # STATUS: DF.TELECOM's response
    assert send(c, "A0F2 0000 16")[0][8:12] == "7F10"


def test_run_gsm_algorithm_matches_ts_55_205(tmp_path):
    v = next(v for v in MILENAGE if "sres" in v)
    c = _card_with(tmp_path, _keys(v))
    assert send(c, "A088 0000 10" + v["rand"]) == ("", "9408")  # DF.GSM not selected
    gsm_select(c, "7F20")
    assert send(c, "A088 0000 10" + v["rand"]) == ("", "9F0C")
    assert ok(c, "A0C0 0000 0C") == (v["sres"] + v["kc"]).upper()


def test_gsm_class_errors_are_gsm_status_words():
    c = card()
    assert send(c, "A0A4 0000 02 7FFF") == ("", "9404")  # no ADF in the GSM class
    assert send(c, "A0A4 0000 02 6F99") == ("", "9404")
    assert send(c, "A0A4 0400 02 3F00") == ("", "6B00")
    assert send(c, "A0B0 0000 01") == ("", "9400")  # no EF selected
    gsm_select(c, "7F20")
    gsm_select(c, "6F07")
    assert send(c, "A0B0 0000 0A") == ("", "9402")  # beyond the end of the file
    assert send(c, "A0B2 01 04 09") == ("", "9408")  # not a record file
    assert send(c, "A0D6 0000 01 00") == ("", "9804")  # UPDATE needs ADM
    assert send(c, "A012 0000 00") == ("", "6D00")
    assert ok(c, "A0B0 0000 09") == "080910100000000010"  # nothing changed
    pin = card("ps-pin")
    gsm_select(pin, "7F20")
    gsm_select(pin, "6F07")
    assert send(pin, "A0B0 0000 09") == ("", "9804")  # CHV1 enabled, not verified


# --- ATR and channels agree (ISO/IEC 7816-4 clause 8.1.1.2.7) -------------------------------


def _capabilities(atr: bytes) -> bytes:
    """The card capabilities (compact-TLV tag 7) of the historical bytes."""
    t0 = atr[1]
    i, y = 1, t0 >> 4
    while True:
        i += bin(y & 0x7).count("1")
        if not y & 0x8:
            break
        i += 1
        y = atr[i] >> 4
    historical = atr[i + 1 : i + 1 + (t0 & 0x0F)]
    assert historical[0] == 0x80
    j = 1
    while j < len(historical):
        tag, length = historical[j] >> 4, historical[j] & 0x0F
        if tag == 0x7:
            return historical[j + 1 : j + 1 + length]
        j += 1 + length
    raise AssertionError("no card capabilities in the historical bytes")


@pytest.mark.parametrize("options", [{"t0": False}, {"t0": True}])
def test_atr_states_the_channels_the_card_has(options):
    c = card(**options)
    third = _capabilities(c.atr)[2]
    assert third & 0x18 == 0x18  # channel numbers assigned by the card and the terminal
    assert third & 0x07 == 0x07  # 8 or more channels
    assert send(c, "0070 0013") == ("", "9000")  # the terminal assigns 19, the highest
    assert send(c, "0070 0014") == ("", "6A86")  # 20 is beyond TS 102 221's 19
    assigned = [ok(c, "0070 0000 01") for _ in range(18)]
    assert assigned == [f"{n:02X}" for n in range(1, 19)]
    assert send(c, "0070 0000 01") == ("", "6A81")  # all taken


# --- bad input: a real card's status word, nothing changed ---------------------------------


def test_bad_commands_get_status_words_and_change_nothing():
    c = card()
    ok(c, "00A4040C 07 A0000000871002")
    ok(c, "00A4000C 02 6F3C")  # EF.SMS, 10 records
    bad = [
        ("FFA4 000C 02 3F00", "6E00"),  # PPS class
        ("00E0 0000 00", "6D00"),  # CREATE FILE: not offered
        ("0044 0000", "6D00"),  # ACTIVATE FILE: not offered
        ("00A4 0010 02 3F00", "6A86"),  # SELECT P2 not in TS 102 221 table 11.2
        ("00A4 0300 02 3F00", "6A86"),  # SELECT P1 03
        ("00B2 01 05 00", "6A86"),  # READ RECORD mode 05
        ("00B2 0B 04 00", "6A83"),  # record 11 of 10
        ("00A4 000C 05 3F00", "6700"),  # Lc longer than the data
        ("00A4 000C 01 3F00", "6700"),  # Lc shorter than the data
        ("00B0 0000 00 0101", "6700"),  # extended Le (257): not a short APDU
        ("00A4", "6700"),  # no P1-P2
        ("00DC 01 04 B0" + "00" * 176, "6982"),  # UPDATE RECORD: ADM1 only
        ("0020 0001 04 31323334", "6700"),  # VERIFY with 4 bytes: no attempt spent
        ("00A4 000C 02 6F99", "6A82"),  # no such file: the selection stays
    ]
    for apdu, sw in bad:
        assert send(c, apdu) == ("", sw), apdu
    assert c.pin1_retries == 3
    assert ok(c, "00B2 0A 04 00") == "00" + "FF" * 175  # EF.SMS still current


def test_random_commands_never_break_the_card():
    import random

    rng = random.Random(16)  # fixed seed: the same 3000 commands every run
    c = card("ps-pin", t0=True)
    for _ in range(3000):
        cla = rng.choice((0x00, 0x80, 0xA0, 0x01, 0x40, 0xFF))
        apdu = bytes((cla,)) + bytes(rng.randrange(256) for _ in range(rng.randrange(3, 24)))
        answer = c.process(apdu)
        assert len(answer) >= 2 and answer[-2] in (0x61, 0x62, 0x63, 0x67, 0x68, 0x69, 0x6A,
                                                   0x6B, 0x6C, 0x6D, 0x6E, 0x90, 0x94, 0x98,
                                                   0x9F), apdu.hex()


def _walk(df: DF) -> list[EF | DF]:
    nodes: list[EF | DF] = [df]
    for child in df.children:
        nodes += _walk(child) if isinstance(child, DF) else [child]
    return nodes


def _path_to(node: EF | DF) -> list[EF | DF]:
    chain = [node]
    while chain[-1].parent is not None:
        chain.append(chain[-1].parent)  # type: ignore[arg-type]
    return chain[::-1]


@pytest.mark.parametrize("name", ["ps-001", "ps-pcscf", "commercial-001", "legacy-001"])
def test_every_fcp_agrees_with_its_file(name):
    """Each file's FCP, as SELECT returns it: life cycle activated (8A 05), a security
    attribute reference (8B) to an EF.ARR record that exists in the file's DF or an
    ancestor (TS 102 221 clause 9.2.7), and a size (80) / record layout (82) that the
    reads agree with."""
    c = card(name)
    roots = [c.layout.mf] + [app.adf for app in c.layout.applications]
    checked = 0
    for root in roots:
        for node in _walk(root):
            chain = _path_to(node)
            adf = next((n for n in chain if isinstance(n, DF) and n.aid is not None), None)
            ok(c, "00A4000C 02 3F00")
            if adf is not None:
                ok(c, "00A4040C 10 " + adf.aid.hex())  # type: ignore[union-attr]
            for step in chain[chain.index(adf) + 1 if adf else 1 :]:
                ok(c, f"00A4000C 02 {step.fid:04X}")
            if node.fid == 0x3F00 or node is adf:
                fcp_hex = ok(c, "80F2 0000 00")  # STATUS: the current DF's FCP
            else:
                fcp_hex = ok(c, f"00A40004 02 {node.fid:04X} 00")
            fcp = parse_fcp(bytes.fromhex(fcp_hex))
            assert fcp.life_cycle == 0x05, node.name
            ref = find(parse_tlvs(parse_tlvs(bytes.fromhex(fcp_hex), "FCP")[0].value, "FCP"), 0x8B)
            assert ref is not None and len(ref.value) == 3, node.name
            arr_fid, record = int.from_bytes(ref.value[:2], "big"), ref.value[2]
            holders = [d for d in _path_to(node if isinstance(node, DF) else node.parent)
                       if isinstance(d, DF)]  # type: ignore[arg-type]
            arr = next(f for d in reversed(holders) for f in d.children
                       if isinstance(f, EF) and f.fid == arr_fid)
            assert arr.records is not None and 1 <= record <= len(arr.records), node.name
            if isinstance(node, EF):
                if node.objects is not None:
                    assert fcp.structure == "ber_tlv", node.name
                    assert ok(c, "80CB 0080 01 5C 00") == "5C00"  # no data objects yet
                elif node.records is None:
                    assert fcp.structure == "transparent" and fcp.file_size == len(node.data)
                    last = f"{(fcp.file_size - 1) >> 8:02X}{(fcp.file_size - 1) & 0xFF:02X}"
                    assert send(c, f"00B0 {last} 01")[1] == "9000", node.name
                    end = f"{fcp.file_size >> 8:02X}{fcp.file_size & 0xFF:02X}"
                    assert send(c, f"00B0 {end} 01") == ("", "6B00"), node.name
                else:
                    assert fcp.structure == "linear_fixed", node.name
                    assert fcp.record_count == len(node.records)
                    assert fcp.file_size == fcp.record_length * fcp.record_count  # type: ignore[operator]
                    n = fcp.record_count
                    assert send(c, f"00B2 {n:02X} 04 {fcp.record_length:02X}")[1] == "9000"
                    assert send(c, f"00B2 {n + 1:02X} 04 {fcp.record_length:02X}") == ("", "6A83")
            checked += 1
    assert checked > 40
