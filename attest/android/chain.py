"""Parsing and verifying an Android key attestation certificate chain.

A chain is leaf first: the leaf certifies the attested key and carries the KeyDescription
extension; above it the device's attestation key, the intermediates, and the root
(which a device may include or leave out).  ``verify_chain`` applies these rules, each
failure an ``AttestationInvalid`` naming the certificate (``chain[i]``, 0 = leaf):

1. **Signatures.** Each certificate is signed by the next one's key and names it as
   issuer; the last one carries a trust anchor's public key (its self-signature is not
   checked: the key is what is trusted) or is signed by one — an anchor is a key, not a
   certificate, as AOSP advises (``attest.android.roots``).
2. **Validity at ``at``** (the instant of verification, given by the caller).  Following
   the AOSP guidance and Google's reference verifier:

   - the **leaf's** validity fields are not checked: the device sets them (KeyMint's
     defaults are the epoch and 2048-01-01, or the app's request), from a clock that
     may be wrong or tampered with, so they mean nothing;
   - the **root** certificate, when the chain carries it, is not checked either: what is
     trusted is the anchor's key, whichever issuance of its certificate the device
     embeds (Google's RSA root has three, the first expired in May 2026) — as in PKIX,
     a trust anchor is not a certificate of the path;
   - every **other** certificate (the intermediates) must be valid at ``at``, except
     that an *expired* certificate is
     accepted in a **factory-provisioned** chain (its certificate just below the root
     names its subject by ``serialNumber``, as factory attestation keys do): keys burnt
     in at the factory cannot be rotated, and their withdrawal is the status list's job.
     A certificate that is not yet valid is always refused.
3. **Status.** A certificate whose serial the status list marks REVOKED or SUSPENDED
   refuses the chain with ``ME_ATTESTATION_REVOKED``, whichever certificate it is.
4. **The extension.** The leaf carries the KeyDescription (OID 1.3.6.1.4.1.11129.2.1.17),
   and no other certificate does: a chain "extended" below a genuinely attested key with
   a forged KeyDescription is refused.  It is decoded by ``attest.android.keydescription``.
5. **Size.** At most ``MAX_CERTIFICATES`` certificates and ``MAX_CHAIN_BYTES`` bytes.

What is not checked, as Google's verifier does not: basic constraints and key usage of
the intermediates (device-made attestation certificates do not set them consistently).
Pure: bytes and an instant in, a verified result out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from attest.android.certfile import MAX_CERTIFICATES, check_readable, load_chain
from attest.android.errors import ATTESTATION_REVOKED, AttestationInvalid
from attest.android.keydescription import OID, KeyDescription, decode_key_description
from attest.android.roots import TrustAnchor, TrustStore, name_text
from attest.android.status import StatusList, serial_hex

KEY_DESCRIPTION_OID = x509.ObjectIdentifier(OID)

#: Leaf key algorithms a handset's device key may have (``attest.devicekey``).
DEVICE_KEY_ALGORITHMS = frozenset({"ecdsa-p256", "ed25519"})

__all__ = ["DEVICE_KEY_ALGORITHMS", "VerifiedAttestation", "instant_text", "key_algorithm",
           "key_description_of", "load_chain", "verify_chain"]


@dataclass(frozen=True, slots=True)
class VerifiedAttestation:
    """A chain that verified, and what its leaf attests."""

    key_description: KeyDescription
    leaf_public_key_pem: bytes  # SubjectPublicKeyInfo PEM (attest.devicekey.load_public_key)
    leaf_key_algorithm: str  # "ecdsa-p256", "ed25519", "rsa-2048", "ecdsa-secp384r1", …
    root_name: str
    root_fingerprint: str  # SHA-256 of the root's SubjectPublicKeyInfo, hex
    root_source: str
    chain_length: int
    at: dt.datetime
    factory_provisioned: bool
    expired_accepted: tuple[int, ...]  # chain indexes accepted expired (factory chains)


def verify_chain(chain: list[x509.Certificate], roots: TrustStore,
                 status: StatusList | None, at: dt.datetime,
                 key_algorithms: Collection[str] | None = None) -> VerifiedAttestation:
    """Verify ``chain`` (leaf first) at the instant ``at`` per the module rules.

    ``key_algorithms``: when given, the leaf key must be one of them (e.g.
    ``DEVICE_KEY_ALGORITHMS`` for a device key)."""
    if not chain:
        raise AttestationInvalid("chain", "empty")
    if len(chain) > MAX_CERTIFICATES:
        raise AttestationInvalid("chain", f"{len(chain)} certificates; a chain has at most "
                                          f"{MAX_CERTIFICATES}")
    if at.tzinfo is None:
        raise ValueError("verify_chain: `at` must be timezone-aware")
    for index, cert in enumerate(chain):
        check_readable(cert, f"chain[{index}]")
    keys = [_public_key(cert, f"chain[{i}]") for i, cert in enumerate(chain)]
    for i in range(len(chain) - 1):
        _check_issued_by(chain[i], chain[i + 1], keys[i + 1], f"chain[{i}]")
    anchor = _anchor(chain[-1], keys[-1], roots, f"chain[{len(chain) - 1}]")
    # The top certificate is the anchor itself (its key) or one the anchor signed.
    path = chain[:-1] if len(chain) > 1 and anchor.spki_der == _spki(keys[-1]) else chain
    factory = _factory_provisioned(chain[0], path[-1])
    expired = _check_validity(path, at, factory)
    if status is not None:
        _check_status(chain, status)
    key_description = _key_description(chain)
    algorithm = key_algorithm(keys[0])
    if key_algorithms is not None and algorithm not in key_algorithms:
        raise AttestationInvalid("chain[0].subjectPublicKeyInfo",
                                 f"the attested key is {algorithm}; expected "
                                 f"{' or '.join(sorted(key_algorithms))}")
    return VerifiedAttestation(
        key_description=key_description,
        leaf_public_key_pem=keys[0].public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        leaf_key_algorithm=algorithm, root_name=anchor.name,
        root_fingerprint=anchor.fingerprint, root_source=anchor.source,
        chain_length=len(chain), at=at, factory_provisioned=factory,
        expired_accepted=expired)


def _public_key(cert: x509.Certificate, where: str) -> PublicKeyTypes:
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise AttestationInvalid(f"{where}.subjectPublicKeyInfo",
                                 f"unsupported public key ({exc})") from None


def key_algorithm(key: PublicKeyTypes) -> str:
    """A short name of a key's algorithm: ``ecdsa-p256`` (as ``attest.devicekey``),
    ``ecdsa-<curve>``, ``ed25519``, ``rsa-<bits>``."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa-p256" if isinstance(key.curve, ec.SECP256R1) else f"ecdsa-{key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    # ML-DSA (attestation version 500) and others by their class: MLDSA65PublicKey → mldsa65
    return type(key).__name__.removesuffix("PublicKey").lower()


def _signed_by(cert: x509.Certificate, key: PublicKeyTypes) -> bool:
    """True when ``key`` made ``cert``'s signature (RFC 5280 clause 4.1.1.3)."""
    try:
        parameters = cert.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey) and isinstance(
                parameters, padding.PKCS1v15 | padding.PSS) \
                and cert.signature_hash_algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, parameters,
                       cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(parameters, ec.ECDSA):
            key.verify(cert.signature, cert.tbs_certificate_bytes, parameters)
        elif isinstance(key, ed25519.Ed25519PublicKey) and parameters is None:
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _check_issued_by(cert: x509.Certificate, issuer: x509.Certificate,
                     issuer_key: PublicKeyTypes, where: str) -> None:
    if cert.issuer != issuer.subject:
        raise AttestationInvalid(f"{where}.issuer",
                                 f"{name_text(cert.issuer)!r} is not the next "
                                 f"certificate's subject {name_text(issuer.subject)!r}")
    if not _signed_by(cert, issuer_key):
        raise AttestationInvalid(f"{where}.signature",
                                 "not made by the next certificate's key")


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _anchor(top: x509.Certificate, top_key: PublicKeyTypes, roots: TrustStore,
            where: str) -> TrustAnchor:
    spki = _spki(top_key)
    anchor = roots.find(spki)
    if anchor is not None:
        # The trusted key itself: its certificate's self-signature would add nothing.
        return anchor
    for candidate in roots.anchors:
        if _signed_by(top, candidate.public_key):
            return candidate
    raise AttestationInvalid(where, f"ends at {name_text(top.issuer)!r}, which is "
                                    f"not a trusted root (key SHA-256 "
                                    f"{hashlib.sha256(spki).hexdigest()[:16]}…)")


def _factory_provisioned(leaf: x509.Certificate, below_root: x509.Certificate) -> bool:
    """Whether the certificate just below the root names its subject by serialNumber
    (X.520 clause 6.2.9), as factory-provisioned attestation keys do."""
    return below_root is not leaf and bool(
        below_root.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER))


def _check_validity(path: list[x509.Certificate], at: dt.datetime,
                    factory: bool) -> tuple[int, ...]:
    """``path``: the chain less the anchor's own certificate; the leaf is not checked."""
    expired = []
    for index, cert in enumerate(path[1:], start=1):
        if at < cert.not_valid_before_utc:
            raise AttestationInvalid(f"chain[{index}].validity",
                                     f"not valid before {instant_text(cert.not_valid_before_utc)} "
                                     f"(checked at {instant_text(at)})")
        if at > cert.not_valid_after_utc:
            if not factory:
                raise AttestationInvalid(f"chain[{index}].validity",
                                         f"expired {instant_text(cert.not_valid_after_utc)} "
                                         f"(checked at {instant_text(at)})")
            expired.append(index)
    return tuple(expired)


def instant_text(instant: dt.datetime) -> str:
    """An instant as RFC 3339 UTC text to the second (``2026-03-01T12:00:00Z``)."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_status(chain: list[x509.Certificate], status: StatusList) -> None:
    for index, cert in enumerate(chain):
        entry = status.lookup(cert.serial_number)
        if entry is not None:
            why = f" ({entry.reason})" if entry.reason else ""
            raise AttestationInvalid(f"chain[{index}].serialNumber",
                                     f"{serial_hex(cert.serial_number)} is {entry.status}"
                                     f"{why} in the attestation status list",
                                     ATTESTATION_REVOKED)


def _key_description(chain: list[x509.Certificate]) -> KeyDescription:
    for index, cert in enumerate(chain[1:], start=1):
        if _extension(cert) is not None:
            raise AttestationInvalid(f"chain[{index}].extensions",
                                     "carries a KeyDescription; only the leaf may (a chain "
                                     "extended below an attested key)")
    key_description = key_description_of(chain[0])
    if key_description is None:
        raise AttestationInvalid("chain[0].extensions",
                                 f"no KeyDescription extension ({OID}): not an Android "
                                 "key attestation")
    return key_description


def key_description_of(cert: x509.Certificate) -> KeyDescription | None:
    """The decoded KeyDescription of one certificate, None when it has none — with no
    verification at all: for showing what an unverified certificate claims."""
    value = _extension(cert)
    return None if value is None else decode_key_description(value)


def _extension(cert: x509.Certificate) -> bytes | None:
    try:
        extension = cert.extensions.get_extension_for_oid(KEY_DESCRIPTION_OID)
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension) as exc:  # check_readable found none
        raise AttestationInvalid("chain.extensions", f"malformed ({exc})") from None
    value = extension.value
    assert isinstance(value, x509.UnrecognizedExtension)
    return bytes(value.value)
