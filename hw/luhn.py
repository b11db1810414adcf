"""The Luhn check digit that ends ICCIDs (ITU-T E.118, ISO/IEC 7812-1 annex B) and IMEIs
(3GPP TS 23.003 annex B): one implementation for the card files, the modem transport and
the simulated modem (the registry reaches it through ``hw.cardfile``)."""

from __future__ import annotations


def luhn_ok(digits: str) -> bool:
    """True when the last of ``digits`` is the Luhn check digit of the ones before it."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
