"""TUAK against every field of the TS 35.233 test sets, and Keccak-f[1600] against hashlib."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from attest.aka.keccak import STATE_BYTES, keccak_f1600
from attest.aka.tuak import Tuak, topc_from_top
from attest.errors import InputError
from tests.aka_vectors import load_vectors, set_id

SETS = load_vectors("tuak")
h = bytes.fromhex


def _tuak(s: dict[str, Any], **key: bytes) -> Tuak:
    return Tuak(
        h(s["k"]),
        keccak_iterations=s["keccak_iterations"],
        res_len=s["res_len_bits"],
        mac_len=s["mac_len_bits"],
        ck_len=s["ck_len_bits"],
        ik_len=s["ik_len_bits"],
        **key,
    )


def _sponge(message: bytes, rate: int, suffix: int, out_len: int) -> bytes:
    """A Keccak sponge (FIPS 202 clause 4) built on the permutation under test."""
    padded = bytearray(message) + bytes([suffix])
    padded += bytes(-len(padded) % rate)
    padded[-1] |= 0x80
    state = bytes(STATE_BYTES)
    for i in range(0, len(padded), rate):
        block = bytes(padded[i : i + rate]) + bytes(STATE_BYTES - rate)
        state = keccak_f1600(bytes(a ^ b for a, b in zip(state, block, strict=True)))
    out = b""
    while len(out) < out_len:
        out += state[:rate]
        state = keccak_f1600(state)
    return out[:out_len]


@pytest.mark.parametrize("length", [0, 1, 135, 136, 137, 400])
def test_keccak_permutation_gives_hashlib_sha3_256(length: int) -> None:
    message = bytes((7 * i + 3) % 256 for i in range(length))
    assert _sponge(message, 136, 0x06, 32) == hashlib.sha3_256(message).digest()


def test_keccak_permutation_gives_hashlib_shake_128_long_output() -> None:
    # 400 output bytes span three squeezes: the permutation is applied to its own output.
    message = b"TUAK1.0"
    assert _sponge(message, 168, 0x1F, 400) == hashlib.shake_128(message).digest(400)


def test_keccak_iterations_compose() -> None:
    state = bytes(range(200))
    assert keccak_f1600(state, 3) == keccak_f1600(keccak_f1600(keccak_f1600(state)))


def test_sets_cover_both_key_lengths() -> None:
    assert {s["k_len_bits"] for s in SETS} == {128, 256}
    assert all(len(h(s["k"])) * 8 == s["k_len_bits"] for s in SETS)


@pytest.mark.parametrize("s", SETS, ids=set_id)
def test_topc_from_top(s: dict[str, Any]) -> None:
    topc = topc_from_top(h(s["k"]), h(s["top"]), s["keccak_iterations"])
    assert topc.hex() == s["topc"]
    assert _tuak(s, top=h(s["top"])).topc.hex() == s["topc"]


@pytest.mark.parametrize("s", SETS, ids=set_id)
@pytest.mark.parametrize("keyed_by", ["top", "topc"])
def test_vector_every_field(s: dict[str, Any], keyed_by: str) -> None:
    v = _tuak(s, **{keyed_by: h(s[keyed_by])}).vector(h(s["rand"]), h(s["sqn"]), h(s["amf"]))
    assert v.mac_a.hex() == s["mac_a"]
    assert v.mac_s.hex() == s["mac_s"]
    assert v.res.hex() == s["res"]
    assert v.ck.hex() == s["ck"]
    assert v.ik.hex() == s["ik"]
    assert v.ak.hex() == s["ak"]
    assert v.ak_star.hex() == s["ak_star"]
    assert len(v.mac_a) * 8 == s["mac_len_bits"]
    assert len(v.res) * 8 == s["res_len_bits"]
    assert len(v.ck) * 8 == s["ck_len_bits"]
    assert len(v.ik) * 8 == s["ik_len_bits"]


@pytest.mark.parametrize("s", SETS, ids=set_id)
def test_single_functions(s: dict[str, Any]) -> None:
    t = _tuak(s, topc=h(s["topc"]))
    rand, sqn, amf = h(s["rand"]), h(s["sqn"]), h(s["amf"])
    assert t.f1(rand, sqn, amf).hex() == s["mac_a"]
    assert t.f1star(rand, sqn, amf).hex() == s["mac_s"]
    assert [x.hex() for x in t.f2345(rand)] == [s["res"], s["ck"], s["ik"], s["ak"]]
    assert t.f5star(rand).hex() == s["ak_star"]


def test_keccak_iterations_change_every_output() -> None:
    s = SETS[0]
    once = _tuak(s, top=h(s["top"]))
    twice = Tuak(h(s["k"]), top=h(s["top"]), keccak_iterations=2, res_len=32)
    assert twice.topc != once.topc
    assert twice.f2345(h(s["rand"]))[0] != once.f2345(h(s["rand"]))[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": bytes(24), "topc": bytes(32)}, "K: expected 16 or 32 bytes, got 24"),
        ({"k": bytes(16), "topc": bytes(16)}, "TOPc: expected 32 bytes, got 16"),
        ({"k": bytes(16), "top": bytes(31)}, "TOP: expected 32 bytes, got 31"),
        ({"k": bytes(16)}, "exactly one of TOP or TOPc"),
        ({"k": bytes(16), "topc": bytes(32), "res_len": 48}, "RES length: expected one of"),
        ({"k": bytes(16), "topc": bytes(32), "mac_len": 32}, "MAC length: expected one of"),
        ({"k": bytes(16), "topc": bytes(32), "ck_len": 64}, "CK length: expected one of"),
        ({"k": bytes(16), "topc": bytes(32), "ik_len": 512}, "IK length: expected one of"),
        ({"k": bytes(16), "topc": bytes(32), "keccak_iterations": 0}, "iterations: expected"),
        ({"k": bytes(16), "topc": bytes(32), "keccak_iterations": True}, "iterations: expected"),
        ({"k": bytes(16), "topc": bytes(32), "res_len": 64.0}, "RES length: expected one of"),
        ({"k": bytes(16), "topc": bytes(32), "mac_len": "64"}, "MAC length: expected one of"),
    ],
)
def test_bad_parameters_are_input_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Tuak(**kwargs)


def test_bad_rand_names_the_field() -> None:
    with pytest.raises(InputError, match="RAND: expected 16 bytes, got 8"):
        Tuak(bytes(16), topc=bytes(32)).f5star(bytes(8))


def test_keys_never_in_repr() -> None:
    s = SETS[1]
    text = repr(_tuak(s, topc=h(s["topc"])))
    assert s["k"] not in text and s["topc"] not in text
    assert "k_len=256" in text
