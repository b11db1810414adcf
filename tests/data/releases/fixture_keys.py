"""The release fixtures' keys, derived from public labels instead of stored.

A release fixture's databases hold card keys encrypted under the data directory's KEK,
EARs signed with its EAR signing key, the handsets' device public keys and the
operators' token hashes.  Rather than commit the private halves, ``make_release_fixture.py``
gives the release keys derived here from the release's version (it writes the KEK and
EAR key into the data directory before the release's ``Service`` opens it, signs with
the device keys, and has the release's ``create_token`` hand out these tokens), and the
upgrade test derives them again.  Anyone can derive them: they protect nothing but
the fixtures' test data (whose card K/OPc are the 3GPP test sets of
``card_profiles/examples/``) and must never be used elsewhere.

Imports the cryptography library only: the script runs it beside a release's code.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# The names a data directory gives its key files (server.core.datadir; 0.1.0's too).
KEK_FILE = "kek.key"
SIGNING_KEY_FILE = "ear-signing-key.pem"
# Operator tokens start with this marker (server.core.operators.TOKEN_PREFIX; 0.1.0's too).
TOKEN_PREFIX = "sat_"
# The order n of the P-256 group (FIPS 186-5 / SEC 2 secp256r1).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _derive(release: str, *label: str) -> bytes:
    return hashlib.sha256("\0".join(("simattest release fixture", release, *label))
                          .encode("utf-8")).digest()


def _pkcs8_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def kek(release: str) -> bytes:
    """The data directory's 32-byte key-encryption key."""
    return _derive(release, "kek")


def ear_signing_key_pem(release: str) -> bytes:
    """The data directory's EAR signing key: EC P-256, PKCS#8 PEM."""
    scalar = int.from_bytes(_derive(release, "ear-signing-key"), "big") % (_P256_ORDER - 1) + 1
    return _pkcs8_pem(ec.derive_private_key(scalar, ec.SECP256R1()))


def device_key_pem(release: str, imei: str) -> bytes:
    """The device key of the handset ``imei``: Ed25519, PKCS#8 PEM."""
    seed = _derive(release, "device", imei)
    return _pkcs8_pem(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def operator_token(release: str, role: str) -> str:
    """The token of the fixture's operator with ``role``, shaped like the release's own
    (``TOKEN_PREFIX`` and 43 base64url characters, ``secrets.token_urlsafe(32)``)."""
    body = base64.urlsafe_b64encode(_derive(release, "operator", role)).rstrip(b"=")
    return TOKEN_PREFIX + body.decode("ascii")


def write_data_dir_keys(release: str, data: Path) -> None:
    """Create the data directory ``data`` holding the release's KEK and EAR signing key
    (mode 0700, the files 0600), as the service would have made them."""
    data.mkdir(mode=0o700, parents=True)
    for name, content in ((KEK_FILE, kek(release).hex().encode("ascii") + b"\n"),
                          (SIGNING_KEY_FILE, ear_signing_key_pem(release))):
        fd = os.open(data / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
