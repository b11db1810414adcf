"""The card profiles the service classifies cards with (``hw.cardfile.load_profiles``:
the packaged ``card_profiles/`` and any extra profile folders), read once per process.
"""

from __future__ import annotations

import functools

from attest.profiles import CardProfile
from hw.cardfile import load_profiles


@functools.cache
def known_profiles() -> dict[str, CardProfile]:
    """The card profiles in card_profiles/, by name (read once per process)."""
    return load_profiles()
