"""The IdMS's token signing key, and checking an access token as a resource server does.

**The signing key** (ES256, EC P-256) signs ID tokens and access tokens.  It is derived
from the key-encryption key with HKDF (RFC 5869) under a label of its own, the way the
desk's session key is (``server.core.keystore``): never stored, the same in every
process and host that holds the KEK, and not to be made from anything in the database —
a database copy cannot mint tokens.  Rotating the KEK therefore replaces it: tokens
signed before no longer verify and the handsets refresh (refresh tokens are opaque and
stored hashed, so they outlive the rotation); resource servers fetch the JWKS again
when a token names an unknown ``kid``.

**An access token** is a JWT of the RFC 9068 profile (``typ`` ``at+jwt``) bound to the
handset's device certificate (RFC 8705 clause 3: ``cnf`` with ``x5t#S256``, the
base64url SHA-256 of the certificate's DER).  ``verify_access_token`` is what a resource
server does with one: signature with the JWKS key, issuer, type, expiry, and the binding
to the TLS client certificate the request came over — a token presented over another
certificate, or over none, is refused (RFC 8705 clause 3.1).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from attest import b64url
from server.core.keystore import KeyStore, Signer

# HKDF info of the IdMS signing key (server.core.keystore.KeyStore.derive).
_SIGNING_KEY_INFO = b"simattest IdMS token signing key v1"
# FIPS 186-5 clause A.2.1: 64 bits more than the order, reduced, so that the scalar is
# uniform in [1, n-1] to within 2^-64.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (RFC 9068 clause 2.1 typ, not a token)
ALGORITHM = "ES256"


@functools.lru_cache(maxsize=4)
def signer(keys: KeyStore) -> Signer:
    """The IdMS signing key of the service's current KEK (cached per KeyStore: a KEK
    rotation brings a new KeyStore, and so a new key)."""
    material = keys.derive(_SIGNING_KEY_INFO, 40)
    scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
    return Signer(ec.derive_private_key(scalar, ec.SECP256R1()))


def certificate_thumbprint(der: bytes) -> str:
    """``x5t#S256`` of a certificate (RFC 8705 clause 3.1): base64url SHA-256 of its DER."""
    return b64url.encode(hashlib.sha256(der).digest())


class TokenRefused(Exception):
    """An access token a resource server must refuse; the message says why (no secret)."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """The claims of an access token that verified."""

    claims: dict[str, Any]

    @property
    def sign_in(self) -> int:
        return int(self.claims["sid"])

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(str(self.claims.get("scope", "")).split())


def verify_access_token(token: str, public_key: Any, issuer: str,
                        client_certificate: bytes | None) -> AccessToken:
    """Verify ``token`` (signature with ``public_key``, ``typ``, ``iss``, ``exp``) and its
    binding to ``client_certificate`` (DER) of the request's TLS connection; TokenRefused
    otherwise."""
    try:
        # One parse of the token for its header and its claims (get_unverified_header
        # and decode would parse it twice); ``sid`` and ``cnf`` are checked below.
        decoded = jwt.decode_complete(token, public_key, algorithms=[ALGORITHM],
                                      issuer=issuer,
                                      options={"verify_aud": False,
                                               "require": ["exp", "iat", "iss", "sub"]})
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"the access token does not verify ({exc})") from None
    if decoded["header"].get("typ") != ACCESS_TOKEN_TYPE:
        raise TokenRefused("not an access token (typ is not at+jwt)")
    claims: dict[str, Any] = decoded["payload"]
    cnf = claims.get("cnf")
    bound = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if not isinstance(bound, str):
        raise TokenRefused("the access token is not bound to a certificate")
    if client_certificate is None:
        raise TokenRefused("the access token is bound to a client certificate: connect "
                           "with it (mutual TLS)")
    if not hmac.compare_digest(bound, certificate_thumbprint(client_certificate)):
        raise TokenRefused("the access token is bound to another client certificate")
    if not isinstance(claims.get("sid"), int):
        raise TokenRefused("the access token names no sign-in")
    return AccessToken(claims)
