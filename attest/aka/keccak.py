"""The Keccak-f[1600] permutation (FIPS 202 clause 3; TS 35.231 clause 5 uses it for TUAK).

Written here because ``hashlib``'s SHA-3 only offers the sponge (absorb, pad, squeeze) and
never exposes the bare permutation, and TUAK needs the permutation itself, applied a
configurable number of times to a state it lays out by hand.

The state is 200 bytes; lane (x, y) is bytes 8·(x + 5y) .. +8 read little-endian, which
is the byte/bit convention of FIPS 202 and of TS 35.231 (INOUT[i] is bit i mod 8 of byte
i div 8). The round is unrolled over 25 local variables because this is pure Python and
list indexing costs much more; the ρ offsets are FIPS 202 Table 2, the
round constants are derived from their LFSR definition. The tests check the permutation
against ``hashlib.sha3_256`` and ``hashlib.shake_128`` through a sponge.
"""

from __future__ import annotations

STATE_BYTES = 200
_ROUNDS = 24
_LANE = (1 << 64) - 1


def _round_constants() -> tuple[int, ...]:
    """RC[ir]: bit 2^j - 1 is the LFSR output rc(j + 7·ir) (FIPS 202 Algorithms 5 and 6)."""

    def rc(t: int) -> int:
        r = 0x01  # R = 10000000, R[0] as the least significant bit
        for _ in range(t % 255):
            r <<= 1
            if r & 0x100:
                r ^= 0x171  # reduction by x^8 + x^6 + x^5 + x^4 + 1
        return r & 1

    return tuple(
        sum(rc(j + 7 * ir) << ((1 << j) - 1) for j in range(7)) for ir in range(_ROUNDS)
    )


_RC = _round_constants()


def permute_lanes(lanes: list[int]) -> None:
    """Apply Keccak-f[1600] in place to 25 lanes (64-bit ints, index x + 5y)."""
    (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
     a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24) = lanes
    for rc in _RC:
        # θ: column parities C[x], then D[x] = C[x-1] ⊕ rot(C[x+1], 1).
        c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20
        c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21
        c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22
        c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23
        c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24
        d0 = c4 ^ (((c1 << 1) | (c1 >> 63)) & _LANE)
        d1 = c0 ^ (((c2 << 1) | (c2 >> 63)) & _LANE)
        d2 = c1 ^ (((c3 << 1) | (c3 >> 63)) & _LANE)
        d3 = c2 ^ (((c4 << 1) | (c4 >> 63)) & _LANE)
        d4 = c3 ^ (((c0 << 1) | (c0 >> 63)) & _LANE)
        # ρ and π: lane (x, y), θ applied, rotated by its offset, moves to (y, 2x + 3y).
        b0 = a0 ^ d0
        v = a6 ^ d1
        b1 = ((v << 44) | (v >> 20)) & _LANE
        v = a12 ^ d2
        b2 = ((v << 43) | (v >> 21)) & _LANE
        v = a18 ^ d3
        b3 = ((v << 21) | (v >> 43)) & _LANE
        v = a24 ^ d4
        b4 = ((v << 14) | (v >> 50)) & _LANE
        v = a3 ^ d3
        b5 = ((v << 28) | (v >> 36)) & _LANE
        v = a9 ^ d4
        b6 = ((v << 20) | (v >> 44)) & _LANE
        v = a10 ^ d0
        b7 = ((v << 3) | (v >> 61)) & _LANE
        v = a16 ^ d1
        b8 = ((v << 45) | (v >> 19)) & _LANE
        v = a22 ^ d2
        b9 = ((v << 61) | (v >> 3)) & _LANE
        v = a1 ^ d1
        b10 = ((v << 1) | (v >> 63)) & _LANE
        v = a7 ^ d2
        b11 = ((v << 6) | (v >> 58)) & _LANE
        v = a13 ^ d3
        b12 = ((v << 25) | (v >> 39)) & _LANE
        v = a19 ^ d4
        b13 = ((v << 8) | (v >> 56)) & _LANE
        v = a20 ^ d0
        b14 = ((v << 18) | (v >> 46)) & _LANE
        v = a4 ^ d4
        b15 = ((v << 27) | (v >> 37)) & _LANE
        v = a5 ^ d0
        b16 = ((v << 36) | (v >> 28)) & _LANE
        v = a11 ^ d1
        b17 = ((v << 10) | (v >> 54)) & _LANE
        v = a17 ^ d2
        b18 = ((v << 15) | (v >> 49)) & _LANE
        v = a23 ^ d3
        b19 = ((v << 56) | (v >> 8)) & _LANE
        v = a2 ^ d2
        b20 = ((v << 62) | (v >> 2)) & _LANE
        v = a8 ^ d3
        b21 = ((v << 55) | (v >> 9)) & _LANE
        v = a14 ^ d4
        b22 = ((v << 39) | (v >> 25)) & _LANE
        v = a15 ^ d0
        b23 = ((v << 41) | (v >> 23)) & _LANE
        v = a21 ^ d1
        b24 = ((v << 2) | (v >> 62)) & _LANE
        # χ: a[x] = b[x] ⊕ (¬b[x+1] ∧ b[x+2]) along each row; ι: XOR RC into lane (0, 0).
        a0 = b0 ^ (~b1 & b2) ^ rc
        a1 = b1 ^ (~b2 & b3)
        a2 = b2 ^ (~b3 & b4)
        a3 = b3 ^ (~b4 & b0)
        a4 = b4 ^ (~b0 & b1)
        a5 = b5 ^ (~b6 & b7)
        a6 = b6 ^ (~b7 & b8)
        a7 = b7 ^ (~b8 & b9)
        a8 = b8 ^ (~b9 & b5)
        a9 = b9 ^ (~b5 & b6)
        a10 = b10 ^ (~b11 & b12)
        a11 = b11 ^ (~b12 & b13)
        a12 = b12 ^ (~b13 & b14)
        a13 = b13 ^ (~b14 & b10)
        a14 = b14 ^ (~b10 & b11)
        a15 = b15 ^ (~b16 & b17)
        a16 = b16 ^ (~b17 & b18)
        a17 = b17 ^ (~b18 & b19)
        a18 = b18 ^ (~b19 & b15)
        a19 = b19 ^ (~b15 & b16)
        a20 = b20 ^ (~b21 & b22)
        a21 = b21 ^ (~b22 & b23)
        a22 = b22 ^ (~b23 & b24)
        a23 = b23 ^ (~b24 & b20)
        a24 = b24 ^ (~b20 & b21)
    lanes[:] = (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24)



def to_lanes(state: bytes) -> list[int]:
    """200 state bytes → 25 little-endian lanes."""
    if len(state) != STATE_BYTES:
        raise ValueError(f"Keccak-f[1600] state must be {STATE_BYTES} bytes, got {len(state)}")
    return [int.from_bytes(state[i : i + 8], "little") for i in range(0, STATE_BYTES, 8)]


def from_lanes(lanes: list[int]) -> bytes:
    """25 lanes → 200 state bytes."""
    return b"".join(lane.to_bytes(8, "little") for lane in lanes)


def keccak_f1600(state: bytes, iterations: int = 1) -> bytes:
    """The 200-byte state after ``iterations`` applications of Keccak-f[1600]."""
    lanes = to_lanes(state)
    for _ in range(iterations):
        permute_lanes(lanes)
    return from_lanes(lanes)
