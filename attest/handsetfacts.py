"""A decoded Android KeyDescription as the appraisal's ``BootFacts``.

The rootOfTrust and patch levels are taken from the hardware-enforced list when it has
them, else from the software-enforced one (``KeyDescription``'s accessors); a key whose
attestation security level is Software has no hardware list worth the name, and its
facts are judged as a software key's (``ME_SOFTWARE_KEY``).

Pure: no I/O.
"""

from __future__ import annotations

from attest.android.errors import AttestationInvalid
from attest.android.keydescription import KeyDescription, SecurityLevel, VerifiedBootState
from attest.devicepolicy import BootFacts, KeyKind

_KIND: dict[SecurityLevel, KeyKind] = {
    SecurityLevel.SOFTWARE: "software",
    SecurityLevel.TRUSTED_ENVIRONMENT: "tee",
    SecurityLevel.STRONGBOX: "strongbox",
}
BOOT_STATES: dict[VerifiedBootState, str] = {
    VerifiedBootState.VERIFIED: "verified",
    VerifiedBootState.SELF_SIGNED: "self-signed",
    VerifiedBootState.UNVERIFIED: "unverified",
    VerifiedBootState.FAILED: "failed",
}


def boot_facts(kd: KeyDescription) -> BootFacts:
    """The facts of ``kd``; AttestationInvalid when it has no rootOfTrust (every
    attestation version this project reads carries one in one of its lists)."""
    root = kd.root_of_trust
    if root is None:
        raise AttestationInvalid("keyDescription.hardwareEnforced.rootOfTrust",
                                 "missing: the attestation says nothing of the boot state")
    imeis = kd.imeis
    return BootFacts(
        security_level=_KIND[kd.attestation_security_level],
        device_locked=root.device_locked,
        verified_boot_state=BOOT_STATES[root.verified_boot_state],
        verified_boot_key=root.verified_boot_key,
        verified_boot_hash=root.verified_boot_hash,
        os_patch_level=kd.os_patch_level,
        vendor_patch_level=kd.vendor_patch_level,
        boot_patch_level=kd.boot_patch_level,
        imei=imeis[0] if imeis else None,
        second_imei=imeis[1] if len(imeis) > 1 else None,
    )
