"""A lab CA directory (``simattest admin tls init|device``): the CA, the service's server
certificate and the handsets' device certificates, as PEM files.

Layout::

    ca.pem               the CA certificate: the service's --client-ca, clients' --ca
    ca-key.pem           the CA's private key (0600): keep it off the service's host
    server.pem           the server certificate: serve --tls-cert
    server-key.pem       its private key (0600): serve --tls-key
    device-<IMEI>.pem    a handset's device certificate (its key is the handset's own)

Every file is created with mode 0600 and never overwritten (``write_secret_file``);
``init`` refuses before writing anything if any of its files exists, so a second run
cannot leave a CA whose server certificate it did not sign.  The certificate profiles
are ``attest.certificates``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attest import certificates
from attest.certificates import CertificateKey, Issuer
from attest.errors import InputError
from attest.textfile import os_reason
from server.core.datadir import write_secret_file

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server.pem", "server-key.pem"
CA_NAME = "simattest lab CA"


@dataclass(frozen=True)
class LabCA:
    path: Path

    def device_certificate_path(self, imei: str) -> Path:
        return self.path / f"device-{imei}.pem"

    def init(self, names: list[str], now: dt.datetime) -> list[Path]:
        """Make the CA and a server certificate for ``names``; the files written."""
        files = [self.path / n for n in (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY)]
        existing = [str(f) for f in files if f.exists()]
        if existing:
            raise InputError(f"{', '.join(existing)}: already exists; refusing to overwrite "
                             "(choose another --out)")
        ca = certificates.make_ca(CA_NAME, certificates.new_key(), now)
        server_key = certificates.new_key()
        server = certificates.make_server_certificate(ca, names, server_key.public_key(), now)
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot create it ({os_reason(exc)})") from None
        for file, content in zip(files, (
                certificates.certificate_pem(ca.certificate),
                certificates.private_key_pem(ca.key),
                certificates.certificate_pem(server),
                certificates.private_key_pem(server_key)), strict=True):
            _write(file, content)
        return files

    def issuer(self) -> Issuer:
        """The CA, read back from its two files."""
        cert_pem, key_pem = (_read(self.path / n) for n in (CA_CERT, CA_KEY))
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError):
            raise InputError(f"{self.path}: {CA_CERT}/{CA_KEY} are not a PEM certificate and "
                             "its unencrypted private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) \
                or key.public_key() != cert.public_key():
            raise InputError(f"{self.path}: {CA_KEY} is not the key of {CA_CERT}")
        return Issuer(cert, key)

    def issue_device_certificate(self, imei: str, key: CertificateKey, now: dt.datetime
                                 ) -> Path:
        """Write handset ``imei``'s device certificate for its device key ``key``."""
        path = self.device_certificate_path(imei)
        if path.exists():
            raise InputError(f"{path}: already exists; refusing to overwrite")
        cert = certificates.make_device_certificate(self.issuer(), imei, key, now)
        _write(path, certificates.certificate_pem(cert))
        return path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({os_reason(exc)}); made by "
                         "`simattest admin tls init`") from None


def _write(path: Path, content: bytes) -> None:
    try:
        write_secret_file(path, content)
    except FileExistsError:
        raise InputError(f"{path}: already exists; refusing to overwrite") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write it ({os_reason(exc)})") from None
