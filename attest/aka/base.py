"""What every AKA algorithm set offers: the f1..f5* functions and a complete vector.

The function names and their inputs follow 3GPP TS 33.102 clause 6.3.2 (figure 8,
the authentication vector) and clause 6.3.3 (f1*, f5* for re-synchronisation).
Algorithms are pure: bytes in, bytes out, no I/O. Sizes are checked once at the edge of
each algorithm (``check_size``) so a wrong length never yields a silently wrong vector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from attest.errors import InputError

RAND_SIZE = 16
SQN_SIZE = 6
AMF_SIZE = 2


def check_size(name: str, value: bytes, *sizes: int) -> bytes:
    """Return ``value`` if its length is one of ``sizes``; otherwise raise InputError.

    The message names the field and the lengths, never the value (it may be a key).
    """
    if not isinstance(value, bytes | bytearray):
        raise InputError(f"{name}: expected bytes, got {type(value).__name__}")
    if len(value) not in sizes:
        wanted = " or ".join(str(s) for s in sizes)
        raise InputError(f"{name}: expected {wanted} bytes, got {len(value)}")
    return bytes(value)


def xor(a: bytes, b: bytes) -> bytes:
    """Bytewise XOR of two equal-length strings."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


@dataclass(frozen=True, slots=True)
class AkaVector:
    """One authentication vector and the re-synchronisation values for the same RAND.

    CK and IK are session keys: kept out of ``repr`` so they never reach a log.
    """

    rand: bytes
    sqn: bytes
    amf: bytes
    mac_a: bytes
    mac_s: bytes
    res: bytes
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    ak: bytes = field(repr=False)
    ak_star: bytes = field(repr=False)

    @property
    def autn(self) -> bytes:
        """AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A (TS 33.102 clause 6.3.2)."""
        return xor(self.sqn, self.ak) + self.amf + self.mac_a


class AkaAlgorithm(ABC):
    """An algorithm set (Milenage, TUAK) bound to one subscriber's K and operator constant.

    Instances may be shared between threads.
    """

    @property
    def mac_size(self) -> int:
        """Bytes of MAC-A and MAC-S: 8 unless the algorithm is configured otherwise.

        AUTN is 8 + ``mac_size`` bytes long, AUTS 6 + ``mac_size``."""
        return 8

    @abstractmethod
    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """Network authentication function: MAC-A."""

    @abstractmethod
    def f1star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """Re-synchronisation message authentication function: MAC-S."""

    @abstractmethod
    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """RES (f2), CK (f3), IK (f4) and AK (f5) for one RAND."""

    @abstractmethod
    def f5star(self, rand: bytes) -> bytes:
        """Anonymity key for re-synchronisation: AK*."""

    def vector(self, rand: bytes, sqn: bytes, amf: bytes) -> AkaVector:
        """Every output for one (RAND, SQN, AMF): what an HSS computes per challenge."""
        res, ck, ik, ak = self.f2345(rand)
        return AkaVector(
            rand=bytes(rand),
            sqn=bytes(sqn),
            amf=bytes(amf),
            mac_a=self.f1(rand, sqn, amf),
            mac_s=self.f1star(rand, sqn, amf),
            res=res,
            ck=ck,
            ik=ik,
            ak=ak,
            ak_star=self.f5star(rand),
        )
