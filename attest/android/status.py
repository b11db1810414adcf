"""Google's attestation certificate status list (revocation and suspension by serial).

Format (AOSP "Key and ID attestation", *Certificate status*; the document served at
``android.googleapis.com/attestation/status``)::

    {"entries": {"<serial>": {"status": "REVOKED" | "SUSPENDED",
                              "reason": "UNSPECIFIED" | "KEY_COMPROMISE" | "CA_COMPROMISE"
                                        | "SUPERSEDED" | "SOFTWARE_FLAW",
                              "expires": "YYYY-MM-DD", "comment": "..."}}}

``<serial>`` is a certificate's serial number in lowercase hexadecimal without leading
zeros; ``status`` is required, the other members optional.  Any certificate of a chain,
from the root to the leaf, may be listed.  The document itself carries no date: the
service cannot assume internet access, so an operator imports the file and its age is
the instant the caller says it was fetched (``as_of``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from attest.errors import FieldError

Status = Literal["REVOKED", "SUSPENDED"]
MAX_STATUS_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StatusEntry:
    status: Status
    reason: str | None = None
    expires: dt.date | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class StatusList:
    """Entries by serial (lowercase hex, no leading zeros); ``as_of``: when fetched."""

    entries: Mapping[str, StatusEntry]
    as_of: dt.datetime | None = None

    @classmethod
    def from_json(cls, data: bytes, as_of: dt.datetime | None = None) -> StatusList:
        """Parse a status list document; every bad part is a FieldError naming it."""
        if len(data) > MAX_STATUS_BYTES:
            raise FieldError("status", f"{len(data)} bytes; at most {MAX_STATUS_BYTES}")
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FieldError("status", f"not JSON ({exc})") from None
        if not isinstance(document, dict) or not isinstance(document.get("entries"), dict):
            raise FieldError("status.entries", "missing, or not an object")
        entries: dict[str, StatusEntry] = {}
        for key, value in document["entries"].items():
            where = f"status.entries.{key}"
            serial = _serial_key(key, where)
            if serial in entries:
                raise FieldError(where, "listed twice")
            entries[serial] = _entry(value, where)
        return cls(MappingProxyType(entries), as_of)

    def lookup(self, serial_number: int) -> StatusEntry | None:
        return self.entries.get(serial_hex(serial_number))

    def age(self, at: dt.datetime) -> dt.timedelta | None:
        """How old the list is at ``at`` (None when its fetch time is unknown)."""
        return None if self.as_of is None else at - self.as_of


def serial_hex(serial_number: int) -> str:
    """A serial as the list's key: lowercase hex, no leading zeros (``0`` for zero)."""
    return format(serial_number, "x")


def _serial_key(key: str, where: str) -> str:
    try:
        return serial_hex(int(key, 16))
    except ValueError:
        raise FieldError(where, "the key is not a hexadecimal serial number") from None


def _entry(value: Any, where: str) -> StatusEntry:
    if not isinstance(value, dict):
        raise FieldError(where, "not an object")
    status = value.get("status")
    if status not in ("REVOKED", "SUSPENDED"):
        raise FieldError(f"{where}.status", f"{status!r}; expected REVOKED or SUSPENDED")
    reason = value.get("reason")
    # Unknown reasons are kept: a newer list may add one, and the status alone decides.
    if reason is not None and not isinstance(reason, str):
        raise FieldError(f"{where}.reason", "not a string")
    comment = value.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise FieldError(f"{where}.comment", "not a string")
    expires = value.get("expires")
    try:
        expiry = None if expires is None else dt.date.fromisoformat(expires)
    except (TypeError, ValueError):
        raise FieldError(f"{where}.expires", f"{expires!r} is not a YYYY-MM-DD date") from None
    return StatusEntry(status, reason, expiry, comment)
