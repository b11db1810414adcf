"""``simattest device attestation show``: every decoded field and the verdict; exit 0 only
when the chain verifies, otherwise one line naming the field (exit 2)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attest.android.testauthority import AttestedProperties, TestAttestationAuthority
from server.cli.main import main
from tests.cli_errors import one_line_refusal

DATA = Path(__file__).parent / "data" / "android_attestation"
CAIMAN = str(DATA / "caiman_sdk36_TEE_EC_RKP.pem")


def test_show_prints_every_field_and_the_root(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "attestation", "show", CAIMAN, "--at", "2025-09-29T12:00:00Z"]) == 0
    out, err = capsys.readouterr()
    rows = dict(line.split("\t", 1) for line in out.splitlines()[1:])
    assert rows["verified"] == "True"
    assert rows["root.name"] == "serialNumber=f92009e853b6b045"
    assert rows["keyDescription.attestationVersion"] == "400"
    assert rows["keyDescription.hardwareEnforced.rootOfTrust.verifiedBootState"] == "VERIFIED"
    assert rows["keyDescription.hardwareEnforced.rootOfTrust.deviceLocked"] == "True"
    assert rows["keyDescription.hardwareEnforced.osPatchLevel"] == "202511"
    assert rows["keyDescription.hardwareEnforced.attestationIdModel"] == "Pixel 9 Pro"
    assert rows["keyDescription.softwareEnforced.attestationApplicationId.packageInfos[0]"
                ".packageName"] == "com.google.android.attestation"
    assert rows["chain[4].subject"] == "serialNumber=f92009e853b6b045"
    assert "verified: 5 certificates to serialNumber=f92009e853b6b045" in err
    assert "at 2025-09-29T12:00:00Z" in err


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "attestation", "show", CAIMAN, "--at", "2025-09-29",
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["verified"] is True and document["at"] == "2025-09-29T00:00:00Z"
    assert document["root"]["source"] == "Google hardware attestation roots"
    assert document["keyDescription"]["hardwareEnforced"]["purpose"] == ["SIGN", "VERIFY"]
    assert document["keyDescription"]["attestationChallenge"] == (
        b"d688d763-6118-4ca6-94b2-e6cd9ed7e4e4".hex())
    assert len(document["chain"]) == 5 and "error" not in document


def test_a_chain_that_does_not_verify_is_shown_then_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    # Expired RKP intermediate: still decoded and shown, then the one line, exit 2.
    assert main(["device", "attestation", "show", CAIMAN, "--json"]) == 2
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["verified"] is False
    assert document["error"]["reason"] == "ME_ATTESTATION_INVALID"
    assert document["error"]["field"] == "chain[1].validity"
    assert document["keyDescription"]["hardwareEnforced"]["osVersion"] == 160000
    assert err.count("\n") == 1 and err.startswith("simattest: chain[1].validity: expired")


def test_unknown_root_then_trusted_with_roots(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    authority = TestAttestationAuthority.create(now)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(authority.issue_pem(ec.generate_private_key(ec.SECP256R1()).public_key(),
                                          AttestedProperties(challenge=b"n",
                                                             imeis=("490154203237518",))))
    line = one_line_refusal(["device", "attestation", "show", str(chain)], capsys)
    assert line.startswith("simattest: chain[3]: ends at") and "not a trusted root" in line
    roots = tmp_path / "roots.pem"
    roots.write_bytes(authority.roots_pem())
    assert main(["device", "attestation", "show", str(chain), "--roots", str(roots)]) == 0
    out = capsys.readouterr().out
    assert "keyDescription.hardwareEnforced.attestationIdImei\t490154203237518" in out
    assert f"root.source\t{roots}" in out
    # A status list revoking its intermediate: refused with the revocation reason.
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"entries": {format(
        authority.intermediate.serial_number, "x"): {"status": "SUSPENDED"}}}))
    week_ago = (now - dt.timedelta(days=7)).timestamp()
    os.utime(status, (week_ago, week_ago))
    assert main(["device", "attestation", "show", str(chain), "--roots", str(roots),
                 "--status", str(status), "--json"]) == 2
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["error"]["reason"] == "ME_ATTESTATION_REVOKED"
    assert document["status_list"]["entries"] == 1
    assert 6.9 <= document["status_list"]["age_days"] <= 7.1
    assert err.startswith("simattest: chain[2].serialNumber:") and "SUSPENDED" in err


@pytest.mark.parametrize(("argv", "expected"), [
    (["missing.pem"], "missing.pem: "),
    ([CAIMAN, "--roots", "missing-roots.pem"], "missing-roots.pem: "),
    ([CAIMAN, "--status", "missing-status.json"], "missing-status.json: "),
    ([str(DATA / "PROVENANCE.md")], "simattest: chain: "),
])
def test_bad_files_are_one_line(argv: list[str], expected: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert expected in one_line_refusal(["device", "attestation", "show", *argv], capsys)


def test_a_bad_instant_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["device", "attestation", "show", CAIMAN, "--at", "yesterday"])
    assert caught.value.code == 2
    assert "not an ISO-8601 instant" in capsys.readouterr().err
