"""SQN = SEQ‖IND, AUTN/AUTS round trips and the Annex C.2 card-side array.

Expected values are worked out by hand from TS 33.102 (clause 6.3, Annex C) or taken from
the published test sets, never from the code under test.
"""

from __future__ import annotations

import pytest

from attest.aka.milenage import Milenage
from attest.aka.sqn import (
    AutsInvalid,
    SqnArray,
    build_autn,
    build_auts,
    join_sqn,
    next_sqn,
    open_autn,
    resync,
    split_sqn,
)
from attest.aka.tuak import Tuak
from attest.errors import CardError, InputError
from tests.aka_vectors import all_sets, load_vectors, operator_key, params, tuak_lengths

h = bytes.fromhex
M1 = load_vectors("milenage")[0]  # the first official set, whichever it is
_KEY_NAME, _KEY = operator_key(M1, "milenage")
MILENAGE = Milenage(h(M1["k"]), **{_KEY_NAME: h(_KEY)})
RAND = h(M1["rand"])


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- SEQ ‖ IND -------------------------------------------------------------------------


def test_split_and_join_by_hand() -> None:
    # 0x41 = 0b10_00001: SEQ 2, IND 1.
    assert split_sqn(h("000000000041")) == (2, 1)
    assert join_sqn(2, 1) == h("000000000041")
    # ...07: low five bits 00111 -> IND 7; SEQ is the rest.
    assert split_sqn(h("ff9bb4d0b607")) == (0xFF9BB4D0B607 >> 5, 7)
    assert join_sqn(2**43 - 1, 31) == h("ffffffffffff")


def test_next_sqn_moves_one_seq_ahead_in_the_slot() -> None:
    assert next_sqn(0, 31) == h("00000000003f")
    assert next_sqn(2, 0) == h("000000000060")


@pytest.mark.parametrize(
    ("seq", "ind", "message"),
    [(0, 32, "IND: expected 0 to 31, got 32"), (2**43, 0, "SEQ: expected 0 to 2\\^43 - 1")],
)
def test_join_refuses_out_of_range(seq: int, ind: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        join_sqn(seq, ind)


# --- AUTN ------------------------------------------------------------------------------


def test_build_autn_matches_the_published_set() -> None:
    sqn_xor_ak = bytes(a ^ b for a, b in zip(h(M1["sqn"]), h(M1["ak"]), strict=True))
    expected = sqn_xor_ak + h(M1["amf"]) + h(M1["mac_a"])
    assert build_autn(MILENAGE, RAND, h(M1["sqn"]), h(M1["amf"])) == expected


def test_open_autn_recovers_sqn_and_accepts_the_mac() -> None:
    autn = build_autn(MILENAGE, RAND, h(M1["sqn"]), h(M1["amf"]))
    assert open_autn(MILENAGE, RAND, autn) == (h(M1["sqn"]), True)


@pytest.mark.parametrize("index", [0, 5, 6, 8, 15])
def test_open_autn_rejects_any_tampered_byte(index: int) -> None:
    autn = _flip(build_autn(MILENAGE, RAND, h(M1["sqn"]), h(M1["amf"])), index)
    _, mac_ok = open_autn(MILENAGE, RAND, autn)
    assert mac_ok is False


def test_open_autn_with_other_keys_is_a_mac_failure() -> None:
    autn = build_autn(MILENAGE, RAND, h(M1["sqn"]), h(M1["amf"]))
    other = Milenage(h(M1["k"]), opc=bytes(16))
    assert open_autn(other, RAND, autn)[1] is False


def test_open_autn_wrong_length_is_input_error() -> None:
    with pytest.raises(InputError, match="AUTN: expected 16 bytes, got 15"):
        open_autn(MILENAGE, RAND, bytes(15))


@pytest.mark.parametrize("t", params(all_sets("tuak")))
def test_tuak_autn_carries_its_mac_whatever_its_length(t: dict[str, str]) -> None:
    name, key = operator_key(t, "tuak")
    tuak = Tuak(h(t["k"]), **{name: h(key)}, **tuak_lengths(t))  # type: ignore[arg-type]
    autn = build_autn(tuak, h(t["rand"]), h(t["sqn"]), h(t["amf"]))
    assert len(autn) == 6 + 2 + len(t["mac_a"]) // 2
    assert autn[8:] == h(t["mac_a"])
    assert open_autn(tuak, h(t["rand"]), autn) == (h(t["sqn"]), True)


# --- AUTS ------------------------------------------------------------------------------


def test_auts_conceals_sqn_ms_with_ak_star_and_uses_amf_zero() -> None:
    sqn_ms = h(M1["sqn"])
    auts = build_auts(MILENAGE, RAND, sqn_ms)
    assert len(auts) == 14
    concealed = bytes(a ^ b for a, b in zip(sqn_ms, h(M1["ak_star"]), strict=True))
    assert auts[:6] == concealed
    # MAC-S over the dummy AMF 0000, not the set's AMF b9b9 (whose MAC-S is published).
    assert auts[6:] == MILENAGE.f1star(RAND, sqn_ms, b"\x00\x00")
    if M1["amf"] != "0000":
        assert auts[6:] != h(M1["mac_s"])


def test_resync_recovers_sqn_ms() -> None:
    sqn_ms = join_sqn(123456, 7)
    assert resync(MILENAGE, RAND, build_auts(MILENAGE, RAND, sqn_ms)) == sqn_ms


@pytest.mark.parametrize("index", [0, 5, 6, 13])
def test_resync_rejects_a_tampered_auts(index: int) -> None:
    auts = _flip(build_auts(MILENAGE, RAND, join_sqn(123456, 7)), index)
    with pytest.raises(AutsInvalid, match="MAC-S does not verify") as err:
        resync(MILENAGE, RAND, auts)
    assert isinstance(err.value, CardError) and err.value.exit_code == 1


def test_resync_rejects_auts_from_another_card() -> None:
    other = Milenage(h(M1["k"]), opc=bytes(16))
    with pytest.raises(AutsInvalid):
        resync(MILENAGE, RAND, build_auts(other, RAND, join_sqn(5, 1)))


def test_resync_wrong_length_is_input_error() -> None:
    with pytest.raises(InputError, match="AUTS: expected 14 bytes, got 16"):
        resync(MILENAGE, RAND, bytes(16))


def test_tuak_auts_round_trip_with_128_bit_mac() -> None:
    tuak = Tuak(bytes(range(16)), top=bytes(32), mac_len=128)
    auts = build_auts(tuak, RAND, join_sqn(99, 3))
    assert len(auts) == 6 + 16
    assert resync(tuak, RAND, auts) == join_sqn(99, 3)


# --- Annex C.2 array -------------------------------------------------------------------


def test_fresh_card_accepts_each_slot_once() -> None:
    card = SqnArray()
    assert card.accept(join_sqn(1, 0)) is True
    assert card.accept(join_sqn(1, 0)) is False  # replay in the same slot
    assert card.accept(join_sqn(1, 3)) is True  # same SEQ, another slot: SEQ_MS(3) was 0
    assert card.accept(join_sqn(1, 3)) is False
    assert card.accept(join_sqn(0, 5)) is False  # SEQ 0 is not > SEQ_MS(5) = 0


def test_slots_accept_out_of_order_delivery() -> None:
    card = SqnArray()
    assert card.accept(join_sqn(5, 2)) is True
    # Older SEQ from another slot (an earlier vector delivered late) is still fresh there.
    assert card.accept(join_sqn(3, 4)) is True
    assert card.accept(join_sqn(4, 2)) is False  # but not below SEQ_MS(2) = 5
    assert card.sqn_ms == join_sqn(5, 2)
    assert (card.seq_ms(2), card.seq_ms(4)) == (5, 3)


def test_delta_limits_the_jump_over_the_highest_seq() -> None:
    card = SqnArray(delta=10, sqn_ms=join_sqn(100, 0))
    assert card.accept(join_sqn(110, 1)) is True  # 110 - 100 = 10 <= Δ
    assert card.accept(join_sqn(121, 2)) is False  # 121 - 110 = 11 > Δ
    assert card.accept(join_sqn(120, 2)) is True  # 120 - 110 = 10
    assert card.sqn_ms == join_sqn(120, 2)


def test_default_delta_is_two_to_the_28() -> None:
    assert SqnArray().accept(join_sqn(2**28, 1)) is True
    assert SqnArray().accept(join_sqn(2**28 + 1, 1)) is False


def test_initial_state_from_a_personalised_sqn_ms() -> None:
    card = SqnArray(sqn_ms=join_sqn(7, 3))
    assert card.sqn_ms == join_sqn(7, 3)
    assert card.accept(join_sqn(7, 3)) is False
    assert card.accept(join_sqn(1, 4)) is True  # other slots start at 0
    assert card.sqn_ms == join_sqn(7, 3)  # 1‖4 is below 7‖3
    assert card.accept(join_sqn(8, 3)) is True
    assert card.sqn_ms == join_sqn(8, 3)


def test_highest_sqn_breaks_seq_ties_by_ind() -> None:
    card = SqnArray()
    assert card.accept(join_sqn(9, 1)) and card.accept(join_sqn(9, 6))
    assert card.sqn_ms == join_sqn(9, 6)
    assert card.accept(join_sqn(9, 2))
    assert card.sqn_ms == join_sqn(9, 6)


def test_rejection_changes_nothing() -> None:
    card = SqnArray(delta=10, sqn_ms=join_sqn(50, 1))
    before = card.to_dict()
    assert card.accept(join_sqn(50, 1)) is False
    assert card.accept(join_sqn(61, 2)) is False
    assert card.to_dict() == before


def test_state_round_trips() -> None:
    card = SqnArray(delta=1000, sqn_ms=join_sqn(40, 9))
    card.accept(join_sqn(41, 0))
    copy = SqnArray.from_dict(card.to_dict())
    assert copy.to_dict() == card.to_dict()
    assert copy.accept(join_sqn(41, 0)) is False
    assert copy.accept(join_sqn(42, 9)) is True


@pytest.mark.parametrize(
    "broken",
    [
        {"ind_bits": 5, "delta": 10, "seq": [0] * 31, "sqn_ms": 0},
        {"ind_bits": 5, "delta": 10, "seq": [0] * 32, "sqn_ms": 64},
        {"ind_bits": 5, "delta": 10, "seq": [0] * 32},
        {"ind_bits": 5, "delta": 10, "seq": "zeros", "sqn_ms": 0},
    ],
)
def test_broken_state_is_input_error(broken: dict[str, object]) -> None:
    with pytest.raises(InputError, match="SQN array state"):
        SqnArray.from_dict(broken)


def test_resync_brings_server_and_card_back_in_step() -> None:
    # The card already accepted SEQ 50 in the service's slot 31; the server thinks 10.
    card = SqnArray(sqn_ms=join_sqn(50, 31))
    sqn = next_sqn(10, 31)
    autn = build_autn(MILENAGE, RAND, sqn, b"\x80\x00")
    seen, mac_ok = open_autn(MILENAGE, RAND, autn)
    assert mac_ok and card.accept(seen) is False  # stale: the card answers with AUTS
    auts = build_auts(MILENAGE, RAND, card.sqn_ms)
    seq_highest, _ = split_sqn(resync(MILENAGE, RAND, auts))
    assert seq_highest == 50
    assert card.accept(next_sqn(seq_highest, 31)) is True
