"""The files of ADF.ISIM (3GPP TS 31.103 clause 4.2) as the simulated card holds them.

Mandatory files (``service`` None) are always there; the others exist when their
service in EF.IST (clause 4.2.7) is on and the profile lists them in ``isim.files``.
EF.P-CSCF belongs to service 1 or 5 (clause 4.2.8) and is there exactly when the card
file has P-CSCF addresses (the card then switches service 1 on).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from hw.sim.filedefs import Content, FileDef
from hw.sim.filesystem import ARR_PIN1, ARR_RECORDS, padded, tlv
from hw.sim.ts_31_102 import service_table

if TYPE_CHECKING:
    from hw.cardfile import CardFile, IsimData

P_CSCF_SERVICE = 1  # clause 4.2.7: service 1 = P-CSCF address
P_CSCF_FILE = "EF.P-CSCF"


def _round_up(n: int, step: int = 16) -> int:
    return -(-n // step) * step


def uniform_records(values: list[bytes]) -> list[bytes]:
    """Linear fixed records of one length (the longest value, rounded up), FF padded."""
    length = _round_up(max(len(v) for v in values) + 2)
    return [padded(v, length) for v in values]


def _text_file(value: str) -> bytes:
    """A transparent file holding one tag-80 UTF-8 TLV, FF padded like a real card."""
    content = tlv(0x80, value.encode())
    return padded(content, _round_up(len(content) + 8))


def pcscf_record(address: str) -> bytes:
    """EF.P-CSCF record (clause 4.2.8): 80 L type address; 00 FQDN, 01 IPv4, 02 IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return tlv(0x80, b"\x00" + address.encode())
    return tlv(0x80, (b"\x01" if ip.version == 4 else b"\x02") + ip.packed)


def isim_services(card: CardFile) -> frozenset[int]:
    """EF.IST of ``card``: the profile's services, and P-CSCF when it has addresses."""
    assert card.profile.isim is not None
    extra = {P_CSCF_SERVICE} if _isim(card).pcscf else set()
    return card.profile.isim.services | extra


def _isim(card: CardFile) -> IsimData:
    assert card.isim is not None  # an ISIM is built only for a card file with one
    return card.isim


def _blank_records(count: int, length: int) -> Content:
    return lambda card: [b"\xff" * length for _ in range(count)]


ISIM_FILES: tuple[FileDef, ...] = (
    FileDef("EF.IMPI", 0x6F02, 0x02, lambda card: _text_file(_isim(card).impi), ARR_PIN1),
    FileDef("EF.DOMAIN", 0x6F03, 0x05, lambda card: _text_file(_isim(card).domain), ARR_PIN1),
    FileDef("EF.IMPU", 0x6F04, 0x04, lambda card: uniform_records(
        [tlv(0x80, uri.encode()) for uri in _isim(card).impu]), ARR_PIN1),
    # EF.AD of the ISIM: UE operation mode + 2 bytes additional info (clause 4.2.5).
    FileDef("EF.AD", 0x6FAD, 0x03, lambda card: bytes(3)),
    FileDef("EF.ARR", 0x6F06, 0x06, lambda card: [padded(r, 32) for r in ARR_RECORDS]),
    FileDef("EF.IST", 0x6F07, 0x07, lambda card: service_table(isim_services(card)), ARR_PIN1),
    FileDef(P_CSCF_FILE, 0x6F09, None, lambda card: uniform_records(
        [pcscf_record(a) for a in _isim(card).pcscf]), ARR_PIN1, frozenset({1, 5})),
    # GBA (service 2, clauses 4.2.10, 4.2.11, 4.2.12, 4.2.19): nothing bootstrapped yet.
    FileDef("EF.GBABP", 0x6FD5, None, lambda card: b"\xff" * 32, ARR_PIN1, 2),
    FileDef("EF.GBANL", 0x6FD7, None, _blank_records(1, 32), ARR_PIN1, 2),
    FileDef("EF.NAFKCA", 0x6FDD, None, _blank_records(1, 32), ARR_PIN1, 2),
    FileDef("EF.GBAUAPI", 0x6F0A, None, _blank_records(1, 32), ARR_PIN1, 2),
)
