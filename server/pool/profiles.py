"""The card profiles the service classifies cards with (``hw.cardfile.load_profiles``:
the packaged ones and those in the ``SIMATTEST_PROFILES`` directories), read once per
process for each setting of ``SIMATTEST_PROFILES``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from attest.profiles import CardProfile
from hw.cardfile import extra_profile_dirs, load_profiles


def known_profiles() -> dict[str, CardProfile]:
    """The card profiles by name: packaged, then those of ``SIMATTEST_PROFILES``."""
    return _load(extra_profile_dirs())


@functools.cache
def _load(extra_dirs: tuple[Path, ...]) -> dict[str, CardProfile]:
    return load_profiles(extra_dirs)
