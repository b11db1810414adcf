"""Examining an attestation chain for people: every decoded field and the verdict.

``examine_chain`` is what ``simattest device attestation show`` runs: it verifies the
chain (``attest.android.chain``) and, whether or not that succeeds, decodes what can be
decoded, so a refused chain still shows what it claims.  ``to_json`` gives the
JSON-able form (ASN.1 field names, bytes as lowercase hex, enumerations by name).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from attest.android.chain import (
    VerifiedAttestation,
    instant_text,
    key_description_of,
    load_chain,
    verify_chain,
)
from attest.android.errors import AttestationInvalid
from attest.android.keydescription import (
    AttestationApplicationId,
    AuthorizationList,
    KeyDescription,
    RootOfTrust,
    authorization_list_fields,
)
from attest.android.roots import TrustStore, name_text
from attest.android.status import StatusList, serial_hex


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What a chain says and whether it verified (``verified`` xor ``error``)."""

    certificates: tuple[x509.Certificate, ...]
    key_description: KeyDescription | None
    verified: VerifiedAttestation | None
    error: AttestationInvalid | None
    status: StatusList | None
    at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        status = None if self.status is None else {
            "entries": len(self.status.entries),
            "as_of": None if self.status.as_of is None else instant_text(self.status.as_of),
            "age_days": None if self.status.as_of is None
            else round((self.at - self.status.as_of) / dt.timedelta(days=1), 1)}
        result: dict[str, Any] = {
            "verified": self.verified is not None, "at": instant_text(self.at),
            "status_list": status,
            "chain": [_certificate_json(c) for c in self.certificates],
        }
        if self.verified is not None:
            result["root"] = {"name": self.verified.root_name,
                              "spki_sha256": self.verified.root_fingerprint,
                              "source": self.verified.root_source}
            result["leaf_key_algorithm"] = self.verified.leaf_key_algorithm
            result["factory_provisioned"] = self.verified.factory_provisioned
            result["expired_accepted"] = list(self.verified.expired_accepted)
        if self.error is not None:
            result["error"] = {"reason": self.error.reason, "field": self.error.field,
                               "message": self.error.message}
        result["keyDescription"] = None if self.key_description is None \
            else key_description_json(self.key_description)
        return result


def examine_chain(data: bytes, roots: TrustStore, status: StatusList | None,
                  at: dt.datetime) -> ChainReport:
    """Load, verify and decode ``data`` (PEM or DER) at ``at``.  A chain that cannot even
    be read raises ``AttestationInvalid``; any other failure is in the report."""
    certificates = load_chain(data)
    try:
        verified = verify_chain(certificates, roots, status, at)
    except AttestationInvalid as exc:
        return ChainReport(tuple(certificates), _decode_leaf(certificates[0]), None, exc,
                           status, at)
    return ChainReport(tuple(certificates), verified.key_description, verified, None,
                       status, at)


def _decode_leaf(leaf: x509.Certificate) -> KeyDescription | None:
    try:
        return key_description_of(leaf)
    except AttestationInvalid:
        return None


def _certificate_json(cert: x509.Certificate) -> dict[str, Any]:
    return {"subject": name_text(cert.subject), "issuer": name_text(cert.issuer),
            "serial": serial_hex(cert.serial_number),
            "not_before": instant_text(cert.not_valid_before_utc),
            "not_after": instant_text(cert.not_valid_after_utc),
            "sha256": cert.fingerprint(hashes.SHA256()).hex()}


def key_description_json(kd: KeyDescription) -> dict[str, Any]:
    """``kd`` with the schema's field names; absent AuthorizationList fields left out."""
    return {
        "attestationVersion": kd.attestation_version,
        "attestationSecurityLevel": kd.attestation_security_level.name,
        "keyMintVersion": kd.keymint_version,
        "keyMintSecurityLevel": kd.keymint_security_level.name,
        "attestationChallenge": kd.attestation_challenge.hex(),
        "uniqueId": kd.unique_id.hex(),
        "softwareEnforced": authorization_list_json(kd.software_enforced),
        "hardwareEnforced": authorization_list_json(kd.hardware_enforced),
    }


def authorization_list_json(auth: AuthorizationList) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for _tag, asn1_name, attr in authorization_list_fields():
        value = getattr(auth, attr)
        if value is not None and value is not False and value != ():
            result[asn1_name] = _json_value(value)
    if auth.unknown_tags:
        result["unknownTags"] = list(auth.unknown_tags)
    return result


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, RootOfTrust):
        return {"verifiedBootKey": value.verified_boot_key.hex(),
                "deviceLocked": value.device_locked,
                "verifiedBootState": value.verified_boot_state.name,
                "verifiedBootHash": None if value.verified_boot_hash is None
                else value.verified_boot_hash.hex()}
    assert isinstance(value, AttestationApplicationId)
    return {"packageInfos": [{"packageName": n, "version": v} for n, v in value.packages],
            "signatureDigests": [d.hex() for d in value.signature_digests]}


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """A nested JSON value as (dotted path, leaf value) rows, for a two-column table."""
    if isinstance(data, dict):
        return [row for key, value in data.items()
                for row in flatten(value, f"{prefix}.{key}" if prefix else key)]
    if isinstance(data, list) and any(isinstance(v, dict | list) for v in data):
        return [row for i, value in enumerate(data) for row in flatten(value, f"{prefix}[{i}]")]
    if isinstance(data, list):
        return [(prefix, ", ".join(str(v) for v in data))]
    return [(prefix, data)]
