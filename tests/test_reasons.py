"""The reason-code table: complete for what the appraisal produces, and what people see
of it (``simattest explain``, the OpenAPI description)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from attest import appraisal, devicepolicy
from attest.appraisal import ChallengeFacts, PooledCard, RegistryFacts, appraise, tier
from attest.evidence import parse_evidence
from attest.reasons import REASONS, trust_meaning
from server.cli.main import main
from server.core.service import Service
from server.http.app import create_app

IMEI, OTHER_IMEI = "490154203237518", "356938035643809"
XRES = bytes.fromhex("a54211d5e3ba50bf")
MINE = PooledCard("8988211000000000018", "001010000000001", IMEI)
THEIRS = PooledCard("8988211000000000026", "001010000000002", OTHER_IMEI)
CLONE = PooledCard(MINE.iccid, "001010000000009", IMEI)  # a pooled ICCID, another IMSI
FOREIGN = PooledCard("8949000000000000011", "262010000000001", None)


def _every_verdict() -> list[appraisal.Verdict]:
    """Every combination of the appraisal's inputs that matters to it."""
    verdicts = []
    challenge = ChallengeFacts("att1", "bm9uY2Vub25jZW5vbmNl", IMEI, XRES)
    for (freshness, known, signed, paired, shown, kind, profile_ok, res, nonce, imei) in \
            itertools.product(("fresh", "expired", "reused"), (True, False), (True, False),
                              (MINE, None), (MINE, THEIRS, CLONE, FOREIGN),
                              ("public-safety", "commercial", "unknown"), (True, False),
                              (XRES, bytes(8), None), ("bm9uY2Vub25jZW5vbmNl", "b3RoZXI"),
                              (IMEI, OTHER_IMEI)):
        outcome: dict[str, Any] = {"outcome": "mac_failure"} if res is None \
            else {"outcome": "success", "res": res.hex()}
        evidence = parse_evidence({
            "attestation_id": "att1", "nonce": nonce, "imei": imei, "imeisv": None,
            "iccid": shown.iccid, "imsi": shown.imsi, "mnc_length": 2, "ust": [27],
            "prose": True, "isim": None, "outcome": outcome})
        # the registry's card for the evidence's ICCID: none for a foreign card
        pooled = {FOREIGN.iccid: None, MINE.iccid: MINE}.get(shown.iccid, shown)
        facts = RegistryFacts(known, signed, paired, pooled, kind, profile_ok)  # type: ignore[arg-type]
        verdicts.append(appraise(replace(challenge, freshness=freshness),  # type: ignore[arg-type]
                                 evidence, facts))
    return verdicts + _every_handset_verdict(challenge)


BOOT = devicepolicy.BootFacts("tee", True, "verified", bytes(32), None, 202611, 20261101,
                              20261101, IMEI)


def _every_handset_verdict(challenge: ChallengeFacts) -> list[appraisal.Verdict]:
    """The ME's hardware facts: every finding, under every severity."""
    evidence = parse_evidence({
        "attestation_id": "att1", "nonce": "bm9uY2Vub25jZW5vbmNl", "imei": IMEI,
        "imeisv": None, "iccid": MINE.iccid, "imsi": MINE.imsi, "mnc_length": 2, "ust": [27],
        "prose": True, "isim": None, "outcome": {"outcome": "success", "res": XRES.hex()}})
    variants = [replace(BOOT, device_locked=False), replace(BOOT, verified_boot_state="failed"),
                replace(BOOT, verified_boot_key=b"\1" * 32), replace(BOOT, os_patch_level=201901),
                replace(BOOT, security_level="software"), replace(BOOT, imei=OTHER_IMEI),
                replace(BOOT, security_level="strongbox")]
    handsets = [devicepolicy.SOFTWARE_KEY, devicepolicy.HandsetFacts(BOOT),
                *(devicepolicy.HandsetFacts(BOOT, fresh=v) for v in variants),
                *(devicepolicy.HandsetFacts(BOOT, fresh_problem=p)
                  for p in (devicepolicy.ME_ATTESTATION_INVALID,
                            devicepolicy.ME_ATTESTATION_REVOKED))]
    facts = RegistryFacts(True, True, MINE, MINE, "public-safety", True)
    return [appraise(challenge, evidence, replace(facts, handset=handset),
                     devicepolicy.DevicePolicy(dict.fromkeys(devicepolicy.FINDINGS, severity)),
                     dt.date(2026, 12, 7))
            for handset in handsets for severity in devicepolicy.SEVERITIES]


def test_every_reason_and_value_the_appraisal_produces_has_an_entry() -> None:
    produced = set()
    claims = set()
    for verdict in _every_verdict():
        produced.update(verdict.reasons)
        claims.update((c, v) for sub in verdict.submods.values() for c, v in sub.vector.items())
    assert produced == set(appraisal.REASONS)  # the combinations reach every code
    assert produced <= set(REASONS), "reason codes without an explanation"
    for code in produced:
        assert REASONS[code].meaning and REASONS[code].next_step
    for claim, value in claims:
        # a meaning of its own, not merely the tier's name
        assert trust_meaning(claim, value) != tier(value), (claim, value)
    assert trust_meaning("hardware", 96) == "not genuine"


def test_explain_one_code_and_all(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["explain", "me_signature_invalid"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "ME_SIGNATURE_INVALID"
    assert "the evidence was not signed by this handset's registered key — wrong key file " \
           "on the device, or a different device" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 80

    assert main(["explain"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines()
              if line and not line.startswith(" ")]
    assert listed == list(appraisal.REASONS)

    assert main(["explain", "--json"]) == 0
    assert {e["code"] for e in json.loads(capsys.readouterr().out)} == set(appraisal.REASONS)

    assert main(["explain", "CLONED"]) == 2
    err = capsys.readouterr().err
    assert "CLONED: not a reason code" in err and "CLONED_SIM" in err


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The document does not depend on the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'openapi.db'}"


def test_openapi_describes_every_reason(service: Service) -> None:
    doc = create_app(service).test_client().get("/openapi.json").get_json()
    reason = doc["components"]["schemas"]["Reason"]
    assert set(reason["enum"]) == set(appraisal.REASONS)
    assert "`CLONED_SIM`: the card claims a pooled card's identity" in reason["description"]
    verdict = doc["components"]["schemas"]["Verdict"]["properties"]["reasons"]
    assert verdict["items"] == {"$ref": "#/components/schemas/Reason"}
