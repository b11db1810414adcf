"""The Luhn check digit that ends ICCIDs (ITU-T E.118, ISO/IEC 7812-1 annex B) and IMEIs
(3GPP TS 23.003 annex B): one implementation for the card files, the modem transport and
the simulated modem (the registry reaches it through ``hw.cardfile``)."""

from __future__ import annotations

# A digit doubled, with the digits of the product added (9 * 2 = 18 counts 1 + 8).
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_ok(digits: str) -> bool:
    """True when the last of ``digits`` is the Luhn check digit of the ones before it:
    counting from the last, every second digit is doubled (no loop in Python: every
    checkout's IMEI is checked)."""
    kept = sum(map(int, digits[-1::-2]))
    doubled = sum(map(_DOUBLED.__getitem__, map(int, digits[-2::-2])))
    return (kept + doubled) % 10 == 0
