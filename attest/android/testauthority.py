"""A TEST-ONLY Android attestation authority: chains with chosen properties.

For the tests, the demo and the simulated attested handset only.  Its root is named
"simattest TEST ONLY attestation root" and is trusted by nothing unless a service is
started with it (``--attestation-roots``); a chain it issues proves nothing about a
real device.

It mimics a KeyMint device's chain (AOSP "Key and ID attestation", *Attestation
certificate chain*), four certificates, leaf first:

- the leaf: ``CN=Android Keystore Key``, serial 1, validity from the epoch to
  2048-01-01 (KeyMint's defaults), the KeyDescription extension, signed by
- the device's attestation key: ``O=TEE`` or ``O=StrongBox`` (the security level that
  holds it, as remotely provisioned chains name it), signed by
- an intermediate (with a subject ``serialNumber`` when made ``factory=True``, as a
  factory-provisioned chain's), signed by
- the root (self-signed).

All keys are EC P-256, signatures ECDSA-SHA256.  Pure: keys, properties and instants in,
certificates out; ``to_pem``/``from_pem`` keep an authority between processes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from attest.android.chain import KEY_DESCRIPTION_OID
from attest.android.errors import AttestationInvalid
from attest.android.keydescription import (
    ATTESTATION_VERSIONS,
    Algorithm,
    AttestationApplicationId,
    AuthorizationList,
    Digest,
    EcCurve,
    KeyDescription,
    KeyOrigin,
    KeyPurpose,
    RootOfTrust,
    SecurityLevel,
    VerifiedBootState,
    encode_key_description,
)
from attest.android.roots import TrustStore

ROOT_NAME = "simattest TEST ONLY attestation root"
INTERMEDIATE_NAME = "simattest TEST ONLY attestation intermediate"
#: The verified-boot key of the "OS build" the test handsets run (SHA-256 of a name).
TEST_BOOT_KEY = hashlib.sha256(b"simattest TEST ONLY OS signing key").digest()
TEST_BOOT_HASH = hashlib.sha256(b"simattest TEST ONLY boot image").digest()
TEST_APPLICATION = AttestationApplicationId(
    packages=(("org.simattest.testhandset", 1),),
    signature_digests=(hashlib.sha256(b"simattest TEST ONLY app signing key").digest(),))

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_KEYMINT_NOT_AFTER = dt.datetime(2048, 1, 1, tzinfo=dt.UTC)
_LEVELS = (SecurityLevel.TRUSTED_ENVIRONMENT, SecurityLevel.STRONGBOX)
_LEVEL_NAMES = {SecurityLevel.TRUSTED_ENVIRONMENT: "TEE", SecurityLevel.STRONGBOX: "StrongBox"}
_PEM_BLOCK = re.compile(rb"-----BEGIN (CERTIFICATE|PRIVATE KEY)-----.+?-----END \1-----\n?",
                        re.DOTALL)


@dataclass(frozen=True, slots=True)
class AttestedProperties:
    """What the issued KeyDescription says.  ``security_level`` SOFTWARE puts everything in
    the software-enforced list, as Android's software attestation does."""

    challenge: bytes
    security_level: SecurityLevel = SecurityLevel.TRUSTED_ENVIRONMENT
    device_locked: bool = True
    verified_boot_state: VerifiedBootState = VerifiedBootState.VERIFIED
    verified_boot_key: bytes = TEST_BOOT_KEY
    verified_boot_hash: bytes = TEST_BOOT_HASH
    os_version: int = 150000
    os_patch_level: int = 202511
    vendor_patch_level: int = 20251105
    boot_patch_level: int = 20251105
    imeis: tuple[str, ...] = ()
    attestation_version: int = 300
    application: AttestationApplicationId | None = TEST_APPLICATION
    brand: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    creation_time: dt.datetime | None = None
    unique_id: bytes = field(default=b"")


def key_description_for(props: AttestedProperties, key_size: int = 256) -> KeyDescription:
    """The KeyDescription an EC P-256 signing key generated with ``props`` would carry."""
    version = props.attestation_version
    root = RootOfTrust(props.verified_boot_key, props.device_locked,
                       props.verified_boot_state,
                       props.verified_boot_hash if version >= 3 else None)
    enforced = AuthorizationList(
        purpose=(KeyPurpose.SIGN, KeyPurpose.VERIFY), algorithm=Algorithm.EC,
        key_size=key_size, digest=(Digest.SHA_2_256,), ec_curve=EcCurve.P_256,
        no_auth_required=True, origin=KeyOrigin.GENERATED, root_of_trust=root,
        os_version=props.os_version, os_patch_level=props.os_patch_level,
        vendor_patch_level=props.vendor_patch_level,
        boot_patch_level=props.boot_patch_level, attestation_id_brand=props.brand,
        attestation_id_model=props.model, attestation_id_manufacturer=props.manufacturer,
        attestation_id_serial=props.serial,
        attestation_id_imei=props.imeis[0] if props.imeis else None,
        attestation_id_second_imei=props.imeis[1] if len(props.imeis) > 1 else None)
    created = props.creation_time
    software = AuthorizationList(
        creation_datetime=None if created is None else int(created.timestamp() * 1000),
        attestation_application_id=props.application)
    if props.security_level is SecurityLevel.SOFTWARE:
        software = _merge(enforced, software)
        enforced = AuthorizationList()
    return KeyDescription(
        attestation_version=version, attestation_security_level=props.security_level,
        keymint_version=ATTESTATION_VERSIONS.get(version, version),
        keymint_security_level=props.security_level,
        attestation_challenge=props.challenge, unique_id=props.unique_id,
        software_enforced=software, hardware_enforced=enforced)


def _merge(first: AuthorizationList, second: AuthorizationList) -> AuthorizationList:
    values = {name: getattr(first, name) for name in AuthorizationList.__dataclass_fields__}
    for name in values:
        value = getattr(second, name)
        if value not in (None, False, ()):
            values[name] = value
    return AuthorizationList(**values)


@dataclass(frozen=True, slots=True)
class _Issuer:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _certificate(subject: x509.Name, issuer: _Issuer | None, key: ec.EllipticCurvePrivateKey,
                 not_before: dt.datetime, not_after: dt.datetime,
                 path_length: int | None) -> _Issuer:
    signer = key if issuer is None else issuer.key
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(subject if issuer is None else issuer.certificate.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length),
                              critical=True))
    return _Issuer(builder.sign(signer, hashes.SHA256()), key)


def _name(common_name: str, organization: str | None = None,
          serial: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if serial:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attributes)


@dataclass(frozen=True, slots=True)
class TestAttestationAuthority:
    """TEST ONLY.  A root, an intermediate and one attestation key per secure level."""

    __test__ = False  # not a pytest test class, whatever its name says

    root: x509.Certificate
    intermediate: x509.Certificate
    attestation_keys: tuple[_Issuer, _Issuer]  # TEE, StrongBox

    def __repr__(self) -> str:
        return f"TestAttestationAuthority(<{ROOT_NAME}>)"

    @classmethod
    def create(cls, now: dt.datetime, *, days: int = 3650,
               factory: bool = False) -> TestAttestationAuthority:
        """A fresh authority valid from a day before ``now`` for ``days`` days; with
        ``factory`` its intermediate is named as factory-provisioned ones are."""
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=days)
        root = _certificate(_name(ROOT_NAME), None, ec.generate_private_key(ec.SECP256R1()),
                            start, end, None)
        serial = hashlib.sha256(root.certificate.tbs_certificate_bytes).hexdigest()[:16]
        intermediate = _certificate(
            _name(INTERMEDIATE_NAME, serial=serial if factory else None), root,
            ec.generate_private_key(ec.SECP256R1()), start, end, 1)
        keys = tuple(_certificate(_name(f"simattest TEST ONLY attestation key "
                                        f"{_LEVEL_NAMES[level]}", _LEVEL_NAMES[level]),
                                  intermediate, ec.generate_private_key(ec.SECP256R1()),
                                  start, end, 0) for level in _LEVELS)
        return cls(root.certificate, intermediate.certificate, (keys[0], keys[1]))

    def trust_store(self) -> TrustStore:
        return TrustStore.of([self.root], ROOT_NAME)

    def roots_pem(self) -> bytes:
        """The root certificate, for ``--attestation-roots``."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def issue(self, public_key: CertificatePublicKeyTypes, props: AttestedProperties, *,
              extension: bytes | None = None,
              omit_extension: bool = False) -> list[x509.Certificate]:
        """The chain (leaf first) certifying ``public_key`` with ``props``.

        ``extension`` replaces the encoded KeyDescription by other bytes and
        ``omit_extension`` leaves it out (for tests of bad chains)."""
        level = props.security_level
        signer = self.attestation_keys[1 if level is SecurityLevel.STRONGBOX else 0]
        builder = (x509.CertificateBuilder()
                   .subject_name(_name("Android Keystore Key"))
                   .issuer_name(signer.certificate.subject).public_key(public_key)
                   .serial_number(1).not_valid_before(_EPOCH)
                   .not_valid_after(_KEYMINT_NOT_AFTER))
        if not omit_extension:
            value = extension if extension is not None else encode_key_description(
                key_description_for(props))
            builder = builder.add_extension(
                x509.UnrecognizedExtension(KEY_DESCRIPTION_OID, value), critical=False)
        leaf = builder.sign(signer.key, hashes.SHA256())
        return [leaf, signer.certificate, self.intermediate, self.root]

    def issue_pem(self, public_key: CertificatePublicKeyTypes,
                  props: AttestedProperties) -> bytes:
        """``issue``'s chain as PEM, leaf first."""
        return chain_pem(self.issue(public_key, props))

    def to_pem(self) -> bytes:
        """The authority's certificates and attestation keys (unencrypted PKCS#8): test
        material, written by its caller like any key file (mode 0600)."""
        parts = [self.root.public_bytes(serialization.Encoding.PEM),
                 self.intermediate.public_bytes(serialization.Encoding.PEM)]
        for issuer in self.attestation_keys:
            parts.append(issuer.certificate.public_bytes(serialization.Encoding.PEM))
            parts.append(issuer.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        return b"".join(parts)

    @classmethod
    def from_pem(cls, data: bytes) -> TestAttestationAuthority:
        """An authority ``to_pem`` wrote."""
        blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
        if len(blocks) != 6:
            raise AttestationInvalid("testAuthority", f"{len(blocks)} PEM blocks; a test "
                                                      "authority file has 6")
        try:
            root, intermediate, tee, tee_key, strongbox, strongbox_key = (
                x509.load_pem_x509_certificate(b) if b"CERTIFICATE" in b.split(b"\n")[0]
                else serialization.load_pem_private_key(b, password=None) for b in blocks)
        except ValueError as exc:
            raise AttestationInvalid("testAuthority", f"unreadable ({exc})") from None
        pairs = ((tee, tee_key), (strongbox, strongbox_key))
        issuers = []
        for certificate, key in pairs:
            if not isinstance(certificate, x509.Certificate) or not isinstance(
                    key, ec.EllipticCurvePrivateKey):
                raise AttestationInvalid("testAuthority", "blocks out of order")
            issuers.append(_Issuer(certificate, key))
        if not isinstance(root, x509.Certificate) or not isinstance(intermediate,
                                                                    x509.Certificate):
            raise AttestationInvalid("testAuthority", "blocks out of order")
        return cls(root, intermediate, (issuers[0], issuers[1]))


def chain_pem(chain: list[x509.Certificate]) -> bytes:
    """A chain as PEM, in the order given."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
