"""``readers``, ``read`` and ``auth`` through pyscard → pcscd → vpcd → simulated card.

The PC/SC path must give exactly what the in-process ``sim:`` path gives for the same
card file: same identities, same APDU count (pcsc-lite passes T=0 ``61xx`` through
untouched, so GET RESPONSE is sent and counted by our APDU layer on both paths), same
AUTHENTICATE bytes, same self-check verdict.
"""

from __future__ import annotations

import json

import pytest

from attest.aka.milenage import Milenage
from attest.aka.sqn import build_autn, join_sqn
from hw.cardfile import load_card_file
from tests.fixtures_pcsc import EXAMPLES, CardSlots, run_cli

PS_001 = EXAMPLES / "ps-001.yaml"
COMMERCIAL = EXAMPLES / "commercial-001.yaml"
RAND = bytes.fromhex("23553cbe9637a89d218ae64dae47bf35")
AMF = bytes.fromhex("8000")


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object]:
    run = run_cli(capsys, *argv, "--json")
    assert run.err == "", run.err
    return run.code, json.loads(run.out)


def test_readers_lists_vpcd_readers_with_card_and_atr(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]
) -> None:
    t1 = pcsc_cards.insert(PS_001)
    t0 = pcsc_cards.insert(PS_001, t0=True)
    code, readers = _json(capsys, "readers")
    assert code == 0
    assert isinstance(readers, list)
    by_name = {r["name"]: r for r in readers}
    assert [r["index"] for r in readers] == list(range(len(readers)))
    assert by_name[t1.reader]["card_present"] is True
    assert by_name[t1.reader]["atr"] == t1.card.atr.hex().upper()
    assert by_name[t0.reader]["atr"] == t0.card.atr.hex().upper()
    assert t0.card.atr != t1.card.atr
    empty = [r for r in readers if r["name"] not in (t1.reader, t0.reader)]
    assert empty and all(r["card_present"] is False and r["atr"] is None for r in empty)


def test_readers_table_for_people(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # a terminal wide enough for the ATR on one line
    inserted = pcsc_cards.insert(PS_001)
    run = run_cli(capsys, "readers")
    assert run.code == 0
    assert inserted.reader in run.out
    assert inserted.card.atr.hex().upper() in run.out


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
@pytest.mark.parametrize("card_file", [PS_001, COMMERCIAL], ids=["ps-001", "commercial-001"])
def test_read_over_pcsc_equals_sim(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str], card_file: object, t0: bool
) -> None:
    inserted = pcsc_cards.insert(str(card_file), t0=t0)
    code, via_sim = _json(capsys, "read", "--reader", f"sim:{card_file}?t0={int(t0)}")
    assert code == 0
    code, via_pcsc = _json(capsys, "read", "--reader", inserted.uri)
    assert code == 0
    assert via_pcsc == via_sim  # apdu_count included: pcscd adds and hides no APDU
    assert isinstance(via_pcsc, dict)
    assert via_pcsc["iccid"] == load_card_file(str(card_file)).iccid
    assert via_pcsc["apdu_count"] == inserted.card.apdu_count


def test_read_by_glob_finds_the_one_card(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]
) -> None:
    inserted = pcsc_cards.insert(PS_001)
    # "Virtual PCD 00 0?" matches two readers of the stack; the full name only one.
    code, ids = _json(
        capsys, "read", "--reader", f"pcsc:{inserted.reader[:-1]}[{inserted.reader[-1]}]"
    )
    assert code == 0
    assert isinstance(ids, dict) and ids["imsi"] == "001010000000001"


def _autn(card_file: object, seq: int) -> bytes:
    cf = load_card_file(str(card_file))
    return build_autn(Milenage(cf.ki, opc=cf.opc, op=cf.op), RAND, join_sqn(seq, 0), AMF)


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
@pytest.mark.parametrize("app", ["usim", "isim"])
def test_auth_explicit_challenge_equals_sim(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str], app: str, t0: bool
) -> None:
    inserted = pcsc_cards.insert(PS_001, t0=t0)
    args = ("auth", "--app", app, "--rand", RAND.hex(), "--autn", _autn(PS_001, 5).hex())
    code, via_sim = _json(capsys, *args, "--reader", f"sim:{PS_001}?t0={int(t0)}")
    assert code == 0
    code, via_pcsc = _json(capsys, *args, "--reader", inserted.uri)
    assert code == 0
    assert via_pcsc == via_sim
    cf = load_card_file(str(PS_001))
    expected = Milenage(cf.ki, opc=cf.opc).vector(RAND, join_sqn(5, 0), AMF)
    assert isinstance(via_pcsc, dict)
    assert {k: via_pcsc[k] for k in ("outcome", "res", "ck", "ik")} == {
        "outcome": "success",
        "res": expected.res.hex(),
        "ck": expected.ck.hex(),
        "ik": expected.ik.hex(),
    }


def test_auth_replayed_challenge_gives_the_same_auts(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]
) -> None:
    inserted = pcsc_cards.insert(PS_001)
    args = ("auth", "--rand", RAND.hex(), "--autn", _autn(PS_001, 5).hex())
    assert _json(capsys, *args, "--reader", inserted.uri)[0] == 0
    # The card now holds SEQ 5; the same AUTN again is stale: sync failure with AUTS.
    code, via_pcsc = _json(capsys, *args, "--reader", inserted.uri)
    assert code == 1
    assert isinstance(via_pcsc, dict) and via_pcsc["outcome"] == "sync_failure"
    assert len(bytes.fromhex(via_pcsc["auts"])) == 14


def test_auth_wrong_keys_is_mac_failure_exit_1(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]
) -> None:
    inserted = pcsc_cards.insert(PS_001)
    code, doc = _json(
        capsys,
        "auth",
        "--rand",
        RAND.hex(),
        "--autn",
        _autn(COMMERCIAL, 5).hex(),
        "--reader",
        inserted.uri,
    )
    assert (code, doc) == (1, {"outcome": "mac_failure"})


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
def test_self_check_over_pcsc_equals_sim(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str], t0: bool
) -> None:
    inserted = pcsc_cards.insert(PS_001, t0=t0)
    cf = load_card_file(str(PS_001))
    assert cf.opc is not None
    args = ("auth", "--ki", cf.ki.hex(), "--opc", cf.opc.hex())
    code, via_sim = _json(capsys, *args, "--reader", f"sim:{PS_001}?t0={int(t0)}")
    assert code == 0
    code, via_pcsc = _json(capsys, *args, "--reader", inserted.uri)
    assert code == 0
    assert via_pcsc == via_sim
    assert isinstance(via_pcsc, dict) and via_pcsc["verdict"] == "PASS"


def test_self_check_with_other_keys_fails_over_pcsc(
    pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]
) -> None:
    inserted = pcsc_cards.insert(PS_001)
    other = load_card_file(str(COMMERCIAL))
    assert other.opc is not None
    run = run_cli(
        capsys, "auth", "--ki", other.ki.hex(), "--opc", other.opc.hex(), "--reader", inserted.uri
    )
    assert run.code == 1
    assert run.out.startswith("FAIL MAC_FAILURE")
