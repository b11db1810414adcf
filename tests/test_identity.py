"""read_identities end to end against the simulated UICC (sim: URIs), T=1 and T=0.

Expected values are the ones written in the example card files under
card_profiles/examples/; the APDU budget is the issue's (at most 16 under T=1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from attest.errors import CardError
from hw.identity import read_identities
from hw.transport.base import open_transport
from hw.transport.simulated import SimulatedTransport
from hw.uicc.ts_102_221 import PinNeeded
from tests.fixtures_uicc import ScriptedTransport

EXAMPLES = Path(__file__).resolve().parent.parent / "card_profiles" / "examples"
PS_IMPU = [
    "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
    "tel:+15550100001",
    "sip:unit-0001@mcptt.example.org",
]


def sim(name: str, query: str = "") -> SimulatedTransport:
    transport = open_transport(f"sim:{EXAMPLES / name}{'?' + query if query else ''}")
    assert isinstance(transport, SimulatedTransport)
    return transport


@pytest.mark.parametrize("t0", ["0", "1"])
def test_public_safety_card(t0: str) -> None:
    with sim("ps-001.yaml", f"t0={t0}") as transport:
        doc = read_identities(transport).to_json()
    assert doc["iccid"] == "8900101000000000019"
    assert doc["imsi"] == "001010000000001"
    assert doc["mnc_length"] == 2
    assert {27, 101, 109} <= set(doc["ust"])
    assert doc["ust"] == sorted(doc["ust"])
    assert doc["prose"] is True
    assert doc["isim"] == {
        "impi": "001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
        "domain": "ims.mnc001.mcc001.3gppnetwork.org",
        "impu": PS_IMPU,
        "ist": doc["isim"]["ist"],
        "pcscf": [],
    }
    assert 15 in doc["isim"]["ist"]
    assert set(doc) == {"iccid", "imsi", "mnc_length", "ust", "prose", "isim", "apdu_count"}


def test_public_safety_card_within_16_apdus_on_t1() -> None:
    with sim("ps-001.yaml") as transport:
        ids = read_identities(transport)
        assert ids.apdu_count == transport.card.apdu_count
    assert ids.apdu_count <= 16


def test_t0_costs_more_apdus_but_reads_the_same() -> None:
    with sim("ps-001.yaml") as t1, sim("ps-001.yaml", "t0=1") as t0:
        a, b = read_identities(t1), read_identities(t0)
    assert a.to_json() | {"apdu_count": 0} == b.to_json() | {"apdu_count": 0}
    assert b.apdu_count > a.apdu_count


def test_pcscf_addresses_with_their_types() -> None:
    with sim("ps-pcscf.yaml") as transport:
        isim = read_identities(transport).to_json()["isim"]
    assert 1 in isim["ist"]
    assert isim["pcscf"] == ["pcscf.ims.mnc001.mcc001.3gppnetwork.org", "10.45.0.10"]


def test_commercial_card_has_no_isim_and_no_prose() -> None:
    with sim("commercial-001.yaml") as transport:
        doc = read_identities(transport).to_json()
    assert doc["isim"] is None
    assert doc["prose"] is False
    assert 101 not in doc["ust"]


def test_pin_card_needs_the_pin() -> None:
    with sim("ps-pin.yaml") as transport, pytest.raises(PinNeeded, match=r"EF\.IMSI"):
        read_identities(transport)


def test_pin_card_reads_with_the_pin() -> None:
    with sim("ps-pin.yaml") as transport:
        assert read_identities(transport, pin="1234").imsi == "001010000000006"
        assert transport.card.pin1_retries == 3


def test_wrong_pin_spends_one_attempt_and_the_last_needs_force() -> None:
    with sim("ps-pin.yaml") as transport:
        card = transport.card
        for left in (2, 1):
            with pytest.raises(CardError, match=f"wrong PIN, {left} attempt"):
                read_identities(transport, pin="9999")
            assert card.pin1_retries == left
        with pytest.raises(CardError, match="only one PIN attempt left"):
            read_identities(transport, pin="1234")
        assert card.pin1_retries == 1  # nothing spent
        assert read_identities(transport, pin="1234", force=True).iccid == "8900101000000000068"
        assert card.pin1_retries == 3


def test_malformed_imsi_names_reader_and_file(
    scripted: Callable[[Sequence[tuple[str, str]]], ScriptedTransport],
) -> None:
    # A card whose EF.IMSI says 8 bytes follow but holds only 5: only a scripted card
    # sends that; the simulated card always encodes valid files.
    usim = "A0000000871002FF33FF018900000100"
    card = scripted(
        [
            ("00B201F400", "6118 4F10" + usim + "5004 5553494D 9000"),
            ("00B202F400", "6A83"),
            ("00B0820000", "98001010000000000091 9000"),
            ("00A4040C10" + usim, "9000"),
            ("00B0870000", "080910100000 9000"),
        ]
    )
    with pytest.raises(CardError) as info:
        read_identities(card)
    assert str(info.value) == (
        "scripted:card: EF.IMSI: length byte at byte 0 says 8 bytes follow, only 5 do"
    )


def test_card_removed_mid_read_is_a_transport_error() -> None:
    from attest.errors import TransportError

    with sim("ps-001.yaml", "remove_at=5") as transport, pytest.raises(TransportError):
        read_identities(transport)


def test_card_without_usim_is_a_card_error(
    scripted: Callable[[Sequence[tuple[str, str]]], ScriptedTransport],
) -> None:
    # EF.DIR lists only a non-3GPP application (here a CSIM-like AID): prefix match fails.
    card = scripted(
        [("00B201F400", "610F 4F0BA000000343100200000000 5000 9000"), ("00B202F400", "6A83")]
    )
    with pytest.raises(CardError, match=r"EF\.DIR lists no USIM application"):
        read_identities(card)
