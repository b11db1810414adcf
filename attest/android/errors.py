"""The one error of Android attestation: what was wrong, where, with the reason code.

``reason`` is the appraisal reason code the service shows (``ME_ATTESTATION_INVALID``
for anything malformed, unverifiable or untrusted; ``ME_ATTESTATION_REVOKED`` for a
certificate the status list revokes or suspends); ``field`` is the dotted path of the
offending part, e.g. ``chain[1].signature`` or
``keyDescription.hardwareEnforced.rootOfTrust.verifiedBootState``.
"""

from __future__ import annotations

from typing import Final, Literal

from attest.errors import InputError

AttestationReason = Literal["ME_ATTESTATION_INVALID", "ME_ATTESTATION_REVOKED"]

ATTESTATION_INVALID: Final = "ME_ATTESTATION_INVALID"
ATTESTATION_REVOKED: Final = "ME_ATTESTATION_REVOKED"


class AttestationInvalid(InputError):
    """An attestation chain or KeyDescription that is refused (exit 2 on the CLI)."""

    def __init__(self, field: str, message: str,
                 reason: AttestationReason = ATTESTATION_INVALID) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.reason: AttestationReason = reason
