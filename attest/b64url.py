"""base64url (RFC 4648 clause 5) without padding: the encoding of nonces, signatures and
key ids at the JSON edge, in one place."""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def encode(raw: bytes) -> str:
    """``raw`` as base64url text, padding left off."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Strict base64url, padding optional: ValueError for any character outside the
    alphabet (the standard library's decoder would skip it) or an impossible length."""
    if not _ALPHABET.fullmatch(text):
        raise ValueError("a character outside A-Z a-z 0-9 - _")
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error:
        raise ValueError("bad length") from None
