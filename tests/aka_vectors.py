"""3GPP AKA test sets: the official files in ``../shared/vectors`` plus ``tests/data/vectors``.

The shared files may be replaced by a reviewer's files holding more, fewer or other sets,
so nothing here assumes a count, a set number or an order: every set a file holds is run,
and expectations come only from the set itself. ``SIMATTEST_VECTORS_DIR`` points the
tests at another directory of ``milenage.json``/``tuak.json`` (same format).

``tests/data/vectors`` holds further published sets (TS 35.208 sets 9, 10 and 20 with
their TS 55.205 GSM values; TS 35.233 sets 4-6: 128-bit RES/MAC, 256-bit RES/CK/IK/MAC,
two Keccak iterations), cited per set in its ``spec`` field.

Files are loaded when the tests are collected; a missing file, an empty list or a set
without a field it must have is an error naming the file, set and field (never a skip).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from attest.aka.base import AkaVector

Set = dict[str, Any]

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared" / "vectors"
VECTORS_DIR = Path(os.environ.get("SIMATTEST_VECTORS_DIR") or SHARED_DIR)
EXTRA_DIR = Path(__file__).resolve().parent / "data" / "vectors"

_COMMON = ("k", "rand", "sqn", "amf", "mac_a", "mac_s", "res", "ck", "ik", "ak", "ak_star")
# Each algorithm needs its operator key in one form or the other (or both).
_KEYS = {"milenage": ("op", "opc"), "tuak": ("top", "topc")}
# TUAK output lengths may be stated in bits; they must then agree with the hex values.
_TUAK_LENGTHS = {"k_len_bits": "k", "res_len_bits": "res", "mac_len_bits": "mac_a",
                 "ck_len_bits": "ck", "ik_len_bits": "ik"}


def _check(path: Path, index: int, s: object, name: str) -> Set:
    where = f"{path}: set at position {index}"
    if not isinstance(s, dict):
        raise ValueError(f"{where}: expected a JSON object")
    where += f" (set {s.get('set', '?')})"
    for field in _COMMON:
        if not isinstance(s.get(field), str):
            raise ValueError(f"{where}: field {field!r} missing or not a hex string")
    if not any(key in s for key in _KEYS[name]):
        raise ValueError(f"{where}: needs {' or '.join(map(repr, _KEYS[name]))}")
    if ("sres" in s) != ("kc" in s):
        raise ValueError(f"{where}: 'sres' and 'kc' come together (TS 55.205)")
    if name == "tuak":
        for bits, field in _TUAK_LENGTHS.items():
            if bits in s and s[bits] != len(s[field]) * 4:
                raise ValueError(f"{where}: {bits} = {s[bits]} but {field!r} has "
                                 f"{len(s[field]) * 4} bits")
    return s


def load_vectors(name: str, directory: Path = VECTORS_DIR) -> list[Set]:
    """Every test set in ``<directory>/<name>.json`` (a JSON list), each checked for the
    fields its algorithm needs."""
    path = directory / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"3GPP test vectors missing: {path}")
    sets = json.loads(path.read_text())
    if not isinstance(sets, list) or not sets:
        raise ValueError(f"{path}: expected a non-empty JSON list of test sets")
    return [_check(path, i, s, name) for i, s in enumerate(sets)]


def all_sets(name: str) -> list[Set]:
    """The official sets followed by the extra published ones in ``tests/data``."""
    return load_vectors(name) + load_vectors(name, EXTRA_DIR)


def params(sets: list[Set]) -> list[Any]:
    """``pytest.param`` per set, with an id naming its spec and set number (or position)."""
    return [pytest.param(s, id=set_id(s, i)) for i, s in enumerate(sets)]


def keyed_params(sets: list[Set], name: str) -> list[Any]:
    """``(set, key)`` for every operator key form (OP/OPc, TOP/TOPc) a set carries."""
    return [
        pytest.param(s, key, id=f"{set_id(s, i)}-{key}")
        for i, s in enumerate(sets)
        for key in _KEYS[name]
        if key in s
    ]


def set_id(s: Set, index: int = 0) -> str:
    spec = str(s.get("spec", "")).replace("3GPP ", "").split(" clause")[0].replace(" ", "")
    number = s.get("set", f"#{index}")
    return f"{spec or 'set'}-set{number}"


def tuak_lengths(s: Set) -> dict[str, int]:
    """Tuak's keyword arguments for a set: output lengths from the published values."""
    return {
        "keccak_iterations": int(s.get("keccak_iterations", 1)),
        "res_len": len(s["res"]) * 4,
        "mac_len": len(s["mac_a"]) * 4,
        "ck_len": len(s["ck"]) * 4,
        "ik_len": len(s["ik"]) * 4,
    }


def operator_key(s: Set, name: str) -> tuple[str, str]:
    """The first operator key form the set carries: ``("opc", hex)`` before ``("op", hex)``."""
    for key in reversed(_KEYS[name]):
        if key in s:
            return key, s[key]
    raise KeyError(_KEYS[name])


def assert_vector_matches(v: AkaVector, s: Set) -> None:
    """Every output of a computed vector equals the published set, AUTN assembled here.

    AUTN = (SQN xor AK) || AMF || MAC-A (TS 33.102 clause 6.3.2) from the set's own
    values: 16, 24 or 40 bytes with the MAC's length.
    """
    for name in ("mac_a", "mac_s", "res", "ck", "ik", "ak", "ak_star"):
        assert getattr(v, name).hex() == s[name], name
    sqn_xor_ak = bytes(a ^ b for a, b in zip(bytes.fromhex(s["sqn"]), bytes.fromhex(s["ak"]),
                                             strict=True))
    assert v.autn == sqn_xor_ak + bytes.fromhex(s["amf"]) + bytes.fromhex(s["mac_a"])
