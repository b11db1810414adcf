"""Domain errors of the service, each with the problem type the API answers with.

Service functions raise these; ``server.http.api.problems`` turns them into RFC 9457
problem+json (status and ``type`` slug from the class), the CLI into exit code 2.
Messages never contain key material.
"""

from __future__ import annotations

from typing import Any

from attest.errors import InputError


class ServiceError(InputError):
    """Base: a request the service refuses.  ``slug`` names the problem type."""

    status = 422
    slug = "validation-error"
    title = "Invalid request"

    def __init__(
        self, detail: str, *, field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        # Per-item problems (e.g. every rejected line of an import); default: the field.
        self.errors = errors if errors is not None else (
            [{"field": field, "reason": detail}] if field is not None else [])
        # Further problem members a client may act on (e.g. an import's counts).
        self.extra: dict[str, Any] = {}


class ValidationError(ServiceError):
    """A value is malformed (``field`` names it)."""


class NotFound(ServiceError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    slug = "conflict"
    title = "Conflict with the current state"


class AlreadyExists(Conflict):
    slug = "already-exists"
    title = "Already exists"


class PairingConflict(Conflict):
    slug = "pairing-conflict"
    title = "Handset or card already paired"


class NotSignedByHandset(ServiceError):
    """Evidence for a handset's challenge without that handset's device-key signature:
    refused before anything is counted for the handset or its challenge consumed."""

    status = 403
    slug = "signature-invalid"
    title = "Not signed by the handset's device key"


class KeyRotated(ServiceError):
    """The KEK was rotated by another process and this one cannot load the new key."""

    status = 503
    slug = "key-rotated"
    title = "Key-encryption key rotated"


class DeviceCertificateRefused(ServiceError):
    """A device endpoint asked for a device certificate (``serve --client-ca``) and the
    request came without one, or with one that is not the named handset's."""

    status = 403
    slug = "device-certificate-refused"
    title = "Device certificate missing or not the handset's"
