"""USIM files of 3GPP TS 31.102 that identities are read from, and their decoders.

Clause references are to TS 31.102 V17: EF.IMSI 4.2.2, EF.AD 4.2.18, EF.UST 4.2.8,
DF.ProSe 4.4.8; the ICCID (EF 2FE2) is TS 102 221 clause 13.2.
"""

from __future__ import annotations

import logging

from osmocom.utils import swap_nibbles

from attest.errors import CardError

log = logging.getLogger(__name__)

# Short file identifiers under ADF.USIM (TS 31.102 annex H list of SFI values).
SFI_IMSI, FID_IMSI = 0x07, bytes.fromhex("6F07")
SFI_AD, FID_AD = 0x03, bytes.fromhex("6FAD")
SFI_UST, FID_UST = 0x04, bytes.fromhex("6F38")
FID_DF_PROSE = bytes.fromhex("5F90")

# UST service numbers the product looks at (TS 31.102 clause 4.2.8).
SERVICE_GSM_ACCESS = 27
SERVICE_GBA = 68
SERVICE_UICC_IMS = 95
SERVICE_PROSE = 101
SERVICE_MCPTT = 109


def _swapped_bcd(data: bytes) -> str:
    """Digits of swapped-nibble BCD, low nibble first (osmocom's nibble swap)."""
    return str(swap_nibbles(data.hex()))


def decode_iccid(data: bytes) -> str:
    """EF.ICCID: 10 bytes of swapped BCD, F-padded (TS 102 221 clause 13.2)."""
    if len(data) != 10:
        raise CardError(f"EF.ICCID has {len(data)} bytes, expected 10")
    digits = _swapped_bcd(data).rstrip("fF")
    if not digits.isdigit():
        bad = next(i for i, c in enumerate(digits) if not c.isdigit())
        raise CardError(f"EF.ICCID: byte {bad // 2} holds a non-decimal digit")
    return digits


def decode_imsi(data: bytes) -> str:
    """EF.IMSI (TS 31.102 clause 4.2.2).

    Byte 1 is the number of bytes that follow; the low nibble of byte 2 is the identity
    type 001 with the odd/even indicator in bit 4 (TS 24.008 clause 10.5.1.4); digits
    follow in swapped BCD, an even count padded with F.
    """
    if len(data) < 2:
        raise CardError(f"EF.IMSI has {len(data)} bytes, expected 9")
    length = data[0]
    if not 1 <= length <= 8:
        raise CardError(f"EF.IMSI: length byte at byte 0 is {length:02X}, expected 01-08")
    if len(data) < 1 + length:
        raise CardError(
            f"EF.IMSI: length byte at byte 0 says {length} bytes follow, only {len(data) - 1} do"
        )
    nibbles = _swapped_bcd(data[1 : 1 + length])
    type_nibble = int(nibbles[0], 16)
    if type_nibble & 0x07 != 0x01:
        raise CardError(f"EF.IMSI: byte 1 identity type {type_nibble & 7} is not IMSI (1)")
    odd = bool(type_nibble & 0x08)
    digits = nibbles[1:]
    if not odd and digits[-1:].lower() != "f":
        raise CardError("EF.IMSI: even digit count but the last nibble is not the F filler")
    # The even count's filler, and whole FF bytes some cards leave after a short IMSI
    # when the length byte counts the full 8 bytes.
    digits = digits.rstrip("fF")
    if not digits.isdigit():
        bad = next(i for i, c in enumerate(digits) if not c.isdigit())
        raise CardError(f"EF.IMSI: byte {1 + (bad + 1) // 2} holds a non-decimal digit")
    if len(digits) % 2 != odd:
        parity = "odd" if odd else "even"
        raise CardError(
            f"EF.IMSI: byte 1 says an {parity} number of digits, the file holds {len(digits)}"
        )
    if not 6 <= len(digits) <= 15:
        raise CardError(f"EF.IMSI holds {len(digits)} digits, expected 6-15")
    return digits


def decode_mnc_length(ad: bytes) -> int | None:
    """EF.AD byte 4, low nibble: 2 or 3 digits of MNC in the IMSI (TS 31.102 clause 4.2.18).

    None when the byte is absent (older cards have a 3-byte EF.AD) or holds one of the
    values the clause calls reserved (cards personalised before the field existed leave
    00 or FF there): the MNC length is then unknown, which is not a reason to fail a read.
    """
    if len(ad) < 4:
        return None
    n = ad[3] & 0x0F
    if n not in (2, 3):
        log.debug("EF.AD: byte 4 low nibble %X is not an MNC length; reporting none", n)
        return None
    return n


def decode_service_table(data: bytes) -> list[int]:
    """A service table (UST, IST): bit b of byte n (both from 1) is service 8(n-1)+b."""
    return [8 * i + bit + 1 for i, byte in enumerate(data) for bit in range(8) if byte >> bit & 1]


# The services of EF.UST by number, as TS 31.102 clause 4.2.8 names them (V17, with the
# 5GS services of Release 18 that clause 4.4.11.1 lists). Numbers the clause reserves or
# leaves unnamed here are absent: ``service_name`` says so.
USIM_SERVICE_NAMES: dict[int, str] = {
    1: "Local Phone Book",
    2: "Fixed Dialling Numbers (FDN)",
    3: "Extension 2",
    4: "Service Dialling Numbers (SDN)",
    5: "Extension3",
    6: "Barred Dialling Numbers (BDN)",
    7: "Extension4",
    8: "Outgoing Call Information (OCI and OCT)",
    9: "Incoming Call Information (ICI and ICT)",
    10: "Short Message Storage (SMS)",
    11: "Short Message Status Reports (SMSR)",
    12: "Short Message Service Parameters (SMSP)",
    13: "Advice of Charge (AoC)",
    14: "Capability Configuration Parameters 2 (CCP2)",
    15: "Cell Broadcast Message Identifier",
    16: "Cell Broadcast Message Identifier Ranges",
    17: "Group Identifier Level 1",
    18: "Group Identifier Level 2",
    19: "Service Provider Name",
    20: "User controlled PLMN selector with Access Technology",
    21: "MSISDN",
    22: "Image (IMG)",
    23: "Support of Localised Service Areas (SoLSA)",
    24: "Enhanced Multi-Level Precedence and Pre-emption Service",
    25: "Automatic Answer for eMLPP",
    27: "GSM Access",
    28: "Data download via SMS-PP",
    29: "Data download via SMS-CB",
    30: "Call Control by USIM",
    31: "MO-SMS Control by USIM",
    32: "RUN AT COMMAND command",
    33: "Packet Switched Domain (shall be set to '1')",
    34: "Enabled Services Table",
    35: "APN Control List (ACL)",
    36: "Depersonalisation Control Keys",
    37: "Co-operative Network List",
    38: "GSM security context",
    39: "CPBCCH Information",
    40: "Investigation Scan",
    41: "MExE",
    42: "Operator controlled PLMN selector with Access Technology",
    43: "HPLMN selector with Access Technology",
    44: "Extension 5",
    45: "PLMN Network Name",
    46: "Operator PLMN List",
    47: "Mailbox Dialling Numbers",
    48: "Message Waiting Indication Status",
    49: "Call Forwarding Indication Status",
    51: "Service Provider Display Information",
    52: "Multimedia Messaging Service (MMS)",
    53: "Extension 8",
    54: "Call control on GPRS by USIM",
    55: "MMS User Connectivity Parameters",
    56: "Network's indication of alerting in the MS (NIA)",
    57: "VGCS Group Identifier List (EFVGCS and EFVGCSS)",
    58: "VBS Group Identifier List (EFVBS and EFVBSS)",
    59: "Pseudonym",
    60: "User Controlled PLMN selector for I-WLAN access",
    61: "Operator Controlled PLMN selector for I-WLAN access",
    62: "User controlled WSID list",
    63: "Operator controlled WSID list",
    64: "VGCS security",
    65: "VBS security",
    66: "WLAN Reauthentication Identity",
    67: "Multimedia Messages Storage",
    68: "Generic Bootstrapping Architecture (GBA)",
    69: "MBMS security",
    70: "Data download via USSD and USSD application mode",
    71: "Equivalent HPLMN",
    72: "Additional TERMINAL PROFILE after UICC activation",
    73: "Equivalent HPLMN Presentation Indication",
    74: "Last RPLMN Selection Indication",
    75: "OMA BCAST Smart Card Profile",
    76: "GBA-based Local Key Establishment Mechanism",
    77: "Terminal Applications",
    78: "Service Provider Name Icon",
    79: "PLMN Network Name Icon",
    80: "Connectivity Parameters for USIM IP connections",
    81: "Home I-WLAN Specific Identifier List",
    82: "I-WLAN Equivalent HPLMN Presentation Indication",
    83: "I-WLAN HPLMN Priority Indication",
    84: "I-WLAN Last Registered PLMN",
    85: "EPS Mobility Management Information",
    86: "Allowed CSG Lists and corresponding indications",
    87: "Call control on EPS PDN connection by USIM",
    88: "HPLMN Direct Access",
    89: "eCall Data",
    90: "Operator CSG Lists and corresponding indications",
    91: "Support for SM-over-IP",
    92: "Support of CSG Display Control",
    93: "Communication Control for IMS by USIM",
    94: "Extended Terminal Applications",
    95: "Support of UICC access to IMS",
    96: "Non-Access Stratum configuration by USIM",
    97: "PWS configuration by USIM",
    99: "URI support by UICC",
    100: "Extended EARFCN support",
    101: "ProSe",
    102: "USAT Application Pairing",
    103: "Media Type support",
    104: "IMS call disconnection cause",
    105: "URI support for MO SHORT MESSAGE CONTROL",
    106: "ePDG configuration Information support",
    107: "ePDG configuration Information configured",
    108: "ACDC support",
    109: "MCPTT",
    110: "ePDG configuration Information for Emergency Service support",
    111: "ePDG configuration Information for Emergency Service configured",
    112: "eCall Data over IMS",
    113: "URI support for SMS-PP DOWNLOAD as defined in 3GPP TS 31.111",
    114: "From Preferred",
    115: "IMS configuration data",
    116: "TV configuration",
    117: "3GPP PS Data Off",
    118: "3GPP PS Data Off Service List",
    119: "V2X",
    120: "XCAP Configuration Data",
    121: "EARFCN list for MTC/NB-IOT UEs",
    122: "5GS Mobility Management Information",
    123: "5G Security Parameters",
    124: "Subscription identifier privacy support",
    125: "SUCI calculation by the USIM",
    126: "UAC Access Identities support",
    127: "Control plane-based steering of UE in VPLMN",
    128: "Call control on PDU Session by USIM",
    129: "5GS Operator PLMN List",
    130: "Support for SUPI of type NSI or GLI or GCI",
    131: "3GPP PS Data Off separate Home and Roaming lists",
    132: "Support for URSP by USIM",
    133: "5G Security Parameters extended",
    134: "MuD and MiD configuration data",
    135: "Support for Trusted non-3GPP access networks by USIM",
    136: "Support for multiple records of NAS security context storage for multiple "
         "registration",
    137: "Pre-configured CAG information list",
    138: "SOR-CMCI storage in USIM",
    139: "5G ProSe",
    140: "Storage of disaster roaming information in USIM",
    141: "Pre-configured eDRX parameters",
    142: "5G NSWO support",
    144: "Multiplier Coefficient for Higher Priority PLMN search via NG-RAN satellite access",
    145: "KAUSF derivation configuration",
}


def service_name(number: int, names: dict[int, str] = USIM_SERVICE_NAMES) -> str:
    """A service's name from ``names`` (the UST's by default), or words saying it has none
    here (reserved, or newer than the table)."""
    return names.get(number, f"service {number} (no name in this version)")
