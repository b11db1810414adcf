"""Handsets registered from an Android key attestation, and attested at checkout.

The chains come from the TEST-ONLY attestation authority (``attest.android.testauthority``)
the service is started to trust (``ServiceConfig.attestation_roots``), through the
simulated attested handset (``server.agent.attested``) where the device side matters.
Every refusal is checked to store nothing: no handset, and the nonce still usable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from attest import b64url, devicekey
from attest.android.keydescription import SecurityLevel, VerifiedBootState
from attest.android.testauthority import AttestedProperties, TestAttestationAuthority
from attest.devicepolicy import DEFAULT_SEVERITY, ME_SOFTWARE_KEY, DevicePolicy
from attest.evidence import canonical_json
from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.attestation.views import get_attestation
from server.core.config import ServiceConfig
from server.core.errors import Conflict, NotFound, ServiceError
from server.core.service import Service
from server.pool import attested, provisioning, registry
from server.pool.android import AttestationRefused
from server.store.models import Handset, HandsetAttestation, utcnow
from tests.fixtures_attestation import ApiServer, TestCard, make_iccid, make_imei, signed_request

IMEI = make_imei(41)
OTHER_IMEI = make_imei(42)
NOW = utcnow()
RECENT = (NOW.date().replace(day=1) - dt.timedelta(days=1))
PATCH = RECENT.year * 100 + RECENT.month  # last month's patch level


@pytest.fixture(scope="module")
def authority() -> TestAttestationAuthority:
    return TestAttestationAuthority.create(NOW)


@pytest.fixture
def service_config(authority: TestAttestationAuthority, tmp_path: Path) -> ServiceConfig:
    roots = tmp_path / "test-root.pem"
    roots.write_bytes(authority.roots_pem())
    return ServiceConfig(attestation_roots=roots)


def props(challenge: bytes, **changes: Any) -> AttestedProperties:
    base = AttestedProperties(challenge=challenge, os_patch_level=PATCH,
                              vendor_patch_level=PATCH * 100 + 5,
                              boot_patch_level=PATCH * 100 + 5, imeis=(IMEI,))
    return dataclasses.replace(base, **changes)


def chain_for(authority: TestAttestationAuthority, nonce: str, **changes: Any
              ) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = authority.issue_pem(key.public_key(), props(b64url.decode(nonce), **changes))
    return key, pem.decode("ascii")


def handsets(svc: Service) -> int:
    with svc.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Handset)) or 0


def test_registration_records_the_attested_facts(service: Service,
                                                 authority: TestAttestationAuthority) -> None:
    nonce = attested.issue_registration_nonce(service, IMEI, actor="test").nonce
    key, chain = chain_for(authority, nonce, security_level=SecurityLevel.STRONGBOX)
    handset = attested.add_attested_handset(service, IMEI, chain, nonce, actor="test",
                                            label="unit 41")
    shown = registry.handset_json(handset)
    assert shown["key_kind"] == "strongbox"
    assert shown["public_key"] == key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    facts = shown["attestation"]
    assert (facts["device_locked"], facts["verified_boot_state"], facts["os_patch_level"],
            facts["attested_imei"], facts["root"]) == \
        (True, "verified", PATCH, IMEI, "CN=simattest TEST ONLY attestation root")
    assert facts["policy_id"] == service.config.device_policy.policy_id
    assert facts["findings"] == []
    # the nonce was single-use: a replayed registration is refused for that
    with pytest.raises(Conflict, match="used already"):
        attested.add_attested_handset(service, IMEI, chain, nonce, actor="test")
    # a bare public key is a software key
    other = registry.add_handset(service, OTHER_IMEI,
                                 devicekey.generate().public_pem().decode(), actor="test")
    assert registry.handset_json(other)["key_kind"] == "software"
    assert registry.handset_json(other)["attestation"] is None
    assert [registry.key_kind(h) for h in registry.list_handsets(
        service, key_kind="software").items] == ["software"]


@pytest.mark.parametrize(("changes", "reason", "field"), [
    ({"imeis": (OTHER_IMEI,)}, "IMEI_MISMATCH", "attestationIdImei"),
    ({"device_locked": False}, "ME_BOOTLOADER_UNLOCKED", "rootOfTrust.deviceLocked"),
    ({"verified_boot_state": VerifiedBootState.UNVERIFIED}, "ME_UNVERIFIED_BOOT",
     "rootOfTrust.verifiedBootState"),
    ({"challenge": bytes(32)}, "ME_ATTESTATION_INVALID", "attestationChallenge"),
])
def test_refused_registrations_store_nothing(
        service: Service, authority: TestAttestationAuthority, changes: dict[str, Any],
        reason: str, field: str) -> None:
    nonce = attested.issue_registration_nonce(service, IMEI, actor="test").nonce
    key = ec.generate_private_key(ec.SECP256R1())
    chain = authority.issue_pem(key.public_key(), dataclasses.replace(
        props(b64url.decode(nonce)), **changes)).decode()
    with pytest.raises(AttestationRefused) as refused:
        attested.add_attested_handset(service, IMEI, chain, nonce, actor="test")
    assert refused.value.reason == reason
    assert refused.value.field.startswith("attestation.") and refused.value.field.endswith(field)
    assert reason in str(refused.value)
    assert handsets(service) == 0
    # nothing was consumed: the nonce still registers a good chain
    _key, good = chain_for(authority, nonce)
    attested.add_attested_handset(service, IMEI, good, nonce, actor="test")
    assert handsets(service) == 1


def test_nonce_must_be_the_services_and_for_this_imei(
        service: Service, authority: TestAttestationAuthority, tmp_path: Path) -> None:
    forged = b64url.encode(bytes(32))
    _key, chain = chain_for(authority, forged)
    with pytest.raises(NotFound, match="not one this service issued"):
        attested.add_attested_handset(service, IMEI, chain, forged, actor="test")
    theirs = attested.issue_registration_nonce(service, OTHER_IMEI, actor="test").nonce
    _key, chain = chain_for(authority, theirs)
    with pytest.raises(ServiceError, match=f"issued for handset {OTHER_IMEI}, not {IMEI}"):
        attested.add_attested_handset(service, IMEI, chain, theirs, actor="test")
    # a chain to a root the service does not trust
    stranger = TestAttestationAuthority.create(NOW)
    nonce = attested.issue_registration_nonce(service, IMEI, actor="test").nonce
    key = ec.generate_private_key(ec.SECP256R1())
    untrusted = stranger.issue_pem(key.public_key(), props(b64url.decode(nonce))).decode()
    with pytest.raises(AttestationRefused, match="ME_ATTESTATION_INVALID") as refused:
        attested.add_attested_handset(service, IMEI, untrusted, nonce, actor="test")
    assert refused.value.field.startswith("attestation.chain[")
    with service.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(HandsetAttestation)) == 0


def _checkout(svc: Service, imei: str, key: devicekey.DeviceSigner, card: TestCard,
              attestation: Any = None) -> dict[str, Any]:
    challenge = create_challenge(svc, signed_request(key, imei), "127.0.0.1").to_json()
    doc = {"attestation_id": challenge["id"], "nonce": challenge["nonce"], "imei": imei,
           "imeisv": None, **card.facts(),
           "outcome": card.answer(bytes.fromhex(challenge["rand"]),
                                  bytes.fromhex(challenge["autn"]))}
    if attestation is not None:
        doc["attestation"] = attestation(challenge["nonce"])
    signature = b64url.encode(key.sign(canonical_json(doc)))
    outcome = submit_evidence(svc, challenge["id"], doc, signature, "127.0.0.1")
    claims = jwt.decode(outcome.ear or "", options={"verify_signature": False})
    return {"status": outcome.status, "reasons": outcome.reasons, "claims": claims,
            "id": outcome.attestation_id}


def test_checkout_with_and_without_a_fresh_attestation(
        service: Service, authority: TestAttestationAuthority) -> None:
    card = TestCard(make_iccid("8900101", 41), "001010000000041", b"\1" * 16, b"\2" * 16)
    provisioning.import_batch(
        service, f"ICCID,IMSI,KI,OPC\n{card.iccid},{card.imsi},{card.k.hex()},"
                 f"{card.opc.hex()}\n", "one.csv", actor="test")
    nonce = attested.issue_registration_nonce(service, IMEI, actor="test").nonce
    key, chain = chain_for(authority, nonce)
    attested.add_attested_handset(service, IMEI, chain, nonce, actor="test")
    registry.pair(service, IMEI, card.iccid, actor="test")
    signer = devicekey.DeviceSigner(key)

    plain = _checkout(service, IMEI, signer, card)
    assert (plain["status"], plain["reasons"]) == ("affirming", [])
    me = plain["claims"]["submods"]["me"]
    assert me["ear_trustworthiness_vector"] == {
        "instance-identity": 2, "sourced-data": 2, "hardware": 2, "executables": 3,
        "configuration": 2}
    assert me["ear_appraisal_policy_ids"][1] == service.config.device_policy.policy_id
    assert plain["claims"]["simattest_me"]["key_kind"] == "tee"

    def fresh(**changes: Any) -> Any:
        def attest(checkout_nonce: str) -> list[str]:
            leaf = ec.generate_private_key(ec.SECP256R1())
            certs = authority.issue(leaf.public_key(), props(b64url.decode(checkout_nonce),
                                                             **changes))
            return [b64url.encode(c.public_bytes(serialization.Encoding.DER)) for c in certs]
        return attest

    good = _checkout(service, IMEI, signer, card, fresh())
    assert good["status"] == "affirming"
    assert good["claims"]["submods"]["me"]["ear_trustworthiness_vector"]["executables"] == 2
    assert good["claims"]["simattest_me"]["fresh_attestation"] is True
    # the API's attestation view carries the same facts
    shown = get_attestation(service, good["id"]).to_json()["hardware"]
    assert (shown["key_kind"], shown["fresh_attestation"], shown["device_locked"],
            shown["os_patch_level"]) == ("tee", True, True, PATCH)
    unlocked = _checkout(service, IMEI, signer, card, fresh(device_locked=False))
    assert (unlocked["status"], unlocked["reasons"]) == \
        ("contraindicated", ["ME_BOOTLOADER_UNLOCKED"])
    old = _checkout(service, IMEI, signer, card, fresh(os_patch_level=202001))
    assert (old["status"], old["reasons"]) == ("warning", ["ME_PATCH_TOO_OLD"])
    # bound to another nonce: a replayed attestation
    replayed = _checkout(service, IMEI, signer, card,
                         lambda _nonce: fresh()(b64url.encode(bytes(32))))
    assert (replayed["status"], replayed["reasons"]) == \
        ("contraindicated", ["ME_ATTESTATION_INVALID"])
    other = _checkout(service, IMEI, signer, card, fresh(imeis=(OTHER_IMEI,)))
    assert other["reasons"] == ["IMEI_MISMATCH"]
    # the registration chain's intermediate revoked since: every later checkout says so,
    # with or without a fresh attestation
    from attest.android.status import serial_hex
    from server.pool.android import import_status_list

    import_status_list(service, json.dumps({"entries": {
        serial_hex(authority.intermediate.serial_number): {"status": "REVOKED"}}}).encode(),
        actor="test")
    revoked = _checkout(service, IMEI, signer, card)
    assert (revoked["status"], revoked["reasons"]) == \
        ("contraindicated", ["ME_ATTESTATION_REVOKED"])
    assert revoked["claims"]["submods"]["me"]["ear_trustworthiness_vector"]["hardware"] == 96


def test_status_list_import_revokes_and_shows_its_age(
        service: Service, authority: TestAttestationAuthority, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from attest.android.status import serial_hex
    from server.cli.main import main

    listing = tmp_path / "status.json"
    listing.write_text(json.dumps({"entries": {
        serial_hex(authority.intermediate.serial_number): {
            "status": "REVOKED", "reason": "KEY_COMPROMISE"}}}))
    store = ["--data", str(tmp_path / "data"), "--db", db_url]
    assert main(["admin", "attestation-status", "import", str(listing), *store]) == 0
    assert "1 entries" in capsys.readouterr().out
    assert main(["status", *store]) == 0
    assert "1 entries, imported 0 days ago" in " ".join(capsys.readouterr().out.split())
    nonce = attested.issue_registration_nonce(service, IMEI, actor="test").nonce
    _key, chain = chain_for(authority, nonce)
    with pytest.raises(AttestationRefused, match="ME_ATTESTATION_REVOKED") as refused:
        attested.add_attested_handset(service, IMEI, chain, nonce, actor="test")
    # the intermediate: leaf, attestation key, intermediate, root
    assert refused.value.field.startswith("attestation.chain[2]")
    assert handsets(service) == 0
    # a file that is not a status list: one line, nothing stored
    listing.write_text('{"entries": {"zz": {"status": "REVOKED"}}}')
    assert main(["admin", "attestation-status", "import", str(listing), *store]) == 2
    assert capsys.readouterr().err == "simattest: attestation status list: status.entries.zz: " \
        "the key is not a hexadecimal serial number\n"
    assert main(["status", *store]) == 0
    assert "1 entries" in capsys.readouterr().out  # the list before stays


def test_cli_registers_and_checks_out_a_simulated_attested_handset(
        api_server: ApiServer, authority: TestAttestationAuthority, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """simattest device attested-sim / registration-nonce / add / checkout, over HTTP."""
    from hw.cardfile import load_card_file
    from server.agent.attested import AUTHORITY_FILE, AttestedHandset
    from server.cli.main import main
    from server.core.operators import create_token
    from server.demo.batchgen import SynthCard, csv_text

    svc = api_server.service
    card_path = Path(__file__).resolve().parent.parent / "card_profiles" / "examples" / \
        "ps-001.yaml"
    card = load_card_file(card_path)
    assert card.imei is not None
    provisioning.import_batch(svc, csv_text([SynthCard(card.iccid, card.imsi, card.ki,
                                                       card.opc or b"")]), "one.csv",
                              actor="test")
    shared = tmp_path / "authority"
    shared.mkdir()
    (shared / AUTHORITY_FILE).write_bytes(authority.to_pem())
    server = ["--server", api_server.url, "--token",
              create_token(svc, "provisioner", "test")]
    handset_dir = tmp_path / "handset"
    assert main(["device", "attested-sim", "--out", str(handset_dir), "--imei", card.imei,
                 "--authority", str(shared)]) == 0
    assert "TEST ONLY" in capsys.readouterr().out
    assert main(["device", "add", "--imei", card.imei, "--attested-device", str(handset_dir),
                 "--json", *server]) == 0
    registered = json.loads(capsys.readouterr().out)
    assert (registered["key_kind"], registered["attestation"]["attested_imei"]) == \
        ("tee", card.imei)
    registry.pair(svc, card.imei, card.iccid, actor="test")
    assert main(["checkout", "--server", api_server.url, "--reader", f"sim:{card_path}",
                 "--attested-device", str(handset_dir), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    claims = jwt.decode(verdict["ear"], options={"verify_signature": False})
    assert claims["submods"]["me"]["ear_trustworthiness_vector"]["executables"] == 2
    assert claims["simattest_me"]["fresh_attestation"] is True

    # an unlocked handset's own chain, by --attestation: one line naming the reason
    unlocked_dir = tmp_path / "unlocked"
    assert main(["device", "attested-sim", "--out", str(unlocked_dir), "--imei", OTHER_IMEI,
                 "--unlocked", "--authority", str(shared), "--json"]) == 0
    capsys.readouterr()
    assert main(["device", "registration-nonce", "--imei", OTHER_IMEI, "--json",
                 *server]) == 0
    nonce = json.loads(capsys.readouterr().out)["nonce"]
    _key, chain = AttestedHandset.load(unlocked_dir).attest_new_key(b64url.decode(nonce))
    chain_file = tmp_path / "chain.pem"
    chain_file.write_bytes(chain)
    assert main(["device", "add", "--imei", OTHER_IMEI, "--attestation", str(chain_file),
                 *server]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "bootloader is unlocked (ME_BOOTLOADER_UNLOCKED)" in err
    assert "rootOfTrust.deviceLocked" in err
    assert registry.get_handset(svc, OTHER_IMEI) is None


def test_api_answers_a_refused_attestation_with_a_problem_naming_reason_and_field(
        service: Service, authority: TestAttestationAuthority) -> None:
    from server.core.operators import create_token
    from server.http.app import create_app

    client = create_app(service).test_client()
    auth = {"Authorization": f"Bearer {create_token(service, 'provisioner', 'test')}"}
    issued = client.post("/v1/registration-nonces", json={"imei": IMEI}, headers=auth)
    assert issued.status_code == 201
    nonce = issued.get_json()["nonce"]
    _key, chain = chain_for(authority, nonce,
                            verified_boot_state=VerifiedBootState.UNVERIFIED)
    refused = client.post("/v1/registrations", headers=auth, json={
        "imei": IMEI, "attestation": chain, "nonce": nonce})
    assert refused.status_code == 422
    assert refused.content_type == "application/problem+json"
    problem = refused.get_json()
    assert problem["type"].endswith("/attestation-refused")
    assert problem["detail"] == "attestation: the handset did not boot with verified boot " \
                                "(ME_UNVERIFIED_BOOT)"
    assert problem["errors"][0]["field"] == \
        "attestation.keyDescription.hardwareEnforced.rootOfTrust.verifiedBootState"
    assert handsets(service) == 0
    # the same nonce again, with a good chain: registered, then spent
    _key, good = chain_for(authority, nonce)
    body = {"imei": IMEI, "attestation": good, "nonce": nonce}
    assert client.post("/v1/registrations", headers=auth, json=body).status_code == 201
    again = client.post("/v1/registrations", headers=auth, json=body)
    assert (again.status_code, again.get_json()["type"].rsplit("/", 1)[1]) == (409, "conflict")


def test_an_old_patch_level_registers_with_its_finding_recorded(
        service: Service, authority: TestAttestationAuthority) -> None:
    # ME_PATCH_TOO_OLD is a warning by default: registered, the finding kept with it
    nonce = attested.issue_registration_nonce(service, OTHER_IMEI, actor="test").nonce
    _key, chain = chain_for(authority, nonce, imeis=(OTHER_IMEI,), os_patch_level=202001)
    old = attested.add_attested_handset(service, OTHER_IMEI, chain, nonce, actor="test")
    assert registry.handset_json(old)["attestation"]["findings"] == ["ME_PATCH_TOO_OLD"]


def test_a_software_level_attestation_is_a_software_key_and_refused_where_the_pool_says(
        service_config: ServiceConfig, authority: TestAttestationAuthority,
        tmp_path: Path) -> None:
    """A software-level KeyDescription (its hardwareEnforced list empty) registers as a
    software key by default, and is refused, storing nothing, when the pool takes
    hardware-backed keys only."""
    strict = dataclasses.replace(service_config, device_policy=DevicePolicy(
        {**DEFAULT_SEVERITY, ME_SOFTWARE_KEY: "contraindicated"}))
    with Service.open(tmp_path / "strict", f"sqlite:///{tmp_path / 'strict.db'}",
                      strict) as svc:
        nonce = attested.issue_registration_nonce(svc, IMEI, actor="test").nonce
        _key, chain = chain_for(authority, nonce, security_level=SecurityLevel.SOFTWARE)
        with pytest.raises(AttestationRefused) as refused:
            attested.add_attested_handset(svc, IMEI, chain, nonce, actor="test")
        assert refused.value.reason == ME_SOFTWARE_KEY
        assert refused.value.field.endswith("attestationSecurityLevel")
        assert handsets(svc) == 0
    with Service.open(tmp_path / "default", f"sqlite:///{tmp_path / 'default.db'}",
                      service_config) as svc:
        nonce = attested.issue_registration_nonce(svc, IMEI, actor="test").nonce
        _key, chain = chain_for(authority, nonce, security_level=SecurityLevel.SOFTWARE)
        handset = attested.add_attested_handset(svc, IMEI, chain, nonce, actor="test")
        assert registry.handset_json(handset)["key_kind"] == "software"
