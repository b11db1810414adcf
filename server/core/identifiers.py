"""Checks of the identifiers the registry stores: IMEI, IMEISV, ICCID, IMSI — and of the
free text typed beside them (a handset's label, the user at the desk).

Luhn check digits: IMEI per 3GPP TS 23.003 clause 6.2.1 / Annex B (14 digits + check
digit), ICCID per ITU-T E.118 (18–20 digits, the last a Luhn check digit over the rest).
IMEISV (TS 23.003 clause 6.2.2) is 16 digits with no check digit.  Failures are
``ValidationError`` naming the field; the value is echoed only for identifiers, which
are not secrets.
"""

from __future__ import annotations

from hw.cardfile import luhn_ok
from server.core.errors import ValidationError

# One Luhn implementation in the project (ISO/IEC 7812-1 annex B), shared with hw.
luhn_valid = luhn_ok


def luhn_digit(payload: str) -> str:
    """The check digit that makes ``payload + digit`` Luhn-valid."""
    return next(d for d in "0123456789" if luhn_valid(payload + d))


def _digits(value: str, name: str, field: str, rule: str) -> None:
    """Refuse an empty value or one with a non-digit, saying which (``rule``: the
    requirement, e.g. "15 digits")."""
    if value.isascii() and value.isdigit():
        return
    if not value:
        raise ValidationError(f"{name} is empty; it must be {rule}", field=field)
    bad = next((i for i, c in enumerate(value) if not (c.isascii() and c.isdigit())), None)
    if bad is not None:
        raise ValidationError(f"{name} must be {rule}; character {bad + 1} "
                              f"({value[bad]!r}) is not a digit", field=field)


def check_imei(value: str, field: str = "imei") -> str:
    _digits(value, "IMEI", field, "15 digits")
    if len(value) != 15:
        raise ValidationError(f"IMEI must be 15 digits, got {len(value)}", field=field)
    if not luhn_valid(value):
        raise ValidationError("IMEI check digit (Luhn) is wrong", field=field)
    return value


def check_imeisv(value: str, field: str = "imeisv") -> str:
    if not (value.isascii() and value.isdigit() and len(value) == 16):
        raise ValidationError("IMEISV must be 16 digits", field=field)
    return value


def check_iccid(value: str, field: str = "iccid") -> str:
    _digits(value, "ICCID", field, "18 to 20 digits")
    if not 18 <= len(value) <= 20:
        raise ValidationError(f"ICCID must be 18 to 20 digits, got {len(value)}", field=field)
    if not luhn_valid(value):
        raise ValidationError("ICCID check digit (Luhn) is wrong", field=field)
    return value


def check_imsi(value: str, field: str = "imsi") -> str:
    if not (value.isascii() and value.isdigit() and 6 <= len(value) <= 15):
        raise ValidationError("IMSI must be 6 to 15 digits", field=field)
    return value


def check_text(value: str, field: str, *, max_chars: int, required: bool) -> str:
    """Free text a person typed, trimmed: 1 to ``max_chars`` printable characters (none
    at all too, unless ``required``).  No control characters: the text is shown on
    terminals, where an escape sequence would be obeyed."""
    value = value.strip()
    if (required and not value) or len(value) > max_chars or not value.isprintable():
        raise ValidationError(f"expected 1-{max_chars} printable characters"
                              + ("" if required else ", or none"), field=field)
    return value
