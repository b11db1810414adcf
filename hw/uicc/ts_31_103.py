"""ISIM files of 3GPP TS 31.103 and their decoders.

Clause references are to TS 31.103 V17: EF.IMPI 4.2.2, EF.DOMAIN 4.2.3, EF.IMPU 4.2.4,
EF.IST 4.2.7, EF.P-CSCF 4.2.8. The identities are tag-80 data objects holding UTF-8.
"""

from __future__ import annotations

import ipaddress

from attest.errors import CardError
from hw.uicc.tlv import single

# Short file identifiers under ADF.ISIM (TS 31.103 annex list of SFI values).
SFI_IMPI, FID_IMPI = 0x02, bytes.fromhex("6F02")
SFI_DOMAIN, FID_DOMAIN = 0x05, bytes.fromhex("6F03")
SFI_IMPU, FID_IMPU = 0x04, bytes.fromhex("6F04")
SFI_IST, FID_IST = 0x07, bytes.fromhex("6F07")
FID_PCSCF = bytes.fromhex("6F09")  # no SFI: selected by FID

# IST service numbers (TS 31.103 clause 4.2.7).
SERVICE_PCSCF = 1
SERVICE_MCPTT = 15

# The services of EF.IST by number, as TS 31.103 clause 4.2.7 names them (V17).
ISIM_SERVICE_NAMES: dict[int, str] = {
    1: "P-CSCF address",
    2: "Generic Bootstrapping Architecture (GBA)",
    3: "HTTP Digest",
    4: "GBA-based Local Key Establishment Mechanism",
    5: "Support of P-CSCF discovery for IMS Local Break Out",
    6: "Short Message Storage (SMS)",
    7: "Short Message Status Reports (SMSR)",
    8: "Support for SM-over-IP including data download via SMS-PP as defined in TS 31.111",
    9: "Communication Control for IMS by ISIM",
    10: "Support of UICC access to IMS",
    11: "URI support by UICC",
    12: "Media Type support",
    13: "IMS call disconnection cause",
    14: "URI support for MO SHORT MESSAGE CONTROL",
    15: "MCPTT",
    16: "URI support for SMS-PP DOWNLOAD as defined in 3GPP TS 31.111",
    17: "From Preferred",
    18: "IMS configuration data",
    19: "XCAP Configuration Data",
    20: "WebRTC URI",
    21: "MuD and MiD configuration data",
}

_FQDN, _IPV4, _IPV6 = 0x00, 0x01, 0x02


def _utf8(value: bytes, where: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CardError(f"{where}: byte {exc.start + 2} is not valid UTF-8") from None


def decode_tag80_text(data: bytes, where: str) -> str:
    """IMPI, DOMAIN and each IMPU record: ``80 L <UTF-8>`` then FF padding."""
    return _utf8(single(data, 0x80, where).value, where)


def decode_optional_tag80_text(data: bytes, where: str) -> str | None:
    """EF.IMPI / EF.DOMAIN, or None when the file holds no data object at all (all FF:
    an ISIM whose IMS identities were never personalised)."""
    if all(b == 0xFF for b in data):
        return None
    return decode_tag80_text(data, where)


def decode_pcscf(data: bytes, where: str) -> str:
    """One EF.P-CSCF record: ``80 L <address type> <address>``.

    Address type 00 is an FQDN (UTF-8), 01 an IPv4 and 02 an IPv6 address in binary.
    """
    value = single(data, 0x80, where).value
    if not value:
        raise CardError(f"{where}: tag 80 at byte 0 is empty, expected an address type byte")
    kind, address = value[0], value[1:]
    if kind == _FQDN:
        return _utf8(address, where)
    sizes = {_IPV4: 4, _IPV6: 16}
    if kind not in sizes:
        raise CardError(f"{where}: byte 2 has unknown address type {kind:02X}")
    if len(address) != sizes[kind]:
        raise CardError(
            f"{where}: address type {kind:02X} needs {sizes[kind]} bytes, "
            f"the record holds {len(address)}"
        )
    return str(ipaddress.ip_address(address))
