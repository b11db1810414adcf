"""TUAK against every field of every TS 35.233 test set, and Keccak-f[1600] against hashlib.

The sets are whatever the vectors files hold (tests/aka_vectors.py): any Keccak iteration
count, RES of 32-256 bits, MAC/CK/IK of 64/128/256, TOP and/or TOPc.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from attest.aka.keccak import STATE_BYTES, keccak_f1600
from attest.aka.tuak import Tuak, topc_from_top
from attest.errors import InputError
from tests.aka_vectors import (
    EXTRA_DIR,
    all_sets,
    assert_vector_matches,
    keyed_params,
    load_vectors,
    operator_key,
    params,
    tuak_lengths,
)

SETS = all_sets("tuak")
h = bytes.fromhex


def _tuak(s: dict[str, Any], **key: bytes) -> Tuak:
    if not key:
        name, value = operator_key(s, "tuak")
        key = {name: h(value)}
    return Tuak(h(s["k"]), **tuak_lengths(s), **key)  # type: ignore[arg-type]


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


def test_the_extra_published_sets_cover_the_long_outputs() -> None:
    # TS 35.233 sets 4-6 (tests/data/vectors): whatever the shared file holds, these run.
    extra = load_vectors("tuak", EXTRA_DIR)
    assert len(SETS) == len(load_vectors("tuak")) + len(extra)
    assert {s["set"] for s in extra} == {4, 5, 6}
    assert max(s["keccak_iterations"] for s in extra) == 2
    assert {len(s[f]) * 4 for s in extra for f in ("res", "ck", "ik", "mac_a")} >= {128, 256}


@pytest.mark.parametrize("s", params([s for s in SETS if "top" in s]))
def test_topc_from_top(s: dict[str, Any]) -> None:
    topc = topc_from_top(h(s["k"]), h(s["top"]), tuak_lengths(s)["keccak_iterations"])
    if "topc" in s:
        assert topc.hex() == s["topc"]
    assert _tuak(s, topc=topc).f5star(h(s["rand"])).hex() == s["ak_star"]
    assert _tuak(s, top=h(s["top"])).topc == topc


@pytest.mark.parametrize(("s", "keyed_by"), keyed_params(SETS, "tuak"))
def test_vector_every_field(s: dict[str, Any], keyed_by: str) -> None:
    v = _tuak(s, **{keyed_by: h(s[keyed_by])}).vector(h(s["rand"]), h(s["sqn"]), h(s["amf"]))
    assert_vector_matches(v, s)


@pytest.mark.parametrize("s", params(SETS))
def test_single_functions(s: dict[str, Any]) -> None:
    t = _tuak(s)
    rand, sqn, amf = h(s["rand"]), h(s["sqn"]), h(s["amf"])
    assert t.f1(rand, sqn, amf).hex() == s["mac_a"]
    assert t.f1star(rand, sqn, amf).hex() == s["mac_s"]
    assert [x.hex() for x in t.f2345(rand)] == [s["res"], s["ck"], s["ik"], s["ak"]]
    assert t.f5star(rand).hex() == s["ak_star"]


def test_keccak_iterations_change_every_output() -> None:
    s = SETS[0]
    name, value = operator_key(s, "tuak")
    lengths = tuak_lengths(s)
    published = _tuak(s)
    more = {**lengths, "keccak_iterations": lengths["keccak_iterations"] + 1}
    other = Tuak(h(s["k"]), **{name: h(value)}, **more)  # type: ignore[arg-type]
    if name == "top":
        assert other.topc != published.topc
    assert other.f2345(h(s["rand"]))[0] != published.f2345(h(s["rand"]))[0]


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


@pytest.mark.parametrize("s", params(SETS))
def test_keys_never_in_repr(s: dict[str, Any]) -> None:
    t = _tuak(s)
    text = repr(t)
    assert s["k"] not in text and t.topc.hex() not in text
    assert f"k_len={len(s['k']) * 4}" in text
