"""Milenage against every field of every TS 35.208 test set, and its input checks.

The sets are whatever the vectors files hold (tests/aka_vectors.py); a set may carry OP,
OPc or both, and every form it carries is run.
"""

from __future__ import annotations

from typing import Any

import pytest

from attest.aka.milenage import Milenage, opc_from_op
from attest.errors import InputError
from tests.aka_vectors import (
    EXTRA_DIR,
    all_sets,
    assert_vector_matches,
    keyed_params,
    load_vectors,
    params,
)

SETS = all_sets("milenage")
h = bytes.fromhex


def _opc(s: dict[str, Any]) -> bytes:
    return h(s["opc"]) if "opc" in s else opc_from_op(h(s["k"]), h(s["op"]))


def test_the_extra_published_sets_are_run_too() -> None:
    # The shared file is at least one set (checked on loading); ours adds three more.
    assert len(SETS) == len(load_vectors("milenage")) + len(load_vectors("milenage", EXTRA_DIR))
    assert {s["set"] for s in load_vectors("milenage", EXTRA_DIR)} == {9, 10, 20}


@pytest.mark.parametrize("s", params([s for s in SETS if "op" in s]))
def test_opc_from_op(s: dict[str, Any]) -> None:
    opc = opc_from_op(h(s["k"]), h(s["op"]))
    if "opc" in s:
        assert opc.hex() == s["opc"]
    # Whether or not the set states OPc, the derived one must give the published outputs.
    assert [x.hex() for x in Milenage(h(s["k"]), opc=opc).f2345(h(s["rand"]))] == [
        s["res"], s["ck"], s["ik"], s["ak"]]
    assert Milenage(h(s["k"]), op=h(s["op"])).opc == opc


@pytest.mark.parametrize(("s", "keyed_by"), keyed_params(SETS, "milenage"))
def test_vector_every_field(s: dict[str, Any], keyed_by: str) -> None:
    m = Milenage(h(s["k"]), **{keyed_by: h(s[keyed_by])})
    v = m.vector(h(s["rand"]), h(s["sqn"]), h(s["amf"]))
    assert_vector_matches(v, s)


@pytest.mark.parametrize("s", params(SETS))
def test_single_functions(s: dict[str, Any]) -> None:
    m = Milenage(h(s["k"]), opc=_opc(s))
    rand, sqn, amf = h(s["rand"]), h(s["sqn"]), h(s["amf"])
    assert m.f1(rand, sqn, amf).hex() == s["mac_a"]
    assert m.f1star(rand, sqn, amf).hex() == s["mac_s"]
    assert [x.hex() for x in m.f2345(rand)] == [s["res"], s["ck"], s["ik"], s["ak"]]
    assert m.f5star(rand).hex() == s["ak_star"]


def test_one_instance_serves_many_rands() -> None:
    # The ECB encryptor is reused across calls: interleaving sets on one key must not leak state.
    s = SETS[0]
    m = Milenage(h(s["k"]), opc=_opc(s))
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
    opc = _opc(s)
    m = Milenage(h(s["k"]), opc=opc)
    assert s["k"] not in repr(m) and opc.hex() not in repr(m)
    v = m.vector(h(s["rand"]), h(s["sqn"]), h(s["amf"]))
    assert s["ck"] not in repr(v) and s["ik"] not in repr(v)
    with pytest.raises(InputError) as err:
        Milenage(h(s["k"])[:15], opc=opc)
    assert s["k"][:30] not in str(err.value)
