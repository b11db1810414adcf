"""Reading a certificate chain's bytes: PEM or DER, with the size limits of a chain.

PEM: one or more ``CERTIFICATE`` blocks (RFC 7468 clause 5) and nothing but whitespace
around them — text after the last block (or between blocks) is refused, not ignored.
DER: certificates back to back (what Android's ``KeyStore.getCertificateChain`` encodings
concatenated give), split with asn1crypto's X.690 parser.
"""

from __future__ import annotations

import base64
import re

from asn1crypto import parser
from cryptography import x509

from attest.android.errors import AttestationInvalid

MAX_CERTIFICATES = 10
MAX_CHAIN_BYTES = 64 * 1024

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)"
                        rb"-----END CERTIFICATE-----")


def load_chain(data: bytes, field: str = "chain") -> list[x509.Certificate]:
    """Certificates from PEM (any number of CERTIFICATE blocks, nothing else but
    whitespace) or DER (certificates back to back), in the order given (leaf first)."""
    if len(data) > MAX_CHAIN_BYTES:
        raise AttestationInvalid(field, f"{len(data)} bytes; a chain is at most "
                                        f"{MAX_CHAIN_BYTES}")
    stripped = data.strip()
    if not stripped:
        raise AttestationInvalid(field, "empty")
    ders = _pem_blocks(stripped, field) if stripped.startswith(b"-----") \
        else _der_elements(data, field)
    if len(ders) > MAX_CERTIFICATES:
        raise AttestationInvalid(field, f"more than {MAX_CERTIFICATES} certificates; a "
                                        "chain has at most that many")
    certificates = []
    for index, der in enumerate(ders):
        try:
            certificate = x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion) as exc:
            raise AttestationInvalid(f"{field}[{index}]",
                                     f"not an X.509 certificate ({exc})") from None
        check_readable(certificate, f"{field}[{index}]")
        certificates.append(certificate)
    return certificates


def check_readable(certificate: x509.Certificate, where: str) -> None:
    """Parse now what ``cryptography`` parses on first use (names, extensions), so that a
    malformed part is refused here, naming the certificate, not later in any reader."""
    try:
        certificate.subject  # noqa: B018 - each access parses the part
        certificate.issuer  # noqa: B018
        certificate.extensions  # noqa: B018
    except (ValueError, TypeError, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType) as exc:
        raise AttestationInvalid(where, f"not an X.509 certificate ({exc})") from None


def _pem_blocks(data: bytes, field: str) -> list[bytes]:
    ders: list[bytes] = []
    position = 0
    for match in _PEM_BLOCK.finditer(data):
        if data[position:match.start()].strip():
            raise AttestationInvalid(field, f"unexpected text before certificate "
                                            f"{len(ders)} (byte {position})")
        try:
            ders.append(base64.b64decode(b"".join(match.group(1).split()), validate=True))
        except ValueError:
            raise AttestationInvalid(f"{field}[{len(ders)}]", "bad base64") from None
        position = match.end()
    if not ders:
        raise AttestationInvalid(field, "no PEM CERTIFICATE block")
    if data[position:].strip():
        raise AttestationInvalid(field, f"trailing data after the last certificate "
                                        f"(byte {position})")
    return ders


def _der_elements(data: bytes, field: str) -> list[bytes]:
    ders: list[bytes] = []
    while data and len(ders) <= MAX_CERTIFICATES:
        try:
            class_, method, tag, header, contents, trailer = parser.parse(data)
        except ValueError as exc:
            raise AttestationInvalid(f"{field}[{len(ders)}]", f"not DER ({exc})") from None
        if (class_, method, tag) != (0, 1, 16):
            raise AttestationInvalid(f"{field}[{len(ders)}]" if ders else field,
                                     "neither PEM nor a DER certificate")
        size = len(header) + len(contents) + len(trailer)
        ders.append(data[:size])
        data = data[size:]
    return ders
