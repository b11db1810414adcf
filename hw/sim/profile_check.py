"""The consistency check of a card profile against the files of its applications.

A service switched on in EF.UST / EF.IST has its files, and no optional file is present
for a service that is off (3GPP TS 31.102 clause 4.2.8, TS 31.103 clause 4.2.7). Run by
:func:`hw.cardfile.load_profiles` for every profile it loads, so a bad profile is refused
with one line before any card is built from it.
"""

from __future__ import annotations

from attest.profiles import CardProfile
from hw.sim import ts_31_103 as isim
from hw.sim.filedefs import check_files
from hw.sim.ts_31_102 import USIM_FILES


def usim_listed(profile: CardProfile) -> frozenset[str]:
    """The optional USIM files the profile lists; ``df_prose`` lists DF.ProSe."""
    return profile.usim.files | ({"DF.ProSe"} if profile.usim.df_prose else set())


def check_profile(profile: CardProfile) -> str | None:
    """The first service/file inconsistency of ``profile`` as one line, or None."""
    problem = check_files(USIM_FILES, profile.usim.services, usim_listed(profile), "usim")
    if problem is None and profile.isim is not None:
        # EF.P-CSCF comes with a card's P-CSCF addresses, which switch service 1 on.
        problem = check_files(isim.ISIM_FILES, profile.isim.services | {isim.P_CSCF_SERVICE},
                              profile.isim.files | {isim.P_CSCF_FILE}, "isim")
    return problem
