"""Android attestation chains: loading, verification to a trusted root at an instant,
the status list, and every bad chain refused with its reason code and field.

The chains come from the TEST-ONLY authority (``attest.android.testauthority``), made
with ``cryptography``; real published chains are in test_android_attestation_real.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from importlib import resources

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from attest.android.chain import (
    DEVICE_KEY_ALGORITHMS,
    KEY_DESCRIPTION_OID,
    load_chain,
    verify_chain,
)
from attest.android.errors import AttestationInvalid
from attest.android.keydescription import SecurityLevel, VerifiedBootState
from attest.android.roots import TrustStore, google_roots
from attest.android.status import StatusList
from attest.android.testauthority import (
    ROOT_NAME,
    TEST_BOOT_KEY,
    AttestedProperties,
    TestAttestationAuthority,
    chain_pem,
)
from attest.devicekey import load_public_key
from attest.errors import FieldError

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
CHALLENGE = hashlib.sha256(b"registration nonce").digest()
IMEI = "490154203237518"


@pytest.fixture(scope="module")
def authority() -> TestAttestationAuthority:
    return TestAttestationAuthority.create(NOW)


@pytest.fixture(scope="module")
def device_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _props(**changes: object) -> AttestedProperties:
    values: dict[str, object] = {"challenge": CHALLENGE, "imeis": (IMEI,)}
    values.update(changes)
    return AttestedProperties(**values)


def _refused(chain: list[x509.Certificate], roots: TrustStore, *,
             status: StatusList | None = None, at: dt.datetime = NOW,
             key_algorithms: frozenset[str] | None = None) -> AttestationInvalid:
    with pytest.raises(AttestationInvalid) as caught:
        verify_chain(chain, roots, status, at, key_algorithms)
    return caught.value


def _resign(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey,
            **changes: object) -> x509.Certificate:
    """``cert`` signed again by ``key`` with its validity or extensions changed."""
    builder = (x509.CertificateBuilder().subject_name(cert.subject)
               .issuer_name(cert.issuer).public_key(cert.public_key())
               .serial_number(cert.serial_number)
               .not_valid_before(changes.get("not_before", cert.not_valid_before_utc))
               .not_valid_after(changes.get("not_after", cert.not_valid_after_utc)))
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    for extension in changes.get("add_extensions", ()):
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256())


# ---- a good chain ----

def test_a_chain_from_the_authority_verifies_to_its_root(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props(
        security_level=SecurityLevel.STRONGBOX, os_patch_level=202510))
    result = verify_chain(chain, google_roots().extended(authority.trust_store()), None, NOW,
                          DEVICE_KEY_ALGORITHMS)
    root_spki = authority.root.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert result.root_name == f"CN={ROOT_NAME}"
    assert result.root_fingerprint == hashlib.sha256(root_spki).hexdigest()
    assert (result.chain_length, result.at, result.leaf_key_algorithm) == (4, NOW, "ecdsa-p256")
    assert not result.factory_provisioned and result.expired_accepted == ()
    kd = result.key_description
    assert kd.attestation_challenge == CHALLENGE
    assert kd.attestation_security_level is SecurityLevel.STRONGBOX
    assert kd.imeis == (IMEI,) and kd.os_patch_level == 202510
    assert kd.root_of_trust is not None
    assert (kd.root_of_trust.device_locked, kd.root_of_trust.verified_boot_state,
            kd.root_of_trust.verified_boot_key) == (True, VerifiedBootState.VERIFIED,
                                                     TEST_BOOT_KEY)
    # The attested key is the device's, usable as a registered device key.
    signed = load_public_key(result.leaf_public_key_pem)
    message = b"evidence"
    assert signed.verify(message, device_key.sign(message, ec.ECDSA(hashes.SHA256())))


def test_every_chain_certificate_is_named_test_only(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    assert all("TEST ONLY" in c.subject.rfc4514_string() for c in chain[1:])


def test_pem_and_der_chains_read_alike(authority: TestAttestationAuthority,
                                       device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    der = b"".join(c.public_bytes(serialization.Encoding.DER) for c in chain)
    assert load_chain(der) == chain == load_chain(b"\n  " + chain_pem(chain) + b"\n\n")


def test_a_chain_without_its_root_certificate_verifies(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())[:3]
    assert verify_chain(chain, authority.trust_store(), None, NOW).chain_length == 3


def test_the_leaf_validity_is_not_checked(authority: TestAttestationAuthority,
                                          device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    signer = authority.attestation_keys[0].key
    expired_leaf = _resign(chain[0], signer, not_before=dt.datetime(1980, 1, 1, tzinfo=dt.UTC),
                           not_after=dt.datetime(1990, 1, 1, tzinfo=dt.UTC))
    future_leaf = _resign(chain[0], signer, not_before=dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
    for leaf in (expired_leaf, future_leaf):
        verify_chain([leaf, *chain[1:]], authority.trust_store(), None, NOW)


def test_the_test_authority_survives_a_round_trip(authority: TestAttestationAuthority,
                                                  device_key: ec.EllipticCurvePrivateKey
                                                  ) -> None:
    again = TestAttestationAuthority.from_pem(authority.to_pem())
    chain = again.issue(device_key.public_key(), _props())
    assert verify_chain(chain, authority.trust_store(), None, NOW).chain_length == 4
    assert TrustStore.from_pem(authority.roots_pem(), ROOT_NAME) == authority.trust_store()
    with pytest.raises(AttestationInvalid, match="6"):
        TestAttestationAuthority.from_pem(authority.roots_pem())


# ---- bad chains: reason code and field ----

def test_a_broken_signature_names_its_certificate(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    for index in (0, 2):
        der = bytearray(chain[index].public_bytes(serialization.Encoding.DER))
        der[-5] ^= 0x01  # inside the signature value
        tampered = list(chain)
        tampered[index] = x509.load_der_x509_certificate(bytes(der))
        error = _refused(tampered, authority.trust_store())
        assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID",
                                               f"chain[{index}].signature")


def test_a_leaf_signed_by_another_key_is_refused(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    forged = _resign(chain[0], ec.generate_private_key(ec.SECP256R1()))
    error = _refused([forged, *chain[1:]], authority.trust_store())
    assert error.field == "chain[0].signature"


def test_an_unknown_root_is_refused(authority: TestAttestationAuthority,
                                    device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    other = TestAttestationAuthority.create(NOW)
    for roots in (google_roots(), other.trust_store()):
        error = _refused(chain, roots)
        assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID", "chain[3]")
        assert "not a trusted root" in error.message
    error = _refused(chain[:3], google_roots())
    assert error.field == "chain[2]"


def test_a_chain_out_of_order_is_refused(authority: TestAttestationAuthority,
                                         device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    error = _refused([chain[0], chain[2], chain[1], chain[3]], authority.trust_store())
    assert error.field == "chain[0].issuer"


def _status(*entries: tuple[int, str]) -> StatusList:
    document = {"entries": {format(serial, "x"): {"status": status, "reason": "KEY_COMPROMISE"}
                            for serial, status in entries}}
    return StatusList.from_json(json.dumps(document).encode())


@pytest.mark.parametrize(("index", "status"), [(2, "REVOKED"), (2, "SUSPENDED"),
                                               (1, "SUSPENDED"), (3, "REVOKED"),
                                               (0, "REVOKED")])
def test_a_revoked_or_suspended_certificate_refuses_the_chain(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey,
        index: int, status: str) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    error = _refused(chain, authority.trust_store(),
                     status=_status((chain[index].serial_number, status)))
    assert (error.reason, error.field) == ("ME_ATTESTATION_REVOKED",
                                           f"chain[{index}].serialNumber")
    assert status in error.message and "KEY_COMPROMISE" in error.message
    # Another certificate's serial changes nothing.
    verify_chain(chain, authority.trust_store(), _status((12345, status)), NOW)


def test_a_leaf_without_the_extension_is_refused(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props(), omit_extension=True)
    error = _refused(chain, authority.trust_store())
    assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID", "chain[0].extensions")


def test_a_root_alone_is_no_attestation(authority: TestAttestationAuthority) -> None:
    error = _refused([authority.root], authority.trust_store())
    assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID", "chain[0].extensions")


def test_a_chain_extended_below_an_attested_key_is_refused(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    # Whoever holds a genuinely attested key signs a leaf with a KeyDescription of their
    # choosing (locked, verified) for another key: the attested certificate is no leaf.
    genuine = authority.issue(device_key.public_key(), _props(device_locked=False))
    forged = authority.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), _props())[0]
    forged_leaf = (x509.CertificateBuilder().subject_name(forged.subject)
                   .issuer_name(genuine[0].subject).public_key(forged.public_key())
                   .serial_number(2).not_valid_before(NOW).not_valid_after(NOW)
                   .add_extension(forged.extensions.get_extension_for_oid(
                       KEY_DESCRIPTION_OID).value, critical=False)
                   .sign(device_key, hashes.SHA256()))
    error = _refused([forged_leaf, *genuine], authority.trust_store())
    assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID", "chain[1].extensions")


@pytest.mark.parametrize(("extension", "field"), [
    (b"\x30\x03\x02\x01", "keyDescription"),  # truncated
    (b"\x04\x00", "keyDescription"),  # wrong tag
    (b"\x30\x00", "keyDescription"),  # empty SEQUENCE
])
def test_a_malformed_extension_is_refused_with_its_field(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey,
        extension: bytes, field: str) -> None:
    chain = authority.issue(device_key.public_key(), _props(), extension=extension)
    error = _refused(chain, authority.trust_store())
    assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID", field)


def test_an_unknown_attestation_version_is_refused(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props(attestation_version=250))
    error = _refused(chain, authority.trust_store())
    assert error.field == "keyDescription.attestationVersion"


def test_an_rsa_leaf_where_ec_is_expected_is_refused(
        authority: TestAttestationAuthority) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    chain = authority.issue(rsa_key.public_key(), _props())
    error = _refused(chain, authority.trust_store(), key_algorithms=DEVICE_KEY_ALGORITHMS)
    assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID",
                                           "chain[0].subjectPublicKeyInfo")
    assert "rsa-2048" in error.message and "ecdsa-p256" in error.message
    # Without the restriction the chain itself is sound.
    assert verify_chain(chain, authority.trust_store(), None, NOW).leaf_key_algorithm == \
        "rsa-2048"


def test_an_expired_intermediate_is_refused(device_key: ec.EllipticCurvePrivateKey) -> None:
    old = TestAttestationAuthority.create(NOW - dt.timedelta(days=30), days=10)
    chain = old.issue(device_key.public_key(), _props())
    error = _refused(chain, old.trust_store())
    assert (error.reason, error.field) == ("ME_ATTESTATION_INVALID", "chain[1].validity")
    assert "expired" in error.message
    # ...and verifies at an instant when it was valid.
    assert verify_chain(chain, old.trust_store(), None, NOW - dt.timedelta(days=25))


def test_a_certificate_not_yet_valid_is_refused(device_key: ec.EllipticCurvePrivateKey
                                                ) -> None:
    for factory in (False, True):
        future = TestAttestationAuthority.create(NOW + dt.timedelta(days=30), factory=factory)
        error = _refused(future.issue(device_key.public_key(), _props()),
                         future.trust_store())
        assert error.field == "chain[1].validity" and "not valid before" in error.message


def test_an_expired_factory_provisioned_chain_is_accepted(
        device_key: ec.EllipticCurvePrivateKey) -> None:
    # Factory keys cannot be rotated (AOSP; Google's verifier accepts them expired).
    old = TestAttestationAuthority.create(NOW - dt.timedelta(days=30), days=10, factory=True)
    result = verify_chain(old.issue(device_key.public_key(), _props()), old.trust_store(),
                          None, NOW)
    # chain[3] is the root: the anchor is its key, its certificate's dates are not checked.
    assert result.factory_provisioned and result.expired_accepted == (1, 2)


def test_at_must_be_an_aware_instant(authority: TestAttestationAuthority,
                                     device_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="timezone"):
        verify_chain(authority.issue(device_key.public_key(), _props()),
                     authority.trust_store(), None, NOW.replace(tzinfo=None))


# ---- reading chains ----

def test_a_chain_of_more_than_ten_certificates_is_refused(
        authority: TestAttestationAuthority, device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    eleven = (chain * 3)[:11]
    with pytest.raises(AttestationInvalid) as caught:
        load_chain(chain_pem(eleven))
    assert (caught.value.field, caught.value.reason) == ("chain", "ME_ATTESTATION_INVALID")
    assert "more than 10 certificates" in caught.value.message
    with pytest.raises(AttestationInvalid, match="more than 10"):
        load_chain(b"".join(c.public_bytes(serialization.Encoding.DER) for c in chain * 3))
    assert _refused(eleven, authority.trust_store()).field == "chain"


def test_a_chain_over_64_kib_is_refused() -> None:
    with pytest.raises(AttestationInvalid) as caught:
        load_chain(b" " * (64 * 1024 + 1))
    assert caught.value.field == "chain" and "65537 bytes" in caught.value.message


@pytest.mark.parametrize(("tail", "where"), [
    (b"garbage\n", "trailing data"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "trailing data"),
])
def test_pem_with_trailing_garbage_is_refused(authority: TestAttestationAuthority,
                                              device_key: ec.EllipticCurvePrivateKey,
                                              tail: bytes, where: str) -> None:
    pem = authority.issue_pem(device_key.public_key(), _props())
    with pytest.raises(AttestationInvalid) as caught:
        load_chain(pem + tail)
    assert caught.value.field == "chain" and where in caught.value.message


def test_text_between_pem_blocks_is_refused(authority: TestAttestationAuthority,
                                            device_key: ec.EllipticCurvePrivateKey) -> None:
    chain = authority.issue(device_key.public_key(), _props())
    pem = chain_pem(chain[:1]) + b"subject=CN=x\n" + chain_pem(chain[1:])
    with pytest.raises(AttestationInvalid, match="before certificate 1"):
        load_chain(pem)


@pytest.mark.parametrize(("data", "field"), [
    (b"", "chain"),
    (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "chain"),
    (b"-----BEGIN CERTIFICATE-----\nA*AA\n-----END CERTIFICATE-----\n", "chain"),
    (b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n", "chain[0]"),
    (b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", "chain[0]"),
    (b"\x30\x82\x01", "chain[0]"),  # DER, truncated
    (b"\x30\x00", "chain[0]"),  # DER, not a certificate
])
def test_unreadable_chains_name_their_part(data: bytes, field: str) -> None:
    with pytest.raises(AttestationInvalid) as caught:
        load_chain(data)
    assert caught.value.field == field


# ---- roots and the status list ----

# Google's RSA attestation root public key as google/android-key-attestation publishes it
# (Constants.GOOGLE_ROOT_CA_PUB_KEY): an independent copy of the key we ship.
GOOGLE_RSA_ROOT_SPKI = base64.b64decode(
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAr7bHgiuxpwHsK7Qui8xUFmOr75gvMsd/dTEDDJdSSxtf6A"
    "n7xyqpRR90PL2abxM1dEqlXnf2tqw1Ne4Xwl5jlRfdnJLmN0pTy/4lj4/7tv0Sk3iiKkypnEUtR6WfMgH0QZfKHM1+"
    "di+y9TFRtv6y//0rb+T+W8a9nsNL/ggjnar86461qO0rOs2cXjp3kOG1FEJ5MVmFmBGtnrKpa73XpXyTqRxB/M0n1n"
    "/W9nGqC4FSYa04T6N5RIZGBN2z2MT5IKGbFlbC8UrW0DxW7AYImQQcHtGl/m00QLVWutHQoVJYnFPlXTcHYvASLu+R"
    "hhsbDmxMgJJ0mcDpvsC4PjvB+TxywElgS70vE0XmLD+OJtvsBslHZvPBKCOdT0MS+tgSOIfga+z1Z1g7+DVagf7quv"
    "mag8jfPioyKvxnK/EgsTUVi2ghzq8wm27ud/mIM7AY2qEORR8Go3TVB4HzWQgpZrt3i5MIlCaY504LzSRiigHCzAPl"
    "Hws+W0rB5N+er5/2pJKnfBSDiCiFAVtCLOZ7gLiMm0jhO2B6tUXHI/+MRPjy02i59lINMRRev56GKtcd9qO/0kUJWd"
    "ZTdA2XoS82ixPvZtXQpUpuL12ab+9EaDK8Z4RHJYYfCT3Q5vNAXaiWQ+8PTWm2QgBR/bkwSWc+NpUFgNPN9PvQi8WE"
    "g5UmAGMCAwEAAQ==")


def test_google_roots_are_the_published_ones() -> None:
    anchors = google_roots().anchors
    assert [a.name for a in anchors] == [
        "serialNumber=f92009e853b6b045",
        "C=US,O=Google LLC,OU=Android,CN=Key Attestation CA1"]
    assert anchors[0].spki_der == GOOGLE_RSA_ROOT_SPKI
    # SHA-256 of the Key Attestation CA1 certificate, as Google lists it.
    ca1 = x509.load_pem_x509_certificates(
        resources.files("attest.android").joinpath("data/google_roots.pem").read_bytes())[1]
    assert ca1.fingerprint(hashes.SHA256()).hex() == (
        "6d9db4ce6c5c0b293166d08986e05774a8776ceb525d9e4329520de12ba4bcc0")


def test_operator_roots_extend_googles(authority: TestAttestationAuthority) -> None:
    operator = TrustStore.from_pem(authority.roots_pem() + authority.roots_pem(), "ops.pem")
    assert len(operator.anchors) == 1 and operator.anchors[0].source == "ops.pem"
    both = google_roots().extended(operator).extended(google_roots())
    assert len(both.anchors) == 3
    with pytest.raises(AttestationInvalid) as caught:
        TrustStore.from_pem(b"not a certificate", "ops.pem")
    assert caught.value.field == "ops.pem"


def test_status_list_keys_are_serials_in_hex() -> None:
    status = StatusList.from_json(json.dumps({"entries": {
        "00C35D": {"status": "REVOKED", "reason": "SOFTWARE_FLAW", "expires": "2030-01-01",
                   "comment": "x"},
        "cc66e9a93713b6e643b26c15879786f7": {"status": "SUSPENDED"}}}).encode(),
        as_of=NOW - dt.timedelta(days=3))
    entry = status.lookup(0xC35D)
    assert entry is not None and (entry.status, entry.reason, entry.expires) == (
        "REVOKED", "SOFTWARE_FLAW", dt.date(2030, 1, 1))
    suspended = status.lookup(0xCC66E9A93713B6E643B26C15879786F7)
    assert suspended is not None and suspended.status == "SUSPENDED"
    assert status.lookup(0xC35E) is None
    assert status.age(NOW) == dt.timedelta(days=3)
    assert StatusList.from_json(b'{"entries": {}}').age(NOW) is None


@pytest.mark.parametrize(("document", "field"), [
    (b"[", "status"),
    (b"[]", "status.entries"),
    (b'{"entries": []}', "status.entries"),
    (b'{"entries": {"xyz": {"status": "REVOKED"}}}', "status.entries.xyz"),
    (b'{"entries": {"0a": {"status": "REVOKED"}, "a": {"status": "REVOKED"}}}',
     "status.entries.a"),
    (b'{"entries": {"a": "REVOKED"}}', "status.entries.a"),
    (b'{"entries": {"a": {"status": "GOOD"}}}', "status.entries.a.status"),
    (b'{"entries": {"a": {"status": "REVOKED", "reason": 3}}}', "status.entries.a.reason"),
    (b'{"entries": {"a": {"status": "REVOKED", "comment": []}}}', "status.entries.a.comment"),
    (b'{"entries": {"a": {"status": "REVOKED", "expires": "soon"}}}',
     "status.entries.a.expires"),
])
def test_a_bad_status_list_names_its_field(document: bytes, field: str) -> None:
    with pytest.raises(FieldError) as caught:
        StatusList.from_json(document)
    assert caught.value.field == field
