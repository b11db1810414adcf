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
