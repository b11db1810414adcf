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
from hw.transport.base import open_transport
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
