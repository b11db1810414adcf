"""Handset device keys: Ed25519 (RFC 8032) or ECDSA P-256 with SHA-256 (FIPS 186-5).

A handset proves it is the registered ME by signing the canonical evidence bytes.
Signature encodings on the wire (base64url at the JSON edge):

- Ed25519: the 64-byte signature of RFC 8032 clause 5.1.6.
- ECDSA P-256: either the 64-byte ``r || s`` form (as in JWS, RFC 7518 clause 3.4) or
  the DER ``Ecdsa-Sig-Value`` of RFC 3279 clause 2.2.3 (what Android Keystore and most
  hardware tokens emit).  A 64-byte value is always read as ``r || s``: a DER encoding
  of a P-256 signature is 8 to 72 bytes, and is never accepted when exactly 64 long,
  so the two forms cannot be confused.

Ed25519 signatures are verified with libsodium (PyNaCl), not OpenSSL: OpenSSL's
Ed25519 uses 32-bit field arithmetic and took twice libsodium's time per verification,
and the device path verifies two signatures per checkout (the challenge request's and
the evidence's; ``bench/RESULTS.md``, *Device path in one process*).  libsodium's
verification is the stricter one (RFC 8032 clause 5.1.7, and it refuses small-order
public keys and R, and non-canonical encodings): every signature it accepts OpenSSL
accepts too.  Keys are parsed, and signed with, by ``cryptography``.

Pure: bytes in, booleans out; no file access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from attest.errors import InputError

KeyAlgorithm = Literal["ed25519", "ecdsa-p256"]
_P256_HALF = 32


@dataclass(frozen=True, slots=True)
class DevicePublicKey:
    """A parsed handset public key."""

    algorithm: KeyAlgorithm
    key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
    # The same Ed25519 key for libsodium (None for P-256).
    ed25519_key: VerifyKey | None

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's signature over ``message``."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(_ecdsa_der(signature), message, ec.ECDSA(hashes.SHA256()))
            elif self.ed25519_key is not None and len(signature) == 64:
                self.ed25519_key.verify(message, signature)
            else:
                return False
        except (BadSignatureError, InvalidSignature, ValueError):
            return False
        return True


def _ecdsa_der(signature: bytes) -> bytes:
    if len(signature) == 2 * _P256_HALF:
        r = int.from_bytes(signature[:_P256_HALF], "big")
        s = int.from_bytes(signature[_P256_HALF:], "big")
        return encode_dss_signature(r, s)
    return signature


def load_public_key(pem: bytes) -> DevicePublicKey:
    """Parse a PEM SubjectPublicKeyInfo; only Ed25519 and EC P-256 are accepted."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InputError("device public key: not a PEM public key") from exc
    if isinstance(key, ed25519.Ed25519PublicKey):
        return DevicePublicKey("ed25519", key, VerifyKey(key.public_bytes_raw()))
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return DevicePublicKey("ecdsa-p256", key, None)
    raise InputError("device public key: expected Ed25519 or EC P-256")


@dataclass(frozen=True, slots=True)
class DeviceSigner:
    """A handset's private key (the device agent side)."""

    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return "DeviceSigner(<private key>)"

    @property
    def algorithm(self) -> KeyAlgorithm:
        return "ed25519" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "ecdsa-p256"

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature, or ECDSA P-256/SHA-256 in DER form."""
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(message)
        return self.key.sign(message, ec.ECDSA(hashes.SHA256()))

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def private_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (the caller writes it with mode 0600)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_private_key(pem: bytes) -> DeviceSigner:
    """Parse an unencrypted PEM private key (Ed25519 or EC P-256)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError("device key: not an unencrypted PEM private key") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return DeviceSigner(key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return DeviceSigner(key)
    raise InputError("device key: expected Ed25519 or EC P-256")


def generate(algorithm: KeyAlgorithm = "ed25519") -> DeviceSigner:
    """A fresh device key pair."""
    if algorithm == "ed25519":
        return DeviceSigner(ed25519.Ed25519PrivateKey.generate())
    return DeviceSigner(ec.generate_private_key(ec.SECP256R1()))
