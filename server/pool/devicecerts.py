"""Device certificates against the registry: issuing one for a registered handset
(``simattest admin tls device``) and checking the one a device endpoint's request came
with (``simattest serve --client-ca``).

A device certificate is the handset's only if its key is the device key registered for
the IMEI it names (``attest.certificates``): a certificate issued before the handset's
key was replaced, or for a key the registry never had, is refused although its chain is
good.  The key is compared with the registry's at every request, not cached, so
replacing a handset's key takes effect at once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, select

from attest.certificates import CertificateKey, DeviceCertificate, read_device_certificate
from attest.errors import InputError
from server.core.errors import DeviceCertificateRefused, NotFound, ValidationError
from server.core.identifiers import check_imei
from server.core.labca import LabCA
from server.core.service import Service
from server.pool.registry import parse_device_key
from server.store.models import Handset

# Built once: on both device endpoints at every request, where building the statement
# cost as much as running it.
_REGISTERED_KEY = select(Handset.public_key_pem).where(Handset.imei == bindparam("imei"))


def _registered_key(svc: Service, imei: str) -> str | None:
    with svc.db.read_session() as session:
        return session.execute(_REGISTERED_KEY, {"imei": imei}).scalar()


def issue_device_certificate(svc: Service, ca: LabCA, imei: str, public_key_pem: str,
                             now: dt.datetime) -> Path:
    """Write the device certificate of registered handset ``imei`` for ``public_key_pem``,
    which must be its registered device key; the file written."""
    check_imei(imei)
    pem, _algorithm = parse_device_key(public_key_pem, field="key")
    registered = _registered_key(svc, imei)
    if registered is None:
        raise NotFound(f"handset {imei} is not registered (simattest device add)",
                       field="imei")
    if registered != pem:
        raise ValidationError(f"the key is not the device key registered for handset {imei}",
                              field="key")
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(key, CertificateKey)  # parse_device_key accepted it
    return ca.issue_device_certificate(imei, key, now)


def check_device_certificate(svc: Service, der: bytes | None, imei: object) -> str:
    """The SHA-256 (hex) of the device certificate ``der`` (chain and validity verified by
    TLS) if it is handset ``imei``'s; DeviceCertificateRefused (403) otherwise."""
    if der is None:
        raise DeviceCertificateRefused(
            "this endpoint needs the handset's device certificate: connect with it as the "
            "TLS client certificate (simattest checkout --cert/--key)")
    try:
        cert = read_device_certificate(der)
    except InputError as exc:
        raise DeviceCertificateRefused(str(exc)) from None
    if cert.imei != imei:
        raise DeviceCertificateRefused(
            f"the device certificate is handset {cert.imei}'s, not the handset the request "
            "names", field="imei")
    refusal = key_refusal(cert, _registered_key(svc, cert.imei))
    if refusal is not None:
        raise refusal
    return cert.sha256


def key_refusal(cert: DeviceCertificate, registered_key_pem: str | None
                ) -> DeviceCertificateRefused | None:
    """Why ``cert`` is not its handset's, given the device key the registry holds for the
    IMEI it names (``handsets.public_key_pem``, None: not registered) read in this
    request; None if it is.  For callers that read that key along with other state in
    one statement (the IdMS's login)."""
    if registered_key_pem != cert.public_key_pem:
        return DeviceCertificateRefused(
            f"the device certificate's key is not the device key registered for handset "
            f"{cert.imei}", field="imei")
    return None
