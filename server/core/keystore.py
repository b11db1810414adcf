"""Key material of the service: the key-encryption key (KEK), the desk's session key
derived from it, and the EAR signing key.

Secrets at rest are AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce and the
card's ICCID as associated data, so a blob copied onto another card's row fails to
decrypt.  Blob layout: ``nonce(12) || ciphertext || tag(16)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from attest import b64url
from attest.errors import InputError

KEK_SIZE = 32
NONCE_SIZE = 12
_CHECK_LABEL = b"simattest KEK check value v1"
# HKDF (RFC 5869) info of the desk's session signing key: a key of its own, derived
# from the KEK and never stored, unrelated to the check value the database holds.
_SESSION_KEY_INFO = b"simattest desk session key v1"


class SecretDecryptError(InputError):
    """A stored secret did not decrypt: wrong KEK or a blob moved between cards."""


class KeyStore:
    """Encrypts and decrypts card secrets under the KEK.  Never exposes the KEK."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != KEK_SIZE:
            raise InputError(f"key-encryption key: expected {KEK_SIZE} bytes, got {len(kek)}")
        self._aead = AESGCM(kek)
        self._kek = kek
        self._check = hmac.new(kek, _CHECK_LABEL, hashlib.sha256).digest()
        self._session_key = HKDF(hashes.SHA256(), 32, salt=None,
                                 info=_SESSION_KEY_INFO).derive(kek)

    def __repr__(self) -> str:
        return "KeyStore(<KEK hidden>)"

    @property
    def check_value(self) -> bytes:
        """HMAC-SHA256(KEK, label): stored in the database to recognise the right KEK."""
        return self._check

    @property
    def session_key(self) -> bytes:
        """HKDF-SHA256(KEK, info = the session label): signs the desk's session cookies.
        Whoever holds the KEK can sign one — nobody with only the database — and a new
        KEK ends every session signed under the old one."""
        return self._session_key

    def derive(self, info: bytes, length: int = 32) -> bytes:
        """HKDF-SHA256(KEK, ``info``): key material of a feature's own (``info`` names it
        and its version), never stored, the same in every process holding the KEK, and
        unrelated to the check value and to any other label's."""
        if info in (_CHECK_LABEL, _SESSION_KEY_INFO):
            raise ValueError("derive: that label is the KeyStore's own")
        return HKDF(hashes.SHA256(), length, salt=None, info=info).derive(self._kek)

    def matches(self, check_value: bytes) -> bool:
        return hmac.compare_digest(self._check, check_value)

    def encrypt_secret(self, iccid: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext, iccid.encode("ascii"))

    def decrypt_secret(self, iccid: str, blob: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], iccid.encode("ascii"))
        except InvalidTag:
            raise SecretDecryptError(
                f"card {iccid}: stored secret does not decrypt (wrong key-encryption key?)"
            ) from None


class Signer:
    """The EAR signing key (ES256, EC P-256) with its ``kid`` (RFC 7638 thumbprint)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise InputError("EAR signing key: expected an EC P-256 key")
        self.private_key = private_key
        self.public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.kid = _thumbprint(self.public_jwk)
        self.public_jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})

    def __repr__(self) -> str:
        return f"Signer(kid={self.kid!r})"

    @classmethod
    def from_pem(cls, pem: bytes) -> Signer:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InputError("EAR signing key: expected an EC private key in PEM")
        return cls(key)

    @staticmethod
    def generate_pem() -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set a relying party verifies EARs with (RFC 7517 clause 5)."""
        return {"keys": [dict(self.public_jwk)]}


def _thumbprint(jwk: dict[str, str]) -> str:
    # RFC 7638 clause 3.2: required members only, lexicographic order, no whitespace.
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(canonical).digest()
    return b64url.encode(digest)
