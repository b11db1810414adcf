"""Milenage against every field of the TS 35.208 test sets, and its input checks."""

from __future__ import annotations

from typing import Any

import pytest

from attest.aka.milenage import Milenage, opc_from_op
from attest.errors import InputError
from tests.aka_vectors import load_vectors, set_id

SETS = load_vectors("milenage")
h = bytes.fromhex


def test_all_eight_sets_are_present() -> None:
    assert [s["set"] for s in SETS] == list(range(1, 9))


@pytest.mark.parametrize("s", SETS, ids=set_id)
def test_opc_from_op(s: dict[str, Any]) -> None:
    assert opc_from_op(h(s["k"]), h(s["op"])).hex() == s["opc"]
    assert Milenage(h(s["k"]), op=h(s["op"])).opc.hex() == s["opc"]


@pytest.mark.parametrize("s", SETS, ids=set_id)
@pytest.mark.parametrize("keyed_by", ["op", "opc"])
def test_vector_every_field(s: dict[str, Any], keyed_by: str) -> None:
    m = Milenage(h(s["k"]), **{keyed_by: h(s[keyed_by])})
    v = m.vector(h(s["rand"]), h(s["sqn"]), h(s["amf"]))
    assert v.mac_a.hex() == s["mac_a"]
    assert v.mac_s.hex() == s["mac_s"]
    assert v.res.hex() == s["res"]
    assert v.ck.hex() == s["ck"]
    assert v.ik.hex() == s["ik"]
    assert v.ak.hex() == s["ak"]
    assert v.ak_star.hex() == s["ak_star"]
    # AUTN = (SQN xor AK) || AMF || MAC-A, assembled here from the published values.
    sqn_xor_ak = bytes(a ^ b for a, b in zip(h(s["sqn"]), h(s["ak"]), strict=True))
    assert v.autn == sqn_xor_ak + h(s["amf"]) + h(s["mac_a"])


@pytest.mark.parametrize("s", SETS, ids=set_id)
def test_single_functions(s: dict[str, Any]) -> None:
    m = Milenage(h(s["k"]), opc=h(s["opc"]))
    rand, sqn, amf = h(s["rand"]), h(s["sqn"]), h(s["amf"])
    assert m.f1(rand, sqn, amf).hex() == s["mac_a"]
    assert m.f1star(rand, sqn, amf).hex() == s["mac_s"]
    assert [x.hex() for x in m.f2345(rand)] == [s["res"], s["ck"], s["ik"], s["ak"]]
    assert m.f5star(rand).hex() == s["ak_star"]


def test_one_instance_serves_many_rands() -> None:
    # The ECB encryptor is reused across calls: interleaving sets on one key must not leak state.
    s = SETS[0]
    m = Milenage(h(s["k"]), opc=h(s["opc"]))
    other = bytes(16)
    for _ in range(3):
        m.vector(other, h(s["sqn"]), h(s["amf"]))
        assert m.vector(h(s["rand"]), h(s["sqn"]), h(s["amf"])).res.hex() == s["res"]


@pytest.mark.parametrize(
    ("field", "kwargs", "message"),
    [
        ("K", {"k": bytes(15), "opc": bytes(16)}, "K: expected 16 bytes, got 15"),
        ("OPc", {"k": bytes(16), "opc": bytes(17)}, "OPc: expected 16 bytes, got 17"),
        ("OP", {"k": bytes(16), "op": bytes(8)}, "OP: expected 16 bytes, got 8"),
        ("both", {"k": bytes(16), "op": bytes(16), "opc": bytes(16)}, "exactly one of OP or OPc"),
        ("neither", {"k": bytes(16)}, "exactly one of OP or OPc"),
    ],
)
def test_bad_keys_are_input_errors(field: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Milenage(**kwargs)


@pytest.mark.parametrize(
    ("rand", "sqn", "amf", "message"),
    [
        (bytes(15), bytes(6), bytes(2), "RAND: expected 16 bytes, got 15"),
        (bytes(16), bytes(5), bytes(2), "SQN: expected 6 bytes, got 5"),
        (bytes(16), bytes(6), bytes(3), "AMF: expected 2 bytes, got 3"),
    ],
)
def test_bad_inputs_name_the_field(rand: bytes, sqn: bytes, amf: bytes, message: str) -> None:
    m = Milenage(bytes(16), opc=bytes(16))
    with pytest.raises(InputError, match=message):
        m.vector(rand, sqn, amf)


def test_keys_never_in_repr_or_errors() -> None:
    s = SETS[0]
    m = Milenage(h(s["k"]), opc=h(s["opc"]))
    assert s["k"] not in repr(m) and s["opc"] not in repr(m)
    v = m.vector(h(s["rand"]), h(s["sqn"]), h(s["amf"]))
    assert s["ck"] not in repr(v) and s["ik"] not in repr(v)
    with pytest.raises(InputError) as err:
        Milenage(h(s["k"])[:15], opc=h(s["opc"]))
    assert s["k"][:30] not in str(err.value)
