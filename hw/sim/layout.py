"""Build the simulated UICC's file tree from a card file (profile + personalisation).

File IDs and short file identifiers (SFI) used, as the specifications assign them:

==========  ======  ====  ==============  ============================================
file        FID     SFI   structure       specification
==========  ======  ====  ==============  ============================================
MF          3F00    -     DF              ETSI TS 102 221 clause 13.1
EF.DIR      2F00    1E    linear fixed    TS 102 221 clause 13.1 (one record per app)
EF.ICCID    2FE2    02    transparent     TS 102 221 clause 13.2
EF.ARR      2F06    06    linear fixed    TS 102 221 clause 13.4
DF.TELECOM  7F10    -     DF              3GPP TS 31.102 clause 4.4
DF.MCS      5F3D    -     DF              TS 31.102 clause 4.6 (under DF.TELECOM)
EF.MST      4F01    01    transparent     TS 31.102 clause 4.6 (MCS service table)
ADF.USIM    (AID)   -     ADF             TS 31.102 clause 4.2
EF.IMSI     6F07    07    transparent     TS 31.102 clause 4.2.2
EF.AD       6FAD    03    transparent     TS 31.102 clause 4.2.18
EF.UST      6F38    04    transparent     TS 31.102 clause 4.2.8
EF.EST      6F56    05    transparent     TS 31.102 clause 4.2.47
DF.ProSe    5F90    -     DF              TS 31.102 clause 4.4.8 (under ADF.USIM)
EF.PROSEFUNC 4F03   03    linear fixed    TS 31.102 clause 4.4.8 (HPLMN ProSe Function)
ADF.ISIM    (AID)   -     ADF             TS 31.103 clause 4.2
EF.IMPI     6F02    02    transparent     TS 31.103 clause 4.2.2 (tag 80, UTF-8 NAI)
EF.DOMAIN   6F03    05    transparent     TS 31.103 clause 4.2.3 (tag 80, UTF-8)
EF.IMPU     6F04    04    linear fixed    TS 31.103 clause 4.2.4 (tag 80 URI per record)
EF.AD       6FAD    03    transparent     TS 31.103 clause 4.2.5
EF.IST      6F07    07    transparent     TS 31.103 clause 4.2.7
EF.P-CSCF   6F09    -     linear fixed    TS 31.103 clause 4.2.8 (no SFI assigned)
==========  ======  ====  ==============  ============================================

Service tables (EF.UST, EF.IST, EF.MST) are bitmaps: service n is bit (n-1) mod 8 of
byte (n-1) div 8 (TS 31.102 clause 4.2.8).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hw.cardfile import CardFile, IsimData
from hw.sim.filesystem import ARR_PIN1, ARR_RECORDS, DF, EF, MF_FID, tlv

# Full 16-byte AIDs: RID A000000087 (3GPP) and application code 1002 (USIM) / 1004 (ISIM)
# (ETSI TS 101 220 annex E); the rest of the PIX (country, provider, provider field) is
# card-specific, and clients match on the first 7 bytes.
USIM_AID = bytes.fromhex("A0000000871002FFFFFFFF8907090000")
ISIM_AID = bytes.fromhex("A0000000871004FFFFFFFF8907090000")
_ADF_USIM_FID = 0x7FF0  # proprietary FIDs reported in the ADFs' FCP
_ADF_ISIM_FID = 0x7FF1

_ISIM_P_CSCF_SERVICE = 1  # TS 31.103 clause 4.2.7: service 1 = P-CSCF address
_MCS_SERVICES = frozenset({1})  # EF.MST: the MCS application service is available


@dataclass
class Application:
    """One application on the card: its AID, EF.DIR label and ADF."""

    aid: bytes
    label: str
    adf: DF


@dataclass
class Layout:
    """The card's file tree: the MF and the applications listed in EF.DIR."""

    mf: DF
    applications: list[Application]


def service_table(services: frozenset[int] | set[int]) -> bytes:
    """A service bitmap (EF.UST/EF.IST/EF.MST) just long enough for the highest service."""
    table = bytearray((max(services, default=1) + 7) // 8)
    for n in services:
        table[(n - 1) // 8] |= 1 << ((n - 1) % 8)
    return bytes(table)


def swapped_bcd(digits: str) -> bytes:
    """Digits two per byte, low nibble first, padded with F (TS 102 221 clause 13.2)."""
    padded = digits + "F" * (len(digits) % 2)
    return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))


def imsi_file(imsi: str) -> bytes:
    """EF.IMSI (TS 31.102 clause 4.2.2): length byte, parity nibble + digits, FF padding."""
    parity = "9" if len(imsi) % 2 else "1"  # b4 of the first nibble: odd number of digits
    body = swapped_bcd(parity + imsi)
    return (bytes((len(body),)) + body).ljust(9, b"\xff")


def padded(value: bytes, size: int) -> bytes:
    return value + b"\xff" * (size - len(value))


def _round_up(n: int, step: int = 16) -> int:
    return -(-n // step) * step


def _records(values: list[bytes]) -> list[bytes]:
    """Linear fixed records of one length (the longest value, rounded up), FF padded."""
    length = _round_up(max(len(v) for v in values) + 2)
    return [padded(v, length) for v in values]


def _text_file(value: str) -> bytes:
    """A transparent file holding one tag-80 UTF-8 TLV, FF padded like a real card."""
    content = tlv(0x80, value.encode())
    return padded(content, _round_up(len(content) + 8))


def pcscf_record(address: str) -> bytes:
    """EF.P-CSCF record (TS 31.103 clause 4.2.8): 80 L type address; 00 FQDN, 01 IPv4, 02 IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return tlv(0x80, b"\x00" + address.encode())
    return tlv(0x80, (b"\x01" if ip.version == 4 else b"\x02") + ip.packed)


def build_layout(card: CardFile) -> Layout:
    """The complete file tree of ``card``."""
    profile = card.profile
    mf = DF(MF_FID, "MF")
    telecom = DF(0x7F10, "DF.TELECOM")
    if profile.usim.df_mcs:
        telecom.add(
            DF(0x5F3D, "DF.MCS").add(
                EF(0x4F01, "EF.MST", sfi=0x01, data=service_table(_MCS_SERVICES), arr=ARR_PIN1)
            )
        )

    usim = DF(_ADF_USIM_FID, "ADF.USIM", aid=USIM_AID)
    usim.add(
        EF(0x6F07, "EF.IMSI", sfi=0x07, data=imsi_file(card.imsi), arr=ARR_PIN1),
        # EF.AD: UE operation mode normal, no additional info, MNC length (clause 4.2.18).
        EF(0x6FAD, "EF.AD", sfi=0x03, data=bytes((0, 0, 0, card.mnc_length))),
        EF(0x6F38, "EF.UST", sfi=0x04, data=service_table(profile.usim.services), arr=ARR_PIN1),
        EF(0x6F56, "EF.EST", sfi=0x05, data=b"\x00", arr=ARR_PIN1),
    )
    if profile.usim.df_prose:
        usim.add(
            DF(0x5F90, "DF.ProSe").add(
                EF(0x4F03, "EF.PROSEFUNC", sfi=0x03, records=[b"\xff" * 32], arr=ARR_PIN1)
            )
        )
    applications = [Application(USIM_AID, "USIM", usim)]
    if card.isim is not None and profile.isim is not None:
        services = set(profile.isim.services)
        if card.isim.pcscf:
            services.add(_ISIM_P_CSCF_SERVICE)
        applications.append(Application(ISIM_AID, "ISIM", _isim_adf(card.isim, services)))

    dir_records = _records(
        [tlv(0x61, tlv(0x4F, app.aid) + tlv(0x50, app.label.encode())) for app in applications]
    )
    mf.add(
        EF(0x2F00, "EF.DIR", sfi=0x1E, records=dir_records),
        EF(0x2FE2, "EF.ICCID", sfi=0x02, data=swapped_bcd(card.iccid).ljust(10, b"\xff")),
        EF(0x2F06, "EF.ARR", sfi=0x06, records=_records([*ARR_RECORDS])),
        telecom,
    )
    for app in applications:
        app.adf.parent = mf  # an ADF hangs below the MF but is reached by AID only
    return Layout(mf, applications)


def _isim_adf(isim: IsimData, services: set[int]) -> DF:
    adf = DF(_ADF_ISIM_FID, "ADF.ISIM", aid=ISIM_AID)
    adf.add(
        EF(0x6F02, "EF.IMPI", sfi=0x02, data=_text_file(isim.impi), arr=ARR_PIN1),
        EF(0x6F03, "EF.DOMAIN", sfi=0x05, data=_text_file(isim.domain), arr=ARR_PIN1),
        EF(
            0x6F04,
            "EF.IMPU",
            sfi=0x04,
            records=_records([tlv(0x80, uri.encode()) for uri in isim.impu]),
            arr=ARR_PIN1,
        ),
        # EF.AD of the ISIM: UE operation mode + 2 bytes additional info (clause 4.2.5).
        EF(0x6FAD, "EF.AD", sfi=0x03, data=bytes(3)),
        EF(0x6F07, "EF.IST", sfi=0x07, data=service_table(services), arr=ARR_PIN1),
    )
    if isim.pcscf:
        adf.add(
            EF(
                0x6F09,
                "EF.P-CSCF",
                records=_records([pcscf_record(a) for a in isim.pcscf]),
                arr=ARR_PIN1,
            )
        )
    return adf
