"""The simulated UICC's file tree and its FCP templates (ETSI TS 102 221 clauses 8 and 11.1.1.3).

Files are plain objects: a :class:`DF` (MF, DF or ADF) holds children; an :class:`EF` is
transparent (``data``) or linear fixed (``records``, all of one length). The FCP each
answers to SELECT is built here so the command layer never hand-assembles TLVs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from osmocom.tlv import bertlv_encode_len

MF_FID = 0x3F00
CURRENT_ADF_FID = 0x7FFF  # TS 102 221 clause 8.3: the current application's ADF

# ARR records (TS 102 221 clause 9.2.5, expanded format) of EF.ARR in the MF (2F06) and
# in each ADF (6F06, TS 31.102 clause 4.2.50 / TS 31.103 clause 4.2.6), referenced by tag
# 8B in each FCP: 1 = read always / update ADM1, 2 = read PIN1 / update ADM1.
ARR_ALWAYS = 1
ARR_PIN1 = 2
ARR_RECORDS = (
    bytes.fromhex("8001019000800102A40683010A950108"),
    bytes.fromhex("800101A406830101950108800102A40683010A950108"),
)

# File descriptor bytes (TS 102 221 clause 11.1.1.4.3): shareable (b7) + type/structure.
_FD_TRANSPARENT = 0x41
_FD_LINEAR_FIXED = 0x42
_FD_BER_TLV = 0x79
_BER_TLV_SPACE = 512
_FD_DF = 0x78
_DATA_CODING = 0x21  # TS 102 221 clause 11.1.1.4.3: data coding byte of a UICC
_LCSI_ACTIVATED = 0x05  # TS 102 221 clause 11.1.1.4.9: operational state, activated
_ARR_MF = b"\x2f\x06"
_ARR_ADF = b"\x6f\x06"


def swapped_bcd(digits: str) -> bytes:
    """Digits two per byte, low nibble first, padded with F (TS 102 221 clause 13.2)."""
    padded_digits = digits + "F" * (len(digits) % 2)
    return bytes(int(padded_digits[i + 1] + padded_digits[i], 16)
                 for i in range(0, len(padded_digits), 2))


def padded(value: bytes, size: int) -> bytes:
    """``value`` filled up to ``size`` bytes with FF, the erased state of card memory."""
    return value + b"\xff" * (size - len(value))


def tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV with a one-byte tag (every tag the card emits is one byte)."""
    return bytes((tag,)) + bertlv_encode_len(len(value)) + value


@dataclass(eq=False)
class EF:
    """An elementary file. ``records`` set means linear fixed, ``objects`` set BER-TLV
    structured (data objects by tag, TS 102 221 clause 8.2.4), otherwise transparent."""

    fid: int
    name: str
    sfi: int | None = None
    data: bytes = b""
    records: list[bytes] | None = None
    arr: int = ARR_ALWAYS
    parent: DF | None = field(default=None, repr=False)
    objects: dict[int, bytes] | None = None

    @property
    def linear(self) -> bool:
        return self.records is not None

    @property
    def pin_protected(self) -> bool:
        """Reading needs PIN1 (when PIN1 is enabled)."""
        return self.arr == ARR_PIN1

    @property
    def record_length(self) -> int:
        return len(self.records[0]) if self.records else 0

    def _arr_file(self) -> bytes:
        """The EF.ARR the rule reference points into: the ADF's own within an application,
        else the MF's (TS 102 221 clause 9.2.7 "referenced to expanded format")."""
        node = self.parent
        while node is not None:
            if node.aid is not None:
                return _ARR_ADF
            node = node.parent
        return _ARR_MF

    def fcp(self) -> bytes:
        """FCP template (tag 62) for this EF: 82, 83, 8A, 8B, 80, 88."""
        if self.objects is not None:
            descriptor = bytes((_FD_BER_TLV, _DATA_CODING))
            size = _BER_TLV_SPACE  # clause 11.1.1.4.1: the space reserved for the objects
        elif self.records is not None:
            descriptor = (
                bytes((_FD_LINEAR_FIXED, _DATA_CODING))
                + self.record_length.to_bytes(2, "big")
                + bytes((len(self.records),))
            )
            size = self.record_length * len(self.records)
        else:
            descriptor = bytes((_FD_TRANSPARENT, _DATA_CODING))
            size = len(self.data)
        body = (
            tlv(0x82, descriptor)
            + tlv(0x83, self.fid.to_bytes(2, "big"))
            + tlv(0x8A, bytes((_LCSI_ACTIVATED,)))
            + tlv(0x8B, self._arr_file() + bytes((self.arr,)))
            + tlv(0x80, size.to_bytes(2, "big"))
            # Tag 88: SFI in b8-b4; empty = the file has no SFI (clause 11.1.1.4.8).
            + tlv(0x88, b"" if self.sfi is None else bytes((self.sfi << 3,)))
        )
        return tlv(0x62, body)


@dataclass(eq=False)
class DF:
    """A dedicated file: the MF, a DF, or an ADF (which has an AID and FID 7FFF)."""

    fid: int
    name: str
    aid: bytes | None = None
    children: list[EF | DF] = field(default_factory=list)
    parent: DF | None = field(default=None, repr=False)

    def add(self, *nodes: EF | DF) -> DF:
        for node in nodes:
            node.parent = self
            self.children.append(node)
        return self

    def child(self, fid: int) -> EF | DF | None:
        return next((c for c in self.children if c.fid == fid), None)

    def by_sfi(self, sfi: int) -> EF | None:
        return next((c for c in self.children if isinstance(c, EF) and c.sfi == sfi), None)

    def fcp(self, pins: Iterable[tuple[int, bool]]) -> bytes:
        """FCP template (tag 62) for a DF/ADF: 82, 83, 84 (ADF), A5 (MF), 8A, 8B, C6.

        C6 is the PIN status template DO (clause 9.5.2): one key reference (83) per PIN in
        ``pins`` (key reference, enabled), and the PS_DO (90) with, from its most
        significant bit on, one bit per reference in that order, set when it is enabled.
        """
        body = tlv(0x82, bytes((_FD_DF, _DATA_CODING)))
        body += tlv(0x83, self.fid.to_bytes(2, "big"))
        if self.aid is not None:
            body += tlv(0x84, self.aid)
        if self.fid == MF_FID:
            # Proprietary information: UICC characteristics (clause 11.1.1.4.6.1),
            # clock stop allowed, no preferred level; supply voltage classes B and C.
            body += tlv(0xA5, tlv(0x80, b"\x71"))
        body += tlv(0x8A, bytes((_LCSI_ACTIVATED,)))
        body += tlv(0x8B, bytes.fromhex("2F06") + bytes((ARR_ALWAYS,)))
        listed = list(pins)
        status = sum(0x80 >> i for i, (_, enabled) in enumerate(listed) if enabled)
        body += tlv(0xC6, tlv(0x90, bytes((status,)))
                    + b"".join(tlv(0x83, bytes((reference,))) for reference, _ in listed))
        return tlv(0x62, body)

