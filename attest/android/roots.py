"""Trust anchors for Android attestation chains: Google's roots, and an operator's own.

Google publishes its hardware attestation roots (AOSP "Key and ID attestation", *Root
certificates*; the list served at ``android.googleapis.com/attestation/root``): the
RSA-4096 root whose subject is ``serialNumber=f92009e853b6b045`` (issued in 2016, 2019
and 2022 over one key) and, for remotely provisioned devices from February 2026 on, the
ECDSA P-384 root ``CN=Key Attestation CA1, OU=Android, O=Google LLC, C=US``.  They ship
as the package data file ``attest/android/data/google_roots.pem`` (provenance in
``tests/data/android_attestation/PROVENANCE.md``).

An anchor is its **public key**, as the AOSP guidance advises: a chain whose top
certificate carries an anchor's key, or is signed by it, ends at that anchor whichever of
the root's issuances the device embeds.  Reading the package data is the only file
access here: it is part of this package, read as a module's constants would be.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from attest.android.certfile import load_chain
from attest.android.errors import AttestationInvalid


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """One trusted root key; ``fingerprint`` is the SHA-256 of its SubjectPublicKeyInfo."""

    name: str
    public_key: PublicKeyTypes
    spki_der: bytes
    fingerprint: str
    source: str


@dataclass(frozen=True, slots=True)
class TrustStore:
    """The anchors a chain may end at (one per distinct public key)."""

    anchors: tuple[TrustAnchor, ...]

    @classmethod
    def from_pem(cls, data: bytes, source: str) -> TrustStore:
        """Anchors from PEM certificates (e.g. ``--attestation-roots FILE``'s contents);
        ``source`` names them in messages (the file name)."""
        try:
            certificates = load_chain(data, field=source)
        except AttestationInvalid as exc:
            raise AttestationInvalid(source, f"not a root certificate file: {exc.message}",
                                     ) from None
        return cls.of(certificates, source)

    @classmethod
    def of(cls, certificates: list[x509.Certificate], source: str) -> TrustStore:
        anchors: dict[bytes, TrustAnchor] = {}
        for cert in certificates:
            key = cert.public_key()
            spki = key.public_bytes(serialization.Encoding.DER,
                                    serialization.PublicFormat.SubjectPublicKeyInfo)
            anchors.setdefault(spki, TrustAnchor(
                name=name_text(cert.subject), public_key=key, spki_der=spki,
                fingerprint=hashlib.sha256(spki).hexdigest(), source=source))
        return cls(tuple(anchors.values()))

    def extended(self, other: TrustStore) -> TrustStore:
        """These anchors and ``other``'s (an operator's roots beside Google's)."""
        known = {a.spki_der for a in self.anchors}
        return TrustStore(self.anchors + tuple(a for a in other.anchors
                                               if a.spki_der not in known))

    def find(self, spki_der: bytes) -> TrustAnchor | None:
        for anchor in self.anchors:
            if anchor.spki_der == spki_der:
                return anchor
        return None


def name_text(name: x509.Name) -> str:
    """An X.500 name as RFC 4514 text, serialNumber (X.520 clause 6.2.9) by its name."""
    return name.rfc4514_string({NameOID.SERIAL_NUMBER: "serialNumber"})


GOOGLE_ROOTS_SOURCE = "Google hardware attestation roots"


def google_roots() -> TrustStore:
    """Google's published hardware attestation roots (package data)."""
    pem = resources.files("attest.android").joinpath("data/google_roots.pem").read_bytes()
    return TrustStore.from_pem(pem, GOOGLE_ROOTS_SOURCE)
