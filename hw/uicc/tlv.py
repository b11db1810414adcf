"""BER-TLV as cards send it, parsed strictly (ITU-T X.690 clause 8.1, ISO/IEC 7816-4 clause 5.2).

pyosmocom's tag/length decoders do the decoding; this wrapper adds what a card-facing
parser needs and they do not: a truncated tag, length or value, and an indefinite length,
become a :class:`CardError` naming the tag and the byte offset instead of an IndexError
or a silently short value. Trailing ``FF`` padding (customary in SIM files) ends the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from osmocom.tlv import bertlv_parse_len, bertlv_parse_tag_raw

from attest.errors import CardError


@dataclass(frozen=True)
class Tlv:
    """One data object: its tag (as the raw tag bytes read as an integer), value and offset."""

    tag: int
    value: bytes
    offset: int  # byte offset of the tag within the parsed buffer


def parse_tlvs(data: bytes, where: str, base: int = 0) -> list[Tlv]:
    """Split ``data`` into consecutive BER-TLV objects.

    ``where`` names the source for errors (``"FCP of 6F07"``); ``base`` is added to the
    offsets reported, so nested objects report positions in the outer buffer.
    """
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        if data[pos] == 0xFF and all(b == 0xFF for b in data[pos:]):
            break  # unused space after the last object
        offset = base + pos
        try:
            tag, rest = bertlv_parse_tag_raw(data[pos:])
        except IndexError:
            raise CardError(f"{where}: tag at byte {offset} is truncated") from None
        if tag is None:  # pyosmocom reports FF FF padding this way
            break
        if not rest:
            raise CardError(f"{where}: tag {tag:02X} at byte {offset} has no length byte")
        first = rest[0]
        if first == 0x80:
            raise CardError(f"{where}: tag {tag:02X} at byte {offset} has an indefinite length")
        if first > 0x80 and len(rest) < 1 + (first & 0x7F):
            raise CardError(f"{where}: length of tag {tag:02X} at byte {offset} is truncated")
        length, value_and_more = bertlv_parse_len(rest)
        if length > len(value_and_more):
            raise CardError(
                f"{where}: tag {tag:02X} at byte {offset} declares {length} bytes "
                f"but only {len(value_and_more)} remain"
            )
        header = len(data) - pos - len(value_and_more)
        out.append(Tlv(tag, bytes(value_and_more[:length]), offset))
        pos += header + length
    return out


def find(tlvs: list[Tlv], tag: int) -> Tlv | None:
    """The first object with ``tag``, or None."""
    return next((t for t in tlvs if t.tag == tag), None)


def single(data: bytes, tag: int, where: str) -> Tlv:
    """``data`` must start with one object of ``tag`` (e.g. a tag-80 string in an ISIM EF)."""
    tlvs = parse_tlvs(data, where)
    if not tlvs or tlvs[0].tag != tag:
        got = f"tag {tlvs[0].tag:02X}" if tlvs else "no data object"
        raise CardError(f"{where}: expected tag {tag:02X} at byte 0, found {got}")
    return tlvs[0]
