"""GSM conversion functions c2 and c3 (3GPP TS 33.102 clause 6.8.1.2; TS 55.205 clause 4).

A USIM answering in GSM context, and an HSS serving a GSM-only terminal, derive the GSM
SRES and Kc from the UMTS outputs with these two XOR folds.
"""

from __future__ import annotations

from attest.aka.base import check_size
from attest.errors import InputError

SRES_SIZE = 4
KC_SIZE = 8
_RES_MIN, _RES_MAX = 4, 16


def _fold(data: bytes, width: int) -> bytes:
    """XOR of the consecutive ``width``-byte words of ``data`` (a multiple of ``width`` long)."""
    acc = 0
    for i in range(0, len(data), width):
        acc ^= int.from_bytes(data[i : i + width], "big")
    return acc.to_bytes(width, "big")


def c2(res: bytes) -> bytes:
    """SRES = RES1 ⊕ RES2 ⊕ RES3 ⊕ RES4, the 32-bit words of RES zero-padded to 128 bits.

    TS 33.102 defines c2 for RES of 32 to 128 bits; a longer RES (TUAK's 256 bits) has no
    GSM conversion there, so it is refused rather than guessed.
    """
    if not _RES_MIN <= len(res) <= _RES_MAX:
        raise InputError(
            f"RES: c2 needs {_RES_MIN} to {_RES_MAX} bytes (32 to 128 bits), got {len(res)}"
        )
    return _fold(bytes(res).ljust(_RES_MAX, b"\0"), SRES_SIZE)


def c3(ck: bytes, ik: bytes) -> bytes:
    """Kc = CK1 ⊕ CK2 ⊕ IK1 ⊕ IK2, the 64-bit halves of CK and IK."""
    check_size("CK", ck, 16)
    check_size("IK", ik, 16)
    return _fold(bytes(ck) + bytes(ik), KC_SIZE)
