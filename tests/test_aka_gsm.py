"""GSM conversions c2/c3 against the TS 55.205 values in the Milenage sets, and by hand."""

from __future__ import annotations

from typing import Any

import pytest

from attest.aka.gsm import c2, c3
from attest.errors import InputError
from tests.aka_vectors import load_vectors, set_id

GSM_SETS = [s for s in load_vectors("milenage") if "sres" in s]
h = bytes.fromhex


def test_the_published_gsm_values_are_there() -> None:
    # Sets 1 and 3..8 carry SRES and Kc; a vectors file that lost them must not pass silently.
    assert [s["set"] for s in GSM_SETS] == [1, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("s", GSM_SETS, ids=set_id)
def test_sres_from_res(s: dict[str, Any]) -> None:
    assert c2(h(s["res"])).hex() == s["sres"]


@pytest.mark.parametrize("s", GSM_SETS, ids=set_id)
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
