"""The checkout appraisal policy: one test per reason, and the genuine case."""

from __future__ import annotations

import datetime as dt
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
from attest.devicepolicy import (
    DEFAULT_SEVERITY,
    ME_ATTESTATION_REVOKED,
    ME_BOOT_KEY_CHANGED,
    ME_BOOTLOADER_UNLOCKED,
    ME_PATCH_TOO_OLD,
    ME_SOFTWARE_KEY,
    ME_UNVERIFIED_BOOT,
    SOFTWARE_KEY,
    BootFacts,
    DevicePolicy,
    HandsetFacts,
)
from attest.errors import InputError
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


# --- the handset's hardware facts (Android key attestation) ----------------------------

TODAY = dt.date(2026, 12, 7)
BOOT = BootFacts("tee", True, "verified", bytes(32), None, 202611, 20261101, 20261101, IMEI)


def me(handset: HandsetFacts, policy: DevicePolicy | None = None) -> Any:
    verdict = appraise(CHALLENGE, evidence(), replace(FACTS, handset=handset),
                       policy or DevicePolicy(), TODAY)
    return verdict.submods["me"]


def test_attested_handset_is_affirming_with_hardware_claims() -> None:
    registered = me(HandsetFacts(BOOT))
    assert registered.status == "affirming" and registered.reasons == ()
    # from the registration record only: "approved boot-time" (3), not 2
    assert registered.vector == {"instance-identity": 2, "sourced-data": 2, "hardware": 2,
                                 "executables": 3, "configuration": 2}
    fresh = me(HandsetFacts(BOOT, fresh=BOOT))
    assert fresh.vector["executables"] == 2


def test_software_key_is_marked_and_judged_by_policy() -> None:
    accepted = me(SOFTWARE_KEY)
    assert accepted.status == "affirming" and accepted.vector["hardware"] == 0
    assert "executables" not in accepted.vector  # nothing attested
    strict = DevicePolicy({**DEFAULT_SEVERITY, ME_SOFTWARE_KEY: "contraindicated"})
    refused = me(SOFTWARE_KEY, strict)
    assert (refused.status, refused.reasons, refused.vector["hardware"]) == \
        ("contraindicated", (ME_SOFTWARE_KEY,), 96)


@pytest.mark.parametrize(("fresh", "reason", "claim", "value"), [
    (replace(BOOT, device_locked=False), ME_BOOTLOADER_UNLOCKED, "configuration", 96),
    (replace(BOOT, verified_boot_state="unverified"), ME_UNVERIFIED_BOOT, "executables", 96),
    (replace(BOOT, verified_boot_state="self-signed"), ME_UNVERIFIED_BOOT, "executables", 96),
    (replace(BOOT, verified_boot_key=b"\1" * 32), ME_BOOT_KEY_CHANGED, "executables", 96),
    # 90 days is the default limit: 2026-08-01 is 128 days before TODAY
    (replace(BOOT, os_patch_level=202608), ME_PATCH_TOO_OLD, "configuration", 32),
    (replace(BOOT, boot_patch_level=None, vendor_patch_level=None, os_patch_level=None),
     ME_PATCH_TOO_OLD, "configuration", 32),
])
def test_each_tampering_finding(fresh: BootFacts, reason: str, claim: str, value: int) -> None:
    sub = me(HandsetFacts(BOOT, fresh=fresh))
    assert sub.reasons == (reason,)
    assert sub.vector[claim] == value


def test_patch_within_the_limit_and_a_longer_limit() -> None:
    assert me(HandsetFacts(BOOT, fresh=replace(BOOT, os_patch_level=202610,
                                               vendor_patch_level=20261005,
                                               boot_patch_level=20261005))).reasons == ()
    old = HandsetFacts(BOOT, fresh=replace(BOOT, os_patch_level=202608))
    assert me(old, DevicePolicy(max_patch_age_days=180)).reasons == ()


def test_fresh_attestation_problems_and_attested_imei() -> None:
    revoked = me(HandsetFacts(BOOT, fresh_problem=ME_ATTESTATION_REVOKED))
    assert (revoked.reasons, revoked.vector["hardware"]) == ((ME_ATTESTATION_REVOKED,), 96)
    since = me(HandsetFacts(BOOT, revoked_since_registration=True))
    assert (since.reasons, since.vector["hardware"]) == ((ME_ATTESTATION_REVOKED,), 96)
    other = me(HandsetFacts(BOOT, fresh=replace(BOOT, imei=OTHER_IMEI)))
    assert other.reasons == ("IMEI_MISMATCH",)
    assert other.vector["instance-identity"] == 96
    second = me(HandsetFacts(BOOT, fresh=replace(BOOT, imei=OTHER_IMEI, second_imei=IMEI)))
    assert second.reasons == ()


def test_policy_id_names_the_settings() -> None:
    default = DevicePolicy()
    assert default.policy_id == DevicePolicy().policy_id
    assert default.policy_id.startswith("policy:simattest/device/v1#")
    assert DevicePolicy(max_patch_age_days=30).policy_id != default.policy_id
    with pytest.raises(InputError, match="ME_NOPE is not a finding"):
        DevicePolicy({**DEFAULT_SEVERITY, "ME_NOPE": "warning"})
