"""The self-check (hw.selfcheck): PASS only when the card answers AKA as its keys say.

Runs against the simulated UICC (sim: URIs), which implements Milenage/TUAK and the
TS 33.102 Annex C SQN check independently of the network side tested here. The keys come
from the example card files (TS 35.208 test keys). Two outcomes a well-behaved card never
produces (an AUTS that does not verify, a second sync failure) are fed by the scripted
card instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from attest.aka.milenage import Milenage
from attest.aka.sqn import build_auts, join_sqn
from attest.errors import TransportError
from hw.cardfile import load_card_file
from hw.selfcheck import DEFAULT_SQN, Reason, self_check
from hw.transport.base import open_transport
from tests.fixtures_uicc import ScriptedTransport

EXAMPLES = Path(__file__).resolve().parent.parent / "card_profiles" / "examples"
K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")  # ps-001.yaml
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")


def uri(name: str, query: str = "") -> str:
    return f"sim:{EXAMPLES / name}{'?' + query if query else ''}"


@pytest.mark.parametrize("app", ["usim", "isim"])
@pytest.mark.parametrize("t0", ["0", "1"])
def test_pass_with_the_right_keys(app: str, t0: str) -> None:
    with open_transport(uri("ps-001.yaml", f"t0={t0}")) as transport:
        result = self_check(transport, Milenage(K, opc=OPC), app=app)
    assert result.passed and result.verdict == "PASS"
    assert result.reason is None
    assert result.sqn == DEFAULT_SQN
    assert result.attempts == 1


def test_pass_with_op_instead_of_opc() -> None:
    op = bytes.fromhex("cdc202d5123e20f62b6d676ac72cb318")  # TS 35.208 test set 1
    with open_transport(uri("ps-001.yaml")) as transport:
        assert self_check(transport, Milenage(K, op=op)).passed


def test_tuak_card_passes_with_its_algorithm() -> None:
    path = EXAMPLES / "ps-tuak.yaml"
    algorithm = load_card_file(path).algorithm()
    with open_transport(f"sim:{path}") as transport:
        assert self_check(transport, algorithm).passed


def test_wrong_key_is_a_mac_failure() -> None:
    wrong = bytes([K[0] ^ 1]) + K[1:]
    with open_transport(uri("ps-001.yaml")) as transport:
        result = self_check(transport, Milenage(wrong, opc=OPC))
    assert (result.verdict, result.reason) == ("FAIL", Reason.MAC_FAILURE)


def test_keys_of_another_card_fail() -> None:
    other = load_card_file(EXAMPLES / "commercial-001.yaml").algorithm()
    with open_transport(uri("ps-001.yaml")) as transport:
        assert self_check(transport, other).reason is Reason.MAC_FAILURE


def test_stale_sqn_is_resynchronised_once() -> None:
    sqn = join_sqn(5, 3)
    with open_transport(uri("ps-001.yaml")) as transport:
        assert self_check(transport, Milenage(K, opc=OPC), sqn).passed
        again = self_check(transport, Milenage(K, opc=OPC), sqn)  # SEQ 5 is used up now
    assert again.passed
    assert again.attempts == 2
    assert again.sqn_ms == sqn  # the card's highest accepted SQN, recovered from AUTS
    assert again.sqn == join_sqn(6, 3)  # SEQ one above the card's, same IND


def test_pin_card_says_pin_needed_then_passes_with_pin() -> None:
    path = EXAMPLES / "ps-pin.yaml"
    algorithm = load_card_file(path).algorithm()
    with open_transport(f"sim:{path}") as transport:
        assert self_check(transport, algorithm).reason is Reason.PIN_NEEDED
        assert self_check(transport, algorithm, pin="1234").passed


def test_card_without_isim_reports_app_not_found() -> None:
    algorithm = load_card_file(EXAMPLES / "commercial-001.yaml").algorithm()
    with open_transport(uri("commercial-001.yaml")) as transport:
        result = self_check(transport, algorithm, app="isim")
    assert result.reason is Reason.APP_NOT_FOUND
    assert result.attempts == 0


def test_card_removed_during_authenticate_is_a_transport_error() -> None:
    # APDU 1 reads EF.DIR record 1 (USIM found), 2 selects ADF.USIM, 3 is AUTHENTICATE.
    transport = open_transport(uri("ps-001.yaml", "remove_at=3"))
    with transport, pytest.raises(TransportError, match="removed during APDU 3"):
        self_check(transport, Milenage(K, opc=OPC))


Script = Callable[[Sequence[tuple[str, str]]], ScriptedTransport]
USIM = "A0000000871002FF33FF018900000100"
OPEN_USIM = [
    ("00B201F400", "6118 4F10" + USIM + "5004 5553494D 9000"),
    ("00A4040C10" + USIM, "9000"),
]
RAND = bytes(range(16))


def test_auts_that_does_not_verify(scripted: Script) -> None:
    card = scripted([*OPEN_USIM, ("*", "DC0E" + "00" * 14 + "9000")])
    result = self_check(card, Milenage(K, opc=OPC), random=lambda n: RAND)
    assert result.reason is Reason.AUTS_INVALID
    assert card.done()


def test_second_sync_failure_is_not_retried(scripted: Script) -> None:
    auts = build_auts(Milenage(K, opc=OPC), RAND, join_sqn(1000, 0)).hex()
    card = scripted([*OPEN_USIM, ("*", "DC0E" + auts + "9000"), ("*", "DC0E" + auts + "9000")])
    result = self_check(card, Milenage(K, opc=OPC), random=lambda n: RAND)
    assert result.reason is Reason.SYNC_FAILED_TWICE
    assert result.attempts == 2
    assert card.done()  # exactly two AUTHENTICATEs, no third


def test_wrong_res_is_res_mismatch(scripted: Script) -> None:
    v = Milenage(K, opc=OPC).vector(RAND, DEFAULT_SQN, bytes.fromhex("8000"))
    bad_res = bytes([v.res[0] ^ 0xFF]) + v.res[1:]
    body = "DB08" + bad_res.hex() + "10" + v.ck.hex() + "10" + v.ik.hex()
    card = scripted([*OPEN_USIM, ("*", body + "9000")])
    assert (
        self_check(card, Milenage(K, opc=OPC), random=lambda n: RAND).reason is Reason.RES_MISMATCH
    )


def test_wrong_ck_is_ck_mismatch(scripted: Script) -> None:
    v = Milenage(K, opc=OPC).vector(RAND, DEFAULT_SQN, bytes.fromhex("8000"))
    body = "DB08" + v.res.hex() + "10" + bytes(16).hex() + "10" + v.ik.hex()
    card = scripted([*OPEN_USIM, ("*", body + "9000")])
    assert (
        self_check(card, Milenage(K, opc=OPC), random=lambda n: RAND).reason is Reason.CK_MISMATCH
    )


def test_kc_that_is_not_c3_is_kc_mismatch(scripted: Script) -> None:
    v = Milenage(K, opc=OPC).vector(RAND, DEFAULT_SQN, bytes.fromhex("8000"))
    body = "DB08" + v.res.hex() + "10" + v.ck.hex() + "10" + v.ik.hex() + "08" + "00" * 8
    card = scripted([*OPEN_USIM, ("*", body + "9000")])
    assert (
        self_check(card, Milenage(K, opc=OPC), random=lambda n: RAND).reason is Reason.KC_MISMATCH
    )
