"""The files of ADF.USIM (3GPP TS 31.102 clause 4.2, DF.GSM-ACCESS 4.4.3, DF.ProSe 4.4.8)
as the simulated card holds them, with what a fresh card has in each.

Mandatory files (``service`` None) are always there; the others exist when their
service in EF.UST (clause 4.2.8) is on and the profile lists them in ``usim.files``.
FIDs and SFIs are those of TS 31.102 (SFIs: annex H); sizes and fresh contents follow
each file's clause. Contents are derived from the card file where the specification
ties them to it (EF.ACC from the IMSI, clause 4.2.15; EF.AD's MNC length).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hw.sim.filedefs import Content, FileDef
from hw.sim.filesystem import ARR_PIN1, ARR_RECORDS, padded, swapped_bcd

if TYPE_CHECKING:
    from hw.cardfile import CardFile


def service_table(services: frozenset[int] | set[int], size: int = 0) -> bytes:
    """A service bitmap (EF.UST/EF.IST/EF.MST): service n is bit (n-1) mod 8 of byte
    (n-1) div 8 (clause 4.2.8); at least ``size`` bytes, or just long enough."""
    table = bytearray(max(size, (max(services, default=1) + 7) // 8))
    for n in services:
        table[(n - 1) // 8] |= 1 << ((n - 1) % 8)
    return bytes(table)


def imsi_file(imsi: str) -> bytes:
    """EF.IMSI (clause 4.2.2): length byte, parity nibble + digits, FF padding."""
    parity = "9" if len(imsi) % 2 else "1"  # b4 of the first nibble: odd number of digits
    body = swapped_bcd(parity + imsi)
    return (bytes((len(body),)) + body).ljust(9, b"\xff")


def access_class(imsi: str) -> bytes:
    """EF.ACC (clause 4.2.15): the access class is the IMSI's last digit (TS 22.011
    clause 4.2); byte 2 b1-b8 are classes 0-7, byte 1 b1-b2 classes 8-9."""
    n = int(imsi[-1])
    return (1 << n).to_bytes(2, "big") if n < 8 else bytes((1 << (n - 8), 0))


def _fixed(value: bytes) -> Content:
    return lambda card: value


def _ff(size: int) -> Content:
    return _fixed(b"\xff" * size)


def _blank_records(count: int, length: int, first: bytes = b"") -> Content:
    """``count`` unused records (FF), each starting with ``first``."""
    return lambda card: [padded(first, length) for _ in range(count)]


# Fresh contents shared with DF.GSM (TS 51.011), which mirrors them.
LANGUAGE = _fixed(b"en" + b"\xff" * 2)  # EF.LI / EF.PL / EF.LP: English, one free slot
IMSI: Content = lambda card: imsi_file(card.imsi)  # noqa: E731
ACC: Content = lambda card: access_class(card.imsi)  # noqa: E731
HPPLMN = _fixed(b"\x0a")  # clause 4.2.6: search every 10 x 6 minutes
FPLMN = _ff(12)  # clause 4.2.16: four empty entries
# Clause 4.2.17: TMSI FF..FF, LAI with the deleted LAC FFFE (TS 24.008 clause 10.5.1.3),
# RFU, location update status 01 (not updated).
LOCI = _fixed(bytes.fromhex("FFFFFFFF FFFFFFFFFE 00 01"))
# Clause 4.2.23: P-TMSI, P-TMSI signature, RAI (deleted LAC, RAC FF), status 01.
PSLOCI = _fixed(bytes.fromhex("FFFFFFFF FFFFFF FFFFFFFFFEFF 01"))
KC = _fixed(b"\xff" * 8 + b"\x07")  # Kc unknown, CKSN 07: no key (clause 4.4.3.1)
SPN = _fixed(b"\x00" + b"\xff" * 16)  # clause 4.2.12: display condition, no name yet
PLMNWACT = _fixed(bytes.fromhex("FFFFFF0000") * 8)  # clause 4.2.5: eight empty entries
SMSP = _blank_records(1, 40)  # clause 4.2.27: 28 + 12 bytes of alpha identifier
MSISDN = _blank_records(1, 24)  # clause 4.2.26: 14 + 10 bytes of alpha identifier
SMS = _blank_records(10, 176, b"\x00")  # clause 4.2.25: status 00 = free
SMSS = _fixed(b"\xff\xff")  # clause 4.2.28: last TP-MR, memory capacity available


def _ad(card: CardFile) -> bytes:
    """EF.AD (clause 4.2.18): UE operation mode normal, no additional info, MNC length."""
    return bytes((0, 0, 0, card.mnc_length))


AD: Content = _ad

# EF.Keys/EF.KeysPS (clauses 4.2.4, 4.2.5): KSI 07 (no key) and CK, IK unknown.
_KEYS = _fixed(b"\x07" + b"\xff" * 32)
# EF.ECC (clause 4.2.21): 112 and 911 in BCD, no alpha identifier, no category.
_ECC: Content = lambda card: [bytes.fromhex("11F2FF00"), bytes.fromhex("19F1FF00")]  # noqa: E731
_ARR: Content = lambda card: [padded(r, 32) for r in ARR_RECORDS]  # noqa: E731
# EF.START-HFN (clause 4.2.51): START-CS and START-PS at their initial F00000
# (TS 33.102 clause 6.4.8); EF.THRESHOLD (4.2.52): the maximum, FFFFFF.
_START_HFN = _fixed(bytes.fromhex("F00000F00000"))
_THRESHOLD = _ff(3)
# EF.NETPAR (clause 4.2.61): empty GSM, UTRAN FDD and E-UTRAN cell lists.
_NETPAR = _fixed(padded(bytes.fromhex("A000A100A200"), 16))
# EF.EPSLOCI (clause 4.2.91): GUTI unknown, TAI with deleted TAC FFFE, status 01
# (not updated); EF.EPSNSC (4.2.92): KSI_ASME 07 (no key) in an empty context.
_EPSLOCI = _fixed(b"\xff" * 12 + bytes.fromhex("FFFFFFFFFE 01"))
_EPSNSC = _blank_records(1, 54, bytes.fromhex("A003800107"))

_GSM_ACCESS = 27
_PROSE = 101

USIM_FILES: tuple[FileDef, ...] = (
    FileDef("EF.LI", 0x6F05, 0x02, LANGUAGE),
    FileDef("EF.IMSI", 0x6F07, 0x07, IMSI, ARR_PIN1),
    FileDef("EF.Keys", 0x6F08, 0x08, _KEYS, ARR_PIN1),
    FileDef("EF.KeysPS", 0x6F09, 0x09, _KEYS, ARR_PIN1),
    FileDef("EF.HPPLMN", 0x6F31, 0x12, HPPLMN, ARR_PIN1),
    FileDef("EF.UST", 0x6F38, 0x04, lambda card: service_table(card.profile.usim.services),
            ARR_PIN1),
    FileDef("EF.ACC", 0x6F78, 0x06, ACC, ARR_PIN1),
    FileDef("EF.FPLMN", 0x6F7B, 0x0D, FPLMN, ARR_PIN1),
    FileDef("EF.LOCI", 0x6F7E, 0x0B, LOCI, ARR_PIN1),
    FileDef("EF.AD", 0x6FAD, 0x03, AD),
    FileDef("EF.ECC", 0x6FB7, 0x01, _ECC),
    FileDef("EF.PSLOCI", 0x6F73, 0x0C, PSLOCI, ARR_PIN1),
    FileDef("EF.START-HFN", 0x6F5B, 0x0F, _START_HFN, ARR_PIN1),
    FileDef("EF.THRESHOLD", 0x6F5C, 0x10, _THRESHOLD, ARR_PIN1),
    FileDef("EF.ARR", 0x6F06, 0x17, _ARR),
    FileDef("EF.NETPAR", 0x6FC4, None, _NETPAR, ARR_PIN1),
    # Enabled services table: FDN (2), BDN (6), APN control list (35), call control
    # on EPS PDN connection (34) (clause 4.2.47).
    FileDef("EF.EST", 0x6F56, 0x05, _fixed(b"\x00"), ARR_PIN1, frozenset({2, 6, 34, 35})),
    FileDef("EF.SMS", 0x6F3C, None, SMS, ARR_PIN1, 10),
    FileDef("EF.SMSS", 0x6F43, None, SMSS, ARR_PIN1, 10),
    FileDef("EF.SMSP", 0x6F42, None, SMSP, ARR_PIN1, 12),
    FileDef("EF.SPN", 0x6F46, None, SPN, service=19),
    FileDef("EF.PLMNwAcT", 0x6F60, 0x0A, PLMNWACT, ARR_PIN1, 20),
    FileDef("EF.MSISDN", 0x6F40, None, MSISDN, ARR_PIN1, 21),
    FileDef("DF.GSM-ACCESS", 0x5F3B, service=_GSM_ACCESS, children=(
        FileDef("EF.Kc", 0x4F20, 0x01, KC, ARR_PIN1, _GSM_ACCESS),
        FileDef("EF.KcGPRS", 0x4F52, 0x02, KC, ARR_PIN1, _GSM_ACCESS),
    )),
    FileDef("EF.GBABP", 0x6FD6, None, _ff(32), ARR_PIN1, 68),
    FileDef("EF.GBANL", 0x6FDA, None, _blank_records(1, 32), ARR_PIN1, 68),
    FileDef("EF.GBAUAPI", 0x6F0A, None, _blank_records(1, 32), ARR_PIN1, 68),
    FileDef("EF.EPSLOCI", 0x6FE3, 0x1E, _EPSLOCI, ARR_PIN1, 85),
    FileDef("EF.EPSNSC", 0x6FE4, 0x18, _EPSNSC, ARR_PIN1, 85),
    # DF.ProSe (clause 4.4.8): every EF of the DF, with nothing configured yet.
    FileDef("DF.ProSe", 0x5F90, service=_PROSE, children=tuple(
        FileDef(name, fid, fid & 0xFF, content, ARR_PIN1, _PROSE)
        for name, fid, content in (
            ("EF.PROSE_MON", 0x4F01, _blank_records(1, 32)),
            ("EF.PROSE_ANN", 0x4F02, _blank_records(1, 32)),
            ("EF.PROSEFUNC", 0x4F03, _blank_records(1, 32)),
            ("EF.PROSE_RADIO_COM", 0x4F04, _ff(32)),
            ("EF.PROSE_RADIO_MON", 0x4F05, _ff(32)),
            ("EF.PROSE_RADIO_ANN", 0x4F06, _ff(32)),
            ("EF.PROSE_POLICY", 0x4F07, _blank_records(1, 32)),
            ("EF.PROSE_PLMN", 0x4F08, _blank_records(1, 32)),
            ("EF.PROSE_GC", 0x4F09, _ff(16)),
            ("EF.PST", 0x4F10, _fixed(b"\x00")),
            ("EF.UIRC", 0x4F11, _ff(32)),
            ("EF.PROSE_GM_DISCOVERY", 0x4F12, _blank_records(1, 32)),
            ("EF.PROSE_RELAY", 0x4F13, _blank_records(1, 32)),
            ("EF.PROSE_RELAY_DISCOVERY", 0x4F14, _ff(32)),
        )
    )),
)
