"""The card profiles the service classifies cards with (``hw.cardfile.load_profiles``:
the packaged ones and those in the ``SIMATTEST_PROFILES`` directories), read once per
process for each setting of ``SIMATTEST_PROFILES``.
"""

from __future__ import annotations

import functools
import os

from attest.profiles import CardProfile
from hw.cardfile import PROFILES_ENV, extra_profile_dirs, load_profiles


def known_profiles() -> dict[str, CardProfile]:
    """The card profiles by name: packaged, then those of ``SIMATTEST_PROFILES``."""
    # Keyed by the variable's text: every appraisal asks, so no paths are built to ask.
    return _load(os.environ.get(PROFILES_ENV, ""))


@functools.cache
def _load(setting: str) -> dict[str, CardProfile]:
    return load_profiles(extra_profile_dirs({PROFILES_ENV: setting}))
