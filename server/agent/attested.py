"""A simulated attested Android handset (TEST ONLY): the device side of
``docs/device-protocol.md`` for the tests, the demo and bench engineers.

A handset directory (``simattest device attested-sim --out DIR``) holds:

- ``authority.pem``: the TEST-ONLY attestation authority (``attest.android.testauthority``)
  that plays the handset's KeyMint — its root in ``attestation-root.pem``, which a
  service trusts only when started with ``--attestation-roots`` naming it;
- ``handset.json``: the properties it attests — IMEI, security level (``tee``,
  ``strongbox`` or ``software``), bootloader lock, verified-boot state, patch level;
- ``device-key.pem`` (mode 0600), once registered: the device key, made with the
  registration nonce as its attestationChallenge.

At registration (``register``) it asks the service for a registration nonce, makes the
device key with an attestation carrying that nonce and sends the chain; at checkout
(``fresh_attestation``) it makes a fresh key whose attestation carries the checkout
nonce, for the evidence's ``attestation`` member — as a real handset does with
``KeyGenParameterSpec.Builder.setAttestationChallenge``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attest import b64url
from attest.android.keydescription import SecurityLevel, VerifiedBootState
from attest.android.testauthority import AttestedProperties, TestAttestationAuthority, chain_pem
from attest.devicekey import DeviceSigner, load_private_key
from attest.errors import InputError
from attest.textfile import os_reason
from server.agent.client import ServiceClient

AUTHORITY_FILE = "authority.pem"
ROOT_FILE = "attestation-root.pem"
PROPERTIES_FILE = "handset.json"
DEVICE_KEY_FILE = "device-key.pem"
LEVELS = {"tee": SecurityLevel.TRUSTED_ENVIRONMENT, "strongbox": SecurityLevel.STRONGBOX,
          "software": SecurityLevel.SOFTWARE}
BOOT_STATES = {"verified": VerifiedBootState.VERIFIED,
               "self-signed": VerifiedBootState.SELF_SIGNED,
               "unverified": VerifiedBootState.UNVERIFIED, "failed": VerifiedBootState.FAILED}


@dataclass(frozen=True, slots=True)
class SimProperties:
    """What the simulated handset attests.  Patch levels: ``patch_level`` (YYYYMM) for
    the OS, the 5th of that month for vendor and boot (YYYYMMDD), as Android writes
    them."""

    imei: str
    security_level: str = "tee"
    locked: bool = True
    boot_state: str = "verified"
    patch_level: int = 0  # YYYYMM; 0: the month before today

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_patch_level(today: dt.date) -> int:
    """Last month's patch level (YYYYMM): a handset that is up to date."""
    first = today.replace(day=1) - dt.timedelta(days=1)
    return first.year * 100 + first.month


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write a new file (never over one); ``secret``: mode 0600 from the start."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except OSError as exc:
        raise InputError(f"{path}: cannot write it ({os_reason(exc)})") from None


def create(out: Path, props: SimProperties, now: dt.datetime,
           authority: TestAttestationAuthority | None = None) -> Path:
    """Make handset directory ``out`` (new, or empty) with ``props``; a new test authority
    unless one is given (several handsets of one demo share one)."""
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: exists and is not empty; refusing to overwrite a handset")
    if props.security_level not in LEVELS:
        raise InputError(f"security level must be one of {', '.join(LEVELS)}")
    if props.boot_state not in BOOT_STATES:
        raise InputError(f"boot state must be one of {', '.join(BOOT_STATES)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot make it ({os_reason(exc)})") from None
    authority = authority or TestAttestationAuthority.create(now)
    if not props.patch_level:
        props = dataclasses.replace(props, patch_level=default_patch_level(now.date()))
    _write(out / AUTHORITY_FILE, authority.to_pem(), secret=True)
    _write(out / ROOT_FILE, authority.roots_pem())
    _write(out / PROPERTIES_FILE, json.dumps(props.to_json(), indent=2).encode() + b"\n")
    return out / ROOT_FILE


@dataclass(frozen=True)
class AttestedHandset:
    """A handset directory, loaded."""

    path: Path
    props: SimProperties
    authority: TestAttestationAuthority

    @classmethod
    def load(cls, path: Path) -> AttestedHandset:
        try:
            props = SimProperties(**json.loads((path / PROPERTIES_FILE).read_text("utf-8")))
            authority = TestAttestationAuthority.from_pem((path / AUTHORITY_FILE).read_bytes())
        except OSError as exc:
            raise InputError(f"{path}: not a simulated attested handset "
                             f"({os_reason(exc)}; make one with simattest device "
                             "attested-sim)") from None
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path}/{PROPERTIES_FILE}: unreadable ({exc})") from None
        return cls(path, props, authority)

    def attested_properties(self, challenge: bytes) -> AttestedProperties:
        p = self.props
        return AttestedProperties(
            challenge=challenge, security_level=LEVELS[p.security_level],
            device_locked=p.locked, verified_boot_state=BOOT_STATES[p.boot_state],
            os_patch_level=p.patch_level, vendor_patch_level=p.patch_level * 100 + 5,
            boot_patch_level=p.patch_level * 100 + 5, imeis=(p.imei,),
            brand="simattest", model="TEST ONLY handset", manufacturer="simattest")

    def attest_new_key(self, challenge: bytes) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        """A new EC P-256 key and its attestation chain (PEM, leaf first) with
        ``challenge`` — KeyMint's ``generateKey`` with an attestation challenge."""
        key = ec.generate_private_key(ec.SECP256R1())
        chain = self.authority.issue(key.public_key(), self.attested_properties(challenge))
        return key, chain_pem(chain)

    def register(self, client: ServiceClient, *, label: str = "") -> dict[str, Any]:
        """Register with the service (module docstring); the handset as it answers."""
        key_path = self.path / DEVICE_KEY_FILE
        if key_path.exists():
            raise InputError(f"{key_path}: this handset has its device key already")
        issued = client.post("/v1/registration-nonces", {"imei": self.props.imei})
        key, chain = self.attest_new_key(b64url.decode(issued["nonce"]))
        handset = client.post("/v1/registrations", {
            "imei": self.props.imei, "attestation": chain.decode("ascii"),
            "nonce": issued["nonce"], "label": label})
        _write(key_path, key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()), secret=True)
        return handset

    def signer(self) -> DeviceSigner:
        """The registered device key."""
        path = self.path / DEVICE_KEY_FILE
        try:
            return load_private_key(path.read_bytes())
        except OSError as exc:
            raise InputError(f"{path}: no device key ({os_reason(exc)}); register the "
                             "handset first (simattest device add --attested-device)") from None

    def fresh_attestation(self, nonce: str) -> list[str]:
        """A fresh key's attestation chain for checkout nonce ``nonce``: base64url DER
        certificates, leaf first (the evidence's ``attestation``)."""
        key = ec.generate_private_key(ec.SECP256R1())
        chain = self.authority.issue(key.public_key(),
                                     self.attested_properties(b64url.decode(nonce)))
        return [b64url.encode(c.public_bytes(serialization.Encoding.DER)) for c in chain]
