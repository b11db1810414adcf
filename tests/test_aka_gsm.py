"""GSM conversions c2/c3 against the TS 55.205 values in the test sets, and by hand.

c2/c3 are checked on every set that carries SRES and Kc (Milenage or TUAK alike): the
specs define them only there (RES of 32-128 bits, CK and IK of 128 bits).
"""

from __future__ import annotations

from typing import Any

import pytest

from attest.aka.gsm import c2, c3
from attest.errors import InputError
from tests.aka_vectors import all_sets, params

# tests/data/vectors carries TS 55.205 values, so this list is never empty.
GSM_SETS = [s for s in all_sets("milenage") + all_sets("tuak") if "sres" in s]
h = bytes.fromhex


@pytest.mark.parametrize("s", params(GSM_SETS))
def test_sres_from_res(s: dict[str, Any]) -> None:
    assert c2(h(s["res"])).hex() == s["sres"]


@pytest.mark.parametrize("s", params(GSM_SETS))
def test_kc_from_ck_ik(s: dict[str, Any]) -> None:
    assert c3(h(s["ck"]), h(s["ik"])).hex() == s["kc"]


def test_c2_of_a_32_bit_res_is_the_res() -> None:
    assert c2(h("657acd64")) == h("657acd64")


def test_c2_pads_a_short_res_with_zeros() -> None:
    # RES = aabbccdd eeff -> words aabbccdd, eeff0000 -> 44 44 cc dd (worked by hand).
    assert c2(h("aabbccddeeff")) == h("4444ccdd")


def test_c2_folds_all_four_words() -> None:
    assert c2(h("00000001" "00000002" "00000004" "00000008")) == h("0000000f")


def test_c3_by_hand() -> None:
    ck = h("0102030405060708" "1000000000000000")
    ik = h("00000000000000ff" "0000000000000000")
    assert c3(ck, ik) == h("11020304050607f7")


@pytest.mark.parametrize("size", [0, 3, 17, 32])
def test_c2_refuses_res_it_cannot_convert(size: int) -> None:
    with pytest.raises(InputError, match=f"RES: c2 needs 4 to 16 bytes .*got {size}"):
        c2(bytes(size))


def test_c3_refuses_256_bit_keys() -> None:
    with pytest.raises(InputError, match="CK: expected 16 bytes, got 32"):
        c3(bytes(32), bytes(16))
