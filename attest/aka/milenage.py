"""Milenage, the 3GPP example AKA algorithm set (3GPP TS 35.206, test data TS 35.208).

Kernel E_K is AES-128 from ``cryptography``. All arithmetic on 128-bit blocks (XOR,
cyclic rotation) is done on Python ints, and the blocks are encrypted with one ECB
encryptor kept per key: a complete vector costs two ``update()`` calls (TEMP, then the
five OUT blocks together, since they all depend only on TEMP — TS 35.206 clause 4.1).
"""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from attest.aka.base import (
    AMF_SIZE,
    RAND_SIZE,
    SQN_SIZE,
    AkaAlgorithm,
    AkaVector,
    check_size,
)
from attest.errors import InputError

BLOCK = 16
_MASK = (1 << 128) - 1
# f2..f5* do not depend on SQN and AMF; OUT1 is computed from these and discarded.
_NO_SQN = bytes(SQN_SIZE)
_NO_AMF = bytes(AMF_SIZE)

# TS 35.206 clause 4.1: OUTi = E_K(rot(TEMP ⊕ OPc, ri) ⊕ ci) ⊕ OPc (OUT1 differs, see
# _out) with r1..r5 = 64, 0, 32, 64, 96 bits and c1..c5 = 0, 1, 2, 4, 8. The rotations are
# written out in _out because they are fixed; these are the constants.
_C2, _C3, _C4, _C5 = 1, 2, 4, 8


def _aes_ecb(k: bytes) -> CipherContext:
    """E_K as a reusable AES-128 encryptor; ECB because every input is one independent block."""
    return Cipher(algorithms.AES(bytes(k)), modes.ECB()).encryptor()  # noqa: S305


def opc_from_op(k: bytes, op: bytes) -> bytes:
    """OPc = OP ⊕ E_K(OP) (TS 35.206 clause 4.1)."""
    check_size("K", k, BLOCK)
    check_size("OP", op, BLOCK)
    e_op = _aes_ecb(k).update(op)
    return (int.from_bytes(op, "big") ^ int.from_bytes(e_op, "big")).to_bytes(BLOCK, "big")


class Milenage(AkaAlgorithm):
    """Milenage bound to one K and OPc (give ``opc``, or ``op`` to derive it).

    An instance may be shared between threads: the encryptor is used under a lock.
    """

    __slots__ = ("_enc", "_lock", "_opc", "_opc5")

    def __init__(self, k: bytes, *, opc: bytes | None = None, op: bytes | None = None) -> None:
        check_size("K", k, BLOCK)
        if (opc is None) == (op is None):
            raise InputError("Milenage needs exactly one of OP or OPc")
        if opc is None:
            assert op is not None  # for mypy: exactly one is set
            opc = opc_from_op(k, op)
        check_size("OPc", opc, BLOCK)
        self._opc = int.from_bytes(opc, "big")
        self._opc5 = int.from_bytes(bytes(opc) * 5, "big")  # XORs all five OUT blocks at once
        self._enc = _aes_ecb(k)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Milenage(<keys hidden>)"

    @property
    def opc(self) -> bytes:
        """The operator variant constant this instance uses (secret: never log it)."""
        return self._opc.to_bytes(BLOCK, "big")

    def _out(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """OUT1 ‖ OUT2 ‖ OUT3 ‖ OUT4 ‖ OUT5 (80 bytes) for one RAND, SQN and AMF.

        TEMP = E_K(RAND ⊕ OPc); OUT1 = E_K(TEMP ⊕ rot(IN1 ⊕ OPc, r1) ⊕ c1) ⊕ OPc with
        IN1 = SQN ‖ AMF ‖ SQN ‖ AMF; OUT2..OUT5 as above. The five blocks go to AES in one
        call: that, not the XORs, is what sets the speed.
        """
        if len(rand) != RAND_SIZE or len(sqn) != SQN_SIZE or len(amf) != AMF_SIZE:
            check_size("RAND", rand, RAND_SIZE)
            check_size("SQN", sqn, SQN_SIZE)
            check_size("AMF", amf, AMF_SIZE)
        opc = self._opc
        sqn_amf = int.from_bytes(sqn + amf, "big")
        in1 = ((sqn_amf << 64) | sqn_amf) ^ opc
        with self._lock:
            temp = int.from_bytes(
                self._enc.update((int.from_bytes(rand, "big") ^ opc).to_bytes(BLOCK, "big")),
                "big",
            )
            t = temp ^ opc
            blocks = (
                ((temp ^ (((in1 << 64) | (in1 >> 64)) & _MASK)) << 512)  # r1 = 64, c1 = 0
                | ((t ^ _C2) << 384)  # r2 = 0
                | (((((t << 32) | (t >> 96)) & _MASK) ^ _C3) << 256)  # r3 = 32
                | (((((t << 64) | (t >> 64)) & _MASK) ^ _C4) << 128)  # r4 = 64
                | ((((t << 96) | (t >> 32)) & _MASK) ^ _C5)  # r5 = 96
            )
            out = int.from_bytes(self._enc.update(blocks.to_bytes(5 * BLOCK, "big")), "big")
        return (out ^ self._opc5).to_bytes(5 * BLOCK, "big")

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-A = OUT1[0..63]."""
        return self._out(rand, sqn, amf)[0:8]

    def f1star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-S = OUT1[64..127]."""
        return self._out(rand, sqn, amf)[8:16]

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """RES = OUT2[64..127], CK = OUT3, IK = OUT4, AK = OUT2[0..47]."""
        out = self._out(rand, _NO_SQN, _NO_AMF)
        return out[24:32], out[32:48], out[48:64], out[16:22]

    def f5star(self, rand: bytes) -> bytes:
        """AK* = OUT5[0..47]."""
        return self._out(rand, _NO_SQN, _NO_AMF)[64:70]

    def vector(self, rand: bytes, sqn: bytes, amf: bytes) -> AkaVector:
        """All of f1..f5* from one TEMP and one five-block encryption."""
        out = self._out(rand, sqn, amf)
        return AkaVector(
            rand=bytes(rand),
            sqn=bytes(sqn),
            amf=bytes(amf),
            mac_a=out[0:8],
            mac_s=out[8:16],
            res=out[24:32],
            ck=out[32:48],
            ik=out[48:64],
            ak=out[16:22],
            ak_star=out[64:70],
        )
