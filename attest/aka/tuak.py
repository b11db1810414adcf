"""TUAK, the Keccak-based AKA algorithm set (3GPP TS 35.231; test data TS 35.233).

Every function fills the 1600-bit Keccak state INOUT, applies Keccak-f[1600]
``keccak_iterations`` times and reads its output bits back (TS 35.231 clauses 6.2-6.6):

====================  ===================================  ====================
INOUT bits            content                              state bytes
====================  ===================================  ====================
0..255                TOP (TOPc derivation) or TOPc        0..31
256..263              INSTANCE                             32
264..319              ALGONAME "TUAK1.0"                   33..39
320..447              RAND (zero for TOPc)                 40..55
448..463              AMF  (f1, f1* only)                  56..57
464..511              SQN  (f1, f1* only)                  58..63
512..767              K (a 128-bit K fills 512..639)       64..95
768..772, 1087       padding: five 1 bits … one 1 bit     96 = 0x1F, 135 = 0x80
====================  ===================================  ====================

The spec numbers bits from the least significant end of each value (TOP[0] is the last
bit of the byte string) and INOUT[i] is bit i mod 8 of state byte i div 8, so each value
lands in the state with its *byte order reversed*; the same holds on the way out.
Outputs: MAC / RES from bit 0, CK from bit 256, IK from bit 512, AK from bit 768.

INSTANCE (clause 6.1) says which function runs and with which lengths: bit 7..6 =
00 f1 / 10 f1* / 01 f2345 / 11 f5*; bits 5..3 the MAC or RES length (001 = 64,
010 = 128, 100 = 256 bits; 000 = RES of 32); bit 2 CK of 256, bit 1 IK of 256; bit 0 a
256-bit K.
"""

from __future__ import annotations

from attest.aka.base import AMF_SIZE, RAND_SIZE, SQN_SIZE, AkaAlgorithm, check_size
from attest.aka.keccak import STATE_BYTES, from_lanes, permute_lanes, to_lanes
from attest.errors import InputError

TOP_SIZE = 32
ALGONAME = b"TUAK1.0"
RES_LENGTHS = (32, 64, 128, 256)
MAC_LENGTHS = (64, 128, 256)
KEY_LENGTHS = (128, 256)  # CK and IK

# Bits 5..3 of INSTANCE for a MAC or RES length (clause 6.1).
_LEN_CODE = {32: 0b000 << 3, 64: 0b001 << 3, 128: 0b010 << 3, 256: 0b100 << 3}
_F1, _F1STAR, _F2345, _F5STAR, _TOPC = 0x00, 0x80, 0x40, 0xC0, 0x00
_CK256, _IK256, _K256 = 0x04, 0x02, 0x01


def _check_k(k: bytes) -> bytes:
    return check_size("K", k, 16, 32)


def _core(
    top: bytes,
    instance: int,
    rand: bytes,
    amf: bytes,
    sqn: bytes,
    k: bytes,
    iterations: int,
) -> bytes:
    """The state INOUT after filling it as in the table above and permuting it."""
    state = bytearray(STATE_BYTES)
    state[0:32] = top[::-1]
    state[32] = instance | (_K256 if len(k) == 32 else 0)
    state[33:40] = ALGONAME[::-1]
    state[40:56] = rand[::-1]
    state[56:58] = amf[::-1]
    state[58:64] = sqn[::-1]
    state[64 : 64 + len(k)] = k[::-1]
    state[96] = 0x1F  # INOUT[768..772] = 1 (the spec's padding, as SHAKE's suffix)
    state[135] = 0x80  # INOUT[1087] = 1
    lanes = to_lanes(bytes(state))
    for _ in range(iterations):
        permute_lanes(lanes)
    return from_lanes(lanes)


def _field(state: bytes, start_bit: int, bits: int) -> bytes:
    """Output bits start..start+bits-1 of INOUT as a byte string (byte order reversed back)."""
    start = start_bit // 8
    return state[start : start + bits // 8][::-1]


def _check_iterations(keccak_iterations: int) -> int:
    if not isinstance(keccak_iterations, int) or isinstance(keccak_iterations, bool) or (
        keccak_iterations < 1
    ):
        raise InputError(
            f"TUAK Keccak iterations: expected an integer ≥ 1, got {keccak_iterations!r}"
        )
    return keccak_iterations


def topc_from_top(k: bytes, top: bytes, keccak_iterations: int = 1) -> bytes:
    """TOPc = INOUT[0..255] after Keccak on TOP, INSTANCE, ALGONAME and K (TS 35.231 clause 6.2)."""
    k = _check_k(k)
    check_size("TOP", top, TOP_SIZE)
    out = _core(
        bytes(top),
        _TOPC,
        bytes(RAND_SIZE),
        bytes(AMF_SIZE),
        bytes(SQN_SIZE),
        k,
        _check_iterations(keccak_iterations),
    )
    return _field(out, 0, 256)


def _check_length(name: str, bits: int, allowed: tuple[int, ...]) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or bits not in allowed:
        choices = ", ".join(str(b) for b in allowed)
        raise InputError(f"TUAK {name} length: expected one of {choices} bits, got {bits!r}")
    return bits


class Tuak(AkaAlgorithm):
    """TUAK bound to one K (128 or 256 bits) and TOPc (give ``topc``, or ``top`` to derive it).

    Output lengths are in bits and fixed per card (TS 35.231 clause 6.1): RES 32/64/128/256,
    MAC 64/128/256, CK and IK 128/256.
    """

    __slots__ = ("_iterations", "_k", "_topc", "ck_len", "ik_len", "mac_len", "res_len")

    def __init__(
        self,
        k: bytes,
        *,
        top: bytes | None = None,
        topc: bytes | None = None,
        keccak_iterations: int = 1,
        res_len: int = 64,
        mac_len: int = 64,
        ck_len: int = 128,
        ik_len: int = 128,
    ) -> None:
        self._k = _check_k(k)
        self._iterations = _check_iterations(keccak_iterations)
        self.res_len = _check_length("RES", res_len, RES_LENGTHS)
        self.mac_len = _check_length("MAC", mac_len, MAC_LENGTHS)
        self.ck_len = _check_length("CK", ck_len, KEY_LENGTHS)
        self.ik_len = _check_length("IK", ik_len, KEY_LENGTHS)
        if (top is None) == (topc is None):
            raise InputError("TUAK needs exactly one of TOP or TOPc")
        if topc is None:
            assert top is not None  # for mypy: exactly one is set
            topc = topc_from_top(self._k, top, keccak_iterations)
        self._topc = check_size("TOPc", topc, TOP_SIZE)

    def __repr__(self) -> str:
        return (
            f"Tuak(<keys hidden>, k_len={len(self._k) * 8}, iterations={self._iterations}, "
            f"res_len={self.res_len}, mac_len={self.mac_len}, ck_len={self.ck_len}, "
            f"ik_len={self.ik_len})"
        )

    @property
    def mac_size(self) -> int:
        return self.mac_len // 8

    @property
    def topc(self) -> bytes:
        """The operator variant constant this instance uses (secret: never log it)."""
        return self._topc

    def _run(self, instance: int, rand: bytes, amf: bytes, sqn: bytes) -> bytes:
        check_size("RAND", rand, RAND_SIZE)
        check_size("AMF", amf, AMF_SIZE)
        check_size("SQN", sqn, SQN_SIZE)
        return _core(
            self._topc, instance, bytes(rand), bytes(amf), bytes(sqn), self._k, self._iterations
        )

    def _mac(self, instance: int, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        out = self._run(instance | _LEN_CODE[self.mac_len], rand, amf, sqn)
        return _field(out, 0, self.mac_len)

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-A (TS 35.231 clause 6.3)."""
        return self._mac(_F1, rand, sqn, amf)

    def f1star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-S (TS 35.231 clause 6.4)."""
        return self._mac(_F1STAR, rand, sqn, amf)

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """RES, CK, IK, AK from one Keccak run (TS 35.231 clause 6.5)."""
        instance = (
            _F2345
            | _LEN_CODE[self.res_len]
            | (_CK256 if self.ck_len == 256 else 0)
            | (_IK256 if self.ik_len == 256 else 0)
        )
        out = self._run(instance, rand, bytes(AMF_SIZE), bytes(SQN_SIZE))
        return (
            _field(out, 0, self.res_len),
            _field(out, 256, self.ck_len),
            _field(out, 512, self.ik_len),
            _field(out, 768, 48),
        )

    def f5star(self, rand: bytes) -> bytes:
        """AK* (TS 35.231 clause 6.6)."""
        out = self._run(_F5STAR, rand, bytes(AMF_SIZE), bytes(SQN_SIZE))
        return _field(out, 768, 48)
