"""The checkout appraisal policy: one test per reason, and the genuine case."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from attest.appraisal import (
    ChallengeFacts,
    PooledCard,
    RegistryFacts,
    appraise,
    tier,
)
from attest.evidence import Evidence, Outcome, parse_evidence

IMEI = "490154203237518"
OTHER_IMEI = "356938035643809"
XRES = bytes.fromhex("a54211d5e3ba50bf")
MINE = PooledCard(iccid="8988211000000000018", imsi="001010000000001", paired_imei=IMEI)
THEIRS = PooledCard(iccid="8988211000000000026", imsi="001010000000002", paired_imei=OTHER_IMEI)
CHALLENGE = ChallengeFacts(
    attestation_id="att1", nonce="bm9uY2Vub25jZW5vbmNl", imei=IMEI, xres=XRES
)
FACTS = RegistryFacts(
    handset_known=True, signature_valid=True, paired_card=MINE, evidence_card=MINE,
    card_kind="public-safety", profile_ok=True,
)


def evidence(**changes: Any) -> Evidence:
    doc: dict[str, Any] = {
        "attestation_id": "att1", "nonce": "bm9uY2Vub25jZW5vbmNl", "imei": IMEI,
        "imeisv": None, "iccid": MINE.iccid, "imsi": MINE.imsi, "mnc_length": 2,
        "ust": [27, 101], "prose": True, "isim": None,
        "outcome": {"outcome": "success", "res": XRES.hex()},
    }
    doc.update(changes)
    return parse_evidence(doc)


def test_genuine_pair_is_affirming_in_every_submodule() -> None:
    verdict = appraise(CHALLENGE, evidence(), FACTS)
    assert verdict.status == "affirming"
    assert verdict.reasons == []
    assert {n: s.status for n, s in verdict.submods.items()} == {
        "me": "affirming", "usim": "affirming", "pairing": "affirming"}
    assert verdict.submods["usim"].vector == {
        "instance-identity": 2, "hardware": 2, "configuration": 2}


def test_commercial_sim_not_in_pool() -> None:
    verdict = appraise(
        CHALLENGE,
        evidence(iccid="8949000000000000011", imsi="262010000000001",
                 outcome={"outcome": "mac_failure"}),
        replace(FACTS, evidence_card=None, card_kind="commercial", profile_ok=False),
    )
    assert verdict.status == "contraindicated"
    assert verdict.reasons == ["COMMERCIAL_SIM"]
    assert verdict.submods["usim"].vector["configuration"] == 96


def test_pooled_card_classified_commercial() -> None:
    verdict = appraise(CHALLENGE, evidence(), replace(FACTS, card_kind="commercial"))
    assert verdict.reasons == ["COMMERCIAL_SIM"]
    assert verdict.status == "contraindicated"


def test_sim_swapped_from_another_pooled_handset() -> None:
    verdict = appraise(
        CHALLENGE,
        evidence(iccid=THEIRS.iccid, imsi=THEIRS.imsi, outcome={"outcome": "mac_failure"}),
        replace(FACTS, evidence_card=THEIRS),
    )
    assert verdict.reasons == ["SIM_SWAPPED"]
    assert verdict.submods["pairing"].vector == {"instance-identity": 97}
    # the card could not be challenged with its own keys: never affirming
    assert verdict.submods["usim"].status == "warning"
    assert verdict.status == "contraindicated"


@pytest.mark.parametrize(
    "outcome",
    [
        {"outcome": "success", "res": "a54211d5e3ba50be"},
        {"outcome": "mac_failure"},
        {"outcome": "sync_failure", "auts": "00" * 14},
    ],
)
def test_cloned_sim_right_identities_wrong_key(outcome: dict[str, str]) -> None:
    verdict = appraise(CHALLENGE, evidence(outcome=outcome), replace(FACTS, auts_valid=False))
    assert verdict.reasons == ["CLONED_SIM"]
    assert verdict.submods["usim"].vector["hardware"] == 96
    assert verdict.status == "contraindicated"


def test_pooled_iccid_with_another_imsi_is_a_clone() -> None:
    verdict = appraise(CHALLENGE, evidence(imsi="001019999999999"), FACTS)
    assert verdict.reasons == ["CLONED_SIM"]


def test_valid_auts_proves_the_card_genuine() -> None:
    verdict = appraise(
        CHALLENGE, evidence(outcome={"outcome": "sync_failure", "auts": "00" * 14}),
        replace(FACTS, auts_valid=True),
    )
    assert verdict.submods["usim"].vector["hardware"] == 2


def test_profile_mismatch_is_a_warning() -> None:
    verdict = appraise(CHALLENGE, evidence(prose=False), replace(FACTS, profile_ok=False))
    assert verdict.reasons == ["PROFILE_MISMATCH"]
    assert verdict.status == "warning"
    unknown = appraise(CHALLENGE, evidence(), replace(FACTS, card_kind="unknown"))
    assert unknown.reasons == ["PROFILE_MISMATCH"]


def test_unknown_handset() -> None:
    verdict = appraise(
        replace(CHALLENGE, xres=None),
        evidence(outcome={"outcome": "mac_failure"}),
        replace(FACTS, handset_known=False, signature_valid=False, paired_card=None,
                evidence_card=replace(MINE, paired_imei=None)),
    )
    assert verdict.reasons == ["ME_UNKNOWN"]
    assert verdict.submods["me"].vector["instance-identity"] == 96
    assert verdict.status == "contraindicated"


def test_signature_by_another_key() -> None:
    verdict = appraise(CHALLENGE, evidence(), replace(FACTS, signature_valid=False))
    assert verdict.reasons == ["ME_SIGNATURE_INVALID"]
    assert verdict.submods["usim"].status == "affirming"
    assert verdict.status == "contraindicated"


def test_registered_handset_without_pairing() -> None:
    verdict = appraise(
        replace(CHALLENGE, xres=None), evidence(outcome={"outcome": "mac_failure"}),
        replace(FACTS, paired_card=None, evidence_card=replace(MINE, paired_imei=None)),
    )
    assert "HANDSET_NOT_PAIRED" in verdict.reasons
    assert verdict.status == "contraindicated"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nonce": "c29tZXRoaW5nZWxzZQ"}, "NONCE_MISMATCH"),
        ({"attestation_id": "att2"}, "NONCE_MISMATCH"),
        ({"imei": OTHER_IMEI}, "IMEI_MISMATCH"),
    ],
)
def test_evidence_bound_to_something_else(changes: dict[str, str], reason: str) -> None:
    verdict = appraise(CHALLENGE, evidence(**changes), FACTS)
    assert verdict.reasons == [reason]
    assert verdict.submods["me"].vector["sourced-data"] == 96
    assert verdict.status == "contraindicated"


@pytest.mark.parametrize(
    ("freshness", "reason"), [("expired", "CHALLENGE_EXPIRED"), ("reused", "CHALLENGE_REUSED")]
)
def test_stale_challenge_stops_the_appraisal(freshness: Any, reason: str) -> None:
    verdict = appraise(replace(CHALLENGE, freshness=freshness), evidence(), FACTS)
    assert verdict.reasons == [reason]
    assert all(s.status == "contraindicated" for s in verdict.submods.values())


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "none"), (1, "none"), (-1, "none"), (2, "affirming"), (31, "affirming"),
     (32, "warning"), (95, "warning"), (96, "contraindicated"), (127, "contraindicated"),
     (-96, "contraindicated")],
)
def test_ar4si_tiers(value: int, expected: str) -> None:
    assert tier(value) == expected


def test_outcome_without_xres_is_never_genuine() -> None:
    verdict = appraise(replace(CHALLENGE, xres=None), evidence(), FACTS)
    assert verdict.reasons == ["CLONED_SIM"]
    assert Outcome("mac_failure").to_json() == {"outcome": "mac_failure"}
