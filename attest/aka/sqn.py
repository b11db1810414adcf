"""Sequence numbers, AUTN and AUTS (3GPP TS 33.102 clause 6.3 and Annex C).

SQN is 48 bits: SQN = SEQ ‖ IND with IND the low ``IND_BITS`` = 5 bits (Annex C.1.1).
The network side builds AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A (clause 6.3.2); the card side
opens it, checks MAC-A and the freshness of SQN with an array of SEQ values, one per IND
(Annex C.2.2), and answers a stale SQN with AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S (clause 6.3.3),
from which the network recovers SQN_MS (``resync``) and moves past it.

The attestation service keeps its own IND slot per card so its challenges never consume
sequence numbers of the operator's HSS slots.
"""

from __future__ import annotations

import hmac
from typing import Any

from attest.aka.base import AMF_SIZE, SQN_SIZE, AkaAlgorithm, check_size, xor
from attest.errors import CardError, InputError

IND_BITS = 5
SQN_BITS = 8 * SQN_SIZE
DEFAULT_DELTA = 2**28  # Annex C.2.2: Δ limits how far ahead of SEQ_MS a SEQ may jump
RESYNC_AMF = bytes(AMF_SIZE)  # clause 6.3.3: MAC-S is computed with a dummy AMF of all zeros


class AutsInvalid(CardError):
    """The AUTS a card returned does not verify: MAC-S is wrong for these keys."""


def _check_ind_bits(ind_bits: int) -> int:
    if not 0 <= ind_bits < SQN_BITS:
        raise InputError(f"IND length: expected 0 to {SQN_BITS - 1} bits, got {ind_bits}")
    return ind_bits


def split_sqn(sqn: bytes, ind_bits: int = IND_BITS) -> tuple[int, int]:
    """(SEQ, IND) of a 6-byte SQN (Annex C.1.1)."""
    check_size("SQN", sqn, SQN_SIZE)
    value = int.from_bytes(sqn, "big")
    return value >> _check_ind_bits(ind_bits), value & ((1 << ind_bits) - 1)


def join_sqn(seq: int, ind: int, ind_bits: int = IND_BITS) -> bytes:
    """The 6-byte SQN = SEQ ‖ IND (Annex C.1.1)."""
    _check_ind_bits(ind_bits)
    if not 0 <= ind < 1 << ind_bits:
        raise InputError(f"IND: expected 0 to {(1 << ind_bits) - 1}, got {ind}")
    if not 0 <= seq < 1 << (SQN_BITS - ind_bits):
        raise InputError(f"SEQ: expected 0 to 2^{SQN_BITS - ind_bits} - 1, got {seq}")
    return ((seq << ind_bits) | ind).to_bytes(SQN_SIZE, "big")


def next_sqn(seq_highest: int, ind: int, ind_bits: int = IND_BITS) -> bytes:
    """Network side: the SQN for the next challenge in slot ``ind`` (Annex C.1.2).

    ``seq_highest`` is the highest SEQ this network has used or learned from an AUTS; the
    next one is one above it, so it passes the card's freshness check in every slot.
    """
    return join_sqn(seq_highest + 1, ind, ind_bits)


def build_autn(alg: AkaAlgorithm, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
    """AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A (clause 6.3.2)."""
    check_size("SQN", sqn, SQN_SIZE)
    check_size("AMF", amf, AMF_SIZE)
    ak = alg.f2345(rand)[3]
    return xor(bytes(sqn), ak) + bytes(amf) + alg.f1(rand, sqn, amf)


def open_autn(alg: AkaAlgorithm, rand: bytes, autn: bytes) -> tuple[bytes, bool]:
    """Card side: recover SQN with f5 and check MAC-A in constant time (clause 6.3.3).

    Returns ``(sqn, mac_ok)``; a wrong MAC-A is the card's "MAC failure" (SW 9862), a value
    rather than an exception because the card reports it as an ordinary outcome.
    """
    check_size("AUTN", autn, SQN_SIZE + AMF_SIZE + alg.mac_size)
    ak = alg.f2345(rand)[3]
    sqn = xor(bytes(autn[:SQN_SIZE]), ak)
    amf = bytes(autn[SQN_SIZE : SQN_SIZE + AMF_SIZE])
    expected = alg.f1(rand, sqn, amf)
    return sqn, hmac.compare_digest(expected, bytes(autn[SQN_SIZE + AMF_SIZE :]))


def build_auts(alg: AkaAlgorithm, rand: bytes, sqn_ms: bytes) -> bytes:
    """Card side: AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S, MAC-S = f1*(SQN_MS, RAND, AMF = 0000)."""
    check_size("SQN_MS", sqn_ms, SQN_SIZE)
    return xor(bytes(sqn_ms), alg.f5star(rand)) + alg.f1star(rand, sqn_ms, RESYNC_AMF)


def resync(alg: AkaAlgorithm, rand: bytes, auts: bytes) -> bytes:
    """Network side: SQN_MS from an AUTS, after checking MAC-S in constant time (clause 6.3.5).

    Raises ``AutsInvalid`` when MAC-S does not verify: the AUTS was corrupted, or it came
    from a card whose K/OPc are not the ones given.
    """
    check_size("AUTS", auts, SQN_SIZE + alg.mac_size)
    sqn_ms = xor(bytes(auts[:SQN_SIZE]), alg.f5star(rand))
    expected = alg.f1star(rand, sqn_ms, RESYNC_AMF)
    if not hmac.compare_digest(expected, bytes(auts[SQN_SIZE:])):
        raise AutsInvalid(
            "AUTS rejected: MAC-S does not verify (the card's keys differ from the ones "
            "given, or the AUTS was corrupted)"
        )
    return sqn_ms


class SqnArray:
    """Card-side SQN freshness check with an array of SEQ_MS per IND (TS 33.102 Annex C.2).

    ``accept(sqn)`` is true, and records SEQ in slot IND, when SEQ > SEQ_MS(IND) (the slot
    has not seen this or a later SEQ) and SEQ - SEQ_MS ≤ Δ with SEQ_MS the highest SEQ
    accepted in any slot (Annex C.2.2). ``sqn_ms`` is the highest SQN accepted so far: what
    a card puts into AUTS. A card personalised with ``sqn_ms`` starts with that SQN's SEQ
    in its IND slot and zero elsewhere. The optional age limit L of Annex C.2.2 is not
    applied (it is off on the cards this product meets).
    """

    __slots__ = ("_highest", "_seq", "delta", "ind_bits")

    def __init__(
        self,
        ind_bits: int = IND_BITS,
        delta: int = DEFAULT_DELTA,
        sqn_ms: bytes = bytes(SQN_SIZE),
    ) -> None:
        self.ind_bits = _check_ind_bits(ind_bits)
        if delta < 1:
            raise InputError(f"SQN Δ limit: expected a positive integer, got {delta}")
        self.delta = delta
        seq, ind = split_sqn(sqn_ms, ind_bits)
        self._seq = [0] * (1 << ind_bits)
        self._seq[ind] = seq
        self._highest = int.from_bytes(sqn_ms, "big")

    def __repr__(self) -> str:
        return (
            f"SqnArray(ind_bits={self.ind_bits}, delta={self.delta}, sqn_ms={self.sqn_ms.hex()})"
        )

    @property
    def sqn_ms(self) -> bytes:
        """The highest SQN accepted so far (SQN_MS, clause 6.3.3)."""
        return self._highest.to_bytes(SQN_SIZE, "big")

    def seq_ms(self, ind: int) -> int:
        """SEQ_MS(ind): the last SEQ accepted in slot ``ind``."""
        return self._seq[ind]

    def accept(self, sqn: bytes) -> bool:
        """Check SQN for freshness and the Δ limit; on success record it (Annex C.2.2)."""
        seq, ind = split_sqn(sqn, self.ind_bits)
        if seq <= self._seq[ind]:
            return False
        if seq - (self._highest >> self.ind_bits) > self.delta:
            return False
        self._seq[ind] = seq
        self._highest = max(self._highest, int.from_bytes(sqn, "big"))
        return True

    def to_dict(self) -> dict[str, Any]:
        """Plain values (ints and a list of ints) for storage in JSON or YAML."""
        return {
            "ind_bits": self.ind_bits,
            "delta": self.delta,
            "seq": list(self._seq),
            "sqn_ms": self._highest,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SqnArray:
        """The array ``to_dict`` described; inconsistent data is an InputError."""
        try:
            array = cls(int(data["ind_bits"]), int(data["delta"]))
            seq = [int(v) for v in data["seq"]]
            highest = int(data["sqn_ms"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"SQN array state: missing or malformed field ({exc})") from exc
        if len(seq) != 1 << array.ind_bits or any(not 0 <= v < 1 << SQN_BITS for v in seq):
            raise InputError(f"SQN array state: expected {1 << array.ind_bits} SEQ values")
        if not 0 <= highest < 1 << SQN_BITS or highest >> array.ind_bits != max(seq):
            raise InputError("SQN array state: sqn_ms does not match the highest SEQ")
        array._seq = seq
        array._highest = highest
        return array
