"""Whole reads and AUTHENTICATEs of cards that do not look like the simulated one.

The simulated card only produces the encodings simattest's own layout uses. Cards from
other vendors differ in ways the specifications allow, and every one of these cards is
a full APDU script (tests/fixtures_uicc.py) checked byte by byte, so the exact fallbacks
taken are part of what is asserted:

- EF.DIR with another application first (with discretionary data, tag 73), an unused
  record, the ISIM listed before the USIM, and AIDs of 12 and 16 bytes;
- READ BINARY with Le = 00 refused (6700) or answered short with 6282;
- FCPs with proprietary templates (A5), security attributes (8B) and a GSM-style 9Fxx
  procedure byte in front of them;
- status words 91xx (proactive command pending) on successful commands;
- EF.IMSI with FF padding after a 13-digit IMSI, a 20-byte UST, IST longer than needed,
  IMPI/IMPU data objects padded with FF, an unused IMPU record ending the list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from hw.identity import read_identities
from hw.uicc.authenticate import AuthContext, AuthSuccess, authenticate_app
from hw.uicc.ts_102_221 import StatusWordError
from tests.fixtures_uicc import ScriptedTransport

Script = Callable[[Sequence[tuple[str, str]]], ScriptedTransport]

PKCS15_AID = "A000000063504B43532D3135"
ISIM_AID = "A0000000871004FF49FF058900000100"  # 16 bytes
USIM_AID = "A0000000871002FF49FF0589"  # 12 bytes

DIR_PKCS15 = "611B 4F0C" + PKCS15_AID + "5006 504B43533135" + "7303 800100"
DIR_ISIM = "6118 4F10" + ISIM_AID + "5004 4953494D"
DIR_USIM = "611F 4F0C" + USIM_AID + "500F 5553494D2D54656C656B6F6D2D4445"  # "USIM-Telekom-DE"

ICCID = "984402001132014440F7"  # 8944200011231044047, F-padded swapped BCD
IMSI = "08 29 26 10 21 43 65 87 FF"  # 13 digits 2620112345678, length byte counts 8
# UST of 20 bytes: services 27 (byte 4 bit 3), 101 (byte 13 bit 5), 150 (byte 19 bit 6).
UST = "00000004" + "00" * 8 + "10" + "00" * 5 + "20" + "00"
IST = "004008"  # services 15 and 20

IMPI = "ims-user@ims.mnc001.mcc262.3gppnetwork.org"
DOMAIN = "ims.mnc001.mcc262.3gppnetwork.org"
IMPU_SIP = "sip:+4915112345678@ims.mnc001.mcc262.3gppnetwork.org"
IMPU_TEL = "tel:+4915112345678"


def tag80(text: str, padded_to: int = 0) -> str:
    """``80 L <UTF-8>`` followed by FF up to ``padded_to`` bytes, as cards store it."""
    value = text.encode()
    data = bytes((0x80, len(value))) + value
    return (data + b"\xff" * max(0, padded_to - len(data))).hex().upper()


# FCP of EF.ICCID with a proprietary template (A5), life cycle, security attributes by
# reference (8B) and file size 10.
FCP_ICCID = "621C 82024121 83022FE2 A506C00100CA0180 8A0105 8B032F0603 8002000A"
# FCP of EF.AD, proprietary A5 and an SFI tag, file size 4.
FCP_AD = "621C 82024121 83026FAD A503DA0104 8A0105 8B036F0604 80020004 880118"


def foreign_card_script() -> list[tuple[str, str]]:
    return [
        # EF.DIR: PKCS#15 first, an unused record, then ISIM before USIM.
        ("00B201F400", DIR_PKCS15 + "FF" * 5 + "9000"),
        ("00B202F400", "FF" * 32 + "9000"),
        ("00B203F400", DIR_ISIM + "FF" * 6 + "9000"),
        ("00B204F400", DIR_USIM + "9000"),
        # EF.ICCID: Le = 00 refused; SELECT with FCP announced by 9Fxx; read by size.
        ("00B0820000", "6700"),
        ("00A40004022FE200", "9F1E"),
        ("00C000001E", FCP_ICCID + "9000"),
        ("00B000000A", ICCID + "9000"),
        # ADF.USIM by its 12-byte AID; the card has a proactive command pending.
        ("00A4040C0C" + USIM_AID, "9112"),
        # EF.IMSI: shorter than Le = 00, so 6282 with the 9 bytes.
        ("00B0870000", IMSI + "6282"),
        # EF.AD: Le = 00 refused, read by FID and size.
        ("00B0830000", "6700"),
        ("00A40004026FAD00", FCP_AD + "9000"),
        ("00B0000004", "00000002" + "9000"),
        ("00B0840000", UST + "9000"),
        # UST service 101 is set, DF.ProSe is not there.
        ("00A4000C025F90", "6A82"),
        # ADF.ISIM on the basic channel, by its 16-byte AID.
        ("00A4040C10" + ISIM_AID, "9000"),
        ("00B0820000", tag80(IMPI, 64) + "9000"),
        ("00B0850000", tag80(DOMAIN) + "9000"),
        ("00B0870000", IST + "9000"),
        ("00B2012400", tag80(IMPU_SIP, 80) + "9000"),
        ("00B2022400", tag80(IMPU_TEL, 80) + "9112"),
        ("00B2032400", "FF" * 80 + "9000"),
    ]


def test_foreign_card_reads_completely(scripted: Script) -> None:
    card = scripted(foreign_card_script())
    ids = read_identities(card)
    assert card.done()  # every fallback happened exactly as scripted, nothing more
    assert ids.to_json() == {
        "iccid": "8944200011231044047",
        "imsi": "2620112345678",
        "mnc_length": 2,
        "ust": [27, 101, 150],
        "prose": False,
        "isim": {
            "impi": IMPI,
            "domain": DOMAIN,
            "impu": [IMPU_SIP, IMPU_TEL],
            "ist": [15, 20],
            "pcscf": [],
        },
        "apdu_count": 22,
    }
    assert ids.usim_aid == bytes.fromhex(USIM_AID)
    assert ids.isim_aid == bytes.fromhex(ISIM_AID)


def test_deactivated_df_prose_means_no_prose(scripted: Script) -> None:
    # DF.ProSe present but deactivated: SELECT answers 6283 (warning, file invalidated).
    # ProSe cannot be used, and the rest of the read goes on.
    script = foreign_card_script()
    assert script[14] == ("00A4000C025F90", "6A82")
    script[14] = ("00A4000C025F90", "6283")
    card = scripted(script)
    ids = read_identities(card).to_json()
    assert card.done()
    assert ids["prose"] is False
    assert ids["isim"] is not None and ids["isim"]["impu"] == [IMPU_SIP, IMPU_TEL]


def test_other_refusals_of_df_prose_still_fail_the_read(scripted: Script) -> None:
    # Only "not found" and "deactivated" mean no ProSe; a security refusal is an error.
    script = foreign_card_script()[:15]
    script[14] = ("00A4000C025F90", "6982")
    with pytest.raises(StatusWordError, match="SELECT 5F90"):
        read_identities(scripted(script))


def test_isim_without_personalised_impi_and_domain(scripted: Script) -> None:
    # EF.IMPI and EF.DOMAIN all FF: the read goes on and says so (null), the IMPUs count.
    script = foreign_card_script()
    script[16] = ("00B0820000", "FF" * 64 + "9000")
    script[17] = ("00B0850000", "FF" * 32 + "9000")
    # The first IMPU record cleared to an empty data object ("80 00" then FF).
    script[19] = ("00B2012400", "8000" + "FF" * 78 + "9000")
    card = scripted(script)
    isim = read_identities(card).to_json()["isim"]
    assert card.done()
    assert (isim["impi"], isim["domain"]) == (None, None)
    assert isim["impu"] == [IMPU_TEL]


def test_authenticate_answered_by_get_response_with_proactive_pending(scripted: Script) -> None:
    # A T=0 card: the answer comes by GET RESPONSE, and its final SW is 91xx.
    res, ck, ik, kc = "A1" * 8, "C2" * 16, "D3" * 16, "E4" * 8
    answer = "DB08" + res + "10" + ck + "10" + ik + "08" + kc
    rand, autn = bytes(16), bytes(range(16))
    card = scripted(
        [
            ("00B201F400", DIR_USIM + "9000"),
            ("00A4040C0C" + USIM_AID, "9000"),
            ("008800812210" + rand.hex().upper() + "10" + autn.hex().upper() + "00", "6135"),
            ("00C0000035", answer + "9110"),
        ]
    )
    outcome = authenticate_app(card, "usim", rand, autn, AuthContext.UMTS)
    assert card.done()
    assert outcome == AuthSuccess(
        bytes.fromhex(res), bytes.fromhex(ck), bytes.fromhex(ik), bytes.fromhex(kc)
    )
