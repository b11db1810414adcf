"""What the appraisal knows of a handset's hardware, and the policy it judges it by.

A handset registered from an Android key attestation (the AOSP "Key and ID attestation"
documentation; KeyDescription, OID 1.3.6.1.4.1.11129.2.1.17) has its device key in its
TEE or StrongBox and a recorded verified-boot key, security level and patch levels; one
registered with a bare public key has a *software key*: nothing proves where the key
lives or what runs on the handset.  At checkout the handset may also send a fresh
attestation bound to the checkout nonce (``docs/device-protocol.md``); the facts it
shows then replace the recorded ones for the boot state and patch levels.

``DevicePolicy`` says how bad each finding is — ``contraindicated``, ``warning`` or
``accepted`` (not reported, and the claim it concerns makes no claim) — and how old a
patch level may be.  Its ``policy_id`` names the settings, so an EAR shows which policy
judged the handset (draft-ietf-rats-ear clause 3, ``ear_appraisal_policy_ids``).

Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import orjson

from attest.errors import InputError

KeyKind = Literal["software", "tee", "strongbox"]
Severity = Literal["contraindicated", "warning", "accepted"]
SEVERITIES: tuple[Severity, ...] = ("contraindicated", "warning", "accepted")

ME_BOOTLOADER_UNLOCKED = "ME_BOOTLOADER_UNLOCKED"
ME_UNVERIFIED_BOOT = "ME_UNVERIFIED_BOOT"
ME_PATCH_TOO_OLD = "ME_PATCH_TOO_OLD"
ME_ATTESTATION_REVOKED = "ME_ATTESTATION_REVOKED"
ME_ATTESTATION_INVALID = "ME_ATTESTATION_INVALID"
ME_SOFTWARE_KEY = "ME_SOFTWARE_KEY"
ME_BOOT_KEY_CHANGED = "ME_BOOT_KEY_CHANGED"
FINDINGS = (ME_ATTESTATION_INVALID, ME_ATTESTATION_REVOKED, ME_SOFTWARE_KEY,
            ME_BOOTLOADER_UNLOCKED, ME_UNVERIFIED_BOOT, ME_BOOT_KEY_CHANGED, ME_PATCH_TOO_OLD)

DEFAULT_SEVERITY: Mapping[str, Severity] = {
    ME_ATTESTATION_INVALID: "contraindicated",
    ME_ATTESTATION_REVOKED: "contraindicated",
    # Handsets registered before attestation existed keep working; a pool that wants
    # hardware keys only says so in its configuration file.
    ME_SOFTWARE_KEY: "accepted",
    ME_BOOTLOADER_UNLOCKED: "contraindicated",
    ME_UNVERIFIED_BOOT: "contraindicated",
    ME_BOOT_KEY_CHANGED: "contraindicated",
    ME_PATCH_TOO_OLD: "warning",
}
DEFAULT_MAX_PATCH_AGE_DAYS = 90


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    """How each ``FINDINGS`` code counts, and the oldest acceptable patch level."""

    severity: Mapping[str, Severity] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    max_patch_age_days: int = DEFAULT_MAX_PATCH_AGE_DAYS
    # The id, computed once when the policy is made (every EAR names it): the policy is
    # settings read at start and never changed.
    _id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.severity) - set(FINDINGS))
        if unknown:
            raise InputError(f"device policy: {unknown[0]} is not a finding (one of "
                             f"{', '.join(FINDINGS)})")
        missing = [code for code in FINDINGS if code not in self.severity]
        if missing:
            raise InputError(f"device policy: no severity for {missing[0]}")
        for code, severity in self.severity.items():
            if severity not in SEVERITIES:
                raise InputError(f"device policy: {code}: severity must be one of "
                                 f"{', '.join(SEVERITIES)}, got {severity!r}")
        if not 1 <= self.max_patch_age_days <= 3650:
            raise InputError("device policy: max_patch_age_days must be 1..3650, got "
                             f"{self.max_patch_age_days}")
        digest = hashlib.sha256(orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS))
        object.__setattr__(self, "_id", f"policy:simattest/device/v1#{digest.hexdigest()[:12]}")

    def __hash__(self) -> int:  # the severity mapping is a dict: hash what it says
        return hash(self.policy_id)

    def to_json(self) -> dict[str, object]:
        return {"severity": {code: self.severity[code] for code in FINDINGS},
                "max_patch_age_days": self.max_patch_age_days}

    @property
    def policy_id(self) -> str:
        """``policy:simattest/device/v1#<12 hex digits>``: the SHA-256 of the settings'
        canonical JSON, so two services judging alike name the same policy."""
        return self._id


@dataclass(frozen=True, slots=True)
class BootFacts:
    """What one attestation (the registration's or a fresh one) showed of the handset:
    its rootOfTrust and patch levels.  Patch levels as KeyMint encodes them: the OS's
    YYYYMM, vendor and boot YYYYMMDD (0 or None: not attested)."""

    security_level: KeyKind
    device_locked: bool
    verified_boot_state: str  # verified | self-signed | unverified | failed
    verified_boot_key: bytes
    verified_boot_hash: bytes | None
    os_patch_level: int | None
    vendor_patch_level: int | None
    boot_patch_level: int | None
    imei: str | None  # attestationIdImei (ID attestation), else None
    second_imei: str | None = None


@dataclass(frozen=True, slots=True)
class HandsetFacts:
    """The ME's hardware facts for one appraisal.

    ``registered``: what the registration's attestation showed (None: a bare public key
    was registered — a software key).  ``fresh``: what this checkout's attestation
    showed, when it came with one and it verified; ``fresh_problem`` the finding
    (``ME_ATTESTATION_INVALID`` or ``ME_ATTESTATION_REVOKED``) when it did not;
    ``revoked_since_registration``: the status list now lists a certificate of the
    registration's chain (``ME_ATTESTATION_REVOKED``).
    """

    registered: BootFacts | None
    fresh: BootFacts | None = None
    fresh_problem: str | None = None
    # a certificate of the registration's chain is revoked or suspended since
    revoked_since_registration: bool = False

    @property
    def key_kind(self) -> KeyKind:
        return "software" if self.registered is None else self.registered.security_level

    @property
    def current(self) -> BootFacts | None:
        """The latest trustworthy view: the fresh attestation's, else the registration's."""
        return self.fresh if self.fresh is not None else self.registered


SOFTWARE_KEY = HandsetFacts(registered=None)


def patch_date(level: int | None) -> dt.date | None:
    """A KeyMint patch level (YYYYMM or YYYYMMDD) as the first day it names; None when
    absent or not a date."""
    if not level:
        return None
    text = str(level)
    try:
        if len(text) == 6:
            return dt.date(int(text[:4]), int(text[4:]), 1)
        if len(text) == 8:
            return dt.date(int(text[:4]), int(text[4:6]), max(1, int(text[6:])))
    except ValueError:
        return None
    return None


def oldest_patch(facts: BootFacts) -> dt.date | None:
    """The oldest of the OS, vendor and boot patch levels the attestation carries: a
    handset is as current as its least patched partition."""
    dates = [d for d in (patch_date(facts.os_patch_level), patch_date(facts.vendor_patch_level),
                         patch_date(facts.boot_patch_level)) if d is not None]
    return min(dates, default=None)


def boot_findings(facts: BootFacts, recorded_boot_key: bytes | None, policy: DevicePolicy,
                  today: dt.date) -> list[str]:
    """The findings ``facts`` show, by the rules registration and checkout share: a
    locked bootloader, verified boot ("Verified": the OS signed by the key the device
    trusts — "SelfSigned" is a locked bootloader with a user's key, which this policy
    does not take for verified), the boot key recorded at registration, and a patch
    level no older than the policy allows (the oldest of OS, vendor and boot)."""
    found = []
    if facts.security_level == "software":
        found.append(ME_SOFTWARE_KEY)
    if not facts.device_locked:
        found.append(ME_BOOTLOADER_UNLOCKED)
    if facts.verified_boot_state != "verified":
        found.append(ME_UNVERIFIED_BOOT)
    if recorded_boot_key is not None and recorded_boot_key != facts.verified_boot_key:
        found.append(ME_BOOT_KEY_CHANGED)
    oldest = oldest_patch(facts)
    if oldest is None or (today - oldest).days > policy.max_patch_age_days:
        found.append(ME_PATCH_TOO_OLD)
    return found
