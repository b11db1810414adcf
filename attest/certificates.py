"""X.509 certificates of a lab deployment: its CA, the service's server certificate and
the handsets' device certificates (RFC 5280 profiles, made with ``cryptography``).

A **device certificate** certifies a handset's registered device key: its subject public
key *is* the device key (Ed25519 or EC P-256, ``attest.devicekey``) and the handset's
IMEI is its subject's ``serialNumber`` attribute (X.520 clause 6.2.9, OID 2.5.4.5, as
RFC 5280 clause 4.1.2.6 allows in a subject name).  It is a TLS client certificate
(extended key usage ``id-kp-clientAuth``, RFC 5280 clause 4.2.1.12), so the handset's TLS
connection is bound to the same key that signs its evidence.

The CA and server keys are EC P-256, certificates signed with ECDSA-SHA256.
Pure: keys and times in, certificates out; no file access (``server.core.labca`` keeps
the files).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from attest.errors import InputError

CertificateKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_KEY_USAGE_NONE = {"content_commitment": False, "data_encipherment": False,
                   "key_agreement": False, "encipher_only": False, "decipher_only": False}


@dataclass(frozen=True, slots=True)
class Issuer:
    """A CA: its certificate and private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, key: CertificateKey, now: dt.datetime,
             days: int) -> x509.CertificateBuilder:
    # Back-dated by a minute: a peer whose clock runs slightly behind still accepts it.
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False))


def make_ca(name: str, key: ec.EllipticCurvePrivateKey, now: dt.datetime,
            days: int = 3650) -> Issuer:
    """A self-signed CA that may sign end-entity certificates only (path length 0)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (_builder(subject, subject, key.public_key(), now, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True,
                                         crl_sign=True, key_encipherment=False,
                                         **_KEY_USAGE_NONE), critical=True)
            .sign(key, hashes.SHA256()))
    return Issuer(cert, key)


def _end_entity(ca: Issuer, subject: x509.Name, key: CertificateKey, now: dt.datetime,
                days: int, usage: x509.ObjectIdentifier) -> x509.CertificateBuilder:
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (_builder(subject, ca.certificate.subject, key, now, days)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                         crl_sign=False,
                                         # RSA key exchange is not offered by TLS 1.3 nor
                                         # by an EC key: signatures only.
                                         key_encipherment=False, **_KEY_USAGE_NONE),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))


def make_server_certificate(ca: Issuer, names: list[str], key: ec.EllipticCurvePublicKey,
                            now: dt.datetime, days: int = 825) -> x509.Certificate:
    """A TLS server certificate for ``names``: host names become DNS names, IP address
    literals IP addresses in the subjectAltName (RFC 6125 clause 6.4: clients match
    these, not the common name)."""
    if not names:
        raise InputError("a server certificate needs at least one host name")
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    return (_end_entity(ca, subject, key, now, days, ExtendedKeyUsageOID.SERVER_AUTH)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(ca.key, hashes.SHA256()))


def make_device_certificate(ca: Issuer, imei: str, key: CertificateKey, now: dt.datetime,
                            days: int = 365) -> x509.Certificate:
    """The device certificate of handset ``imei`` for its device key ``key``."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"handset {imei}"),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, imei)])
    return (_end_entity(ca, subject, key, now, days, ExtendedKeyUsageOID.CLIENT_AUTH)
            .sign(ca.key, hashes.SHA256()))


@dataclass(frozen=True, slots=True)
class DeviceCertificate:
    """What a verified device certificate says: the handset's IMEI, its device key (PEM
    SubjectPublicKeyInfo, normalised as the registry stores keys) and the SHA-256 of
    the certificate's DER encoding (hex), by which an attestation records it."""

    imei: str
    public_key_pem: str
    sha256: str


def read_device_certificate(der: bytes) -> DeviceCertificate:
    """Read a device certificate (its chain and validity already verified by TLS);
    InputError naming what is wrong with it."""
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
    except ValueError:
        raise InputError("the client certificate cannot be parsed") from None
    serials = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    imei = serials[0].value if len(serials) == 1 else None
    if not (isinstance(imei, str) and imei.isascii() and imei.isdigit() and len(imei) == 15):
        raise InputError("the client certificate is not a device certificate "
                         "(no IMEI as its subject's serialNumber)")
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return DeviceCertificate(imei, pem, hashlib.sha256(der).hexdigest())


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS #8, unencrypted: the file's mode (0600) protects it, as for the service's
    other keys in its data directory."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
