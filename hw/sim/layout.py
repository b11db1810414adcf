"""Build the simulated UICC's file tree from a card file (profile + personalisation).

The MF level is ETSI TS 102 221 clause 13 (EF.DIR 2F00 SFI 1E, EF.ICCID 2FE2 SFI 02,
EF.PL 2F05 SFI 05, EF.ARR 2F06 SFI 06, EF.UMPC 2F08 SFI 08) with DF.TELECOM 7F10
(TS 31.102 clause 4.4) and, when the profile has them, DF.MCS 5F3D in it (clause 4.6)
and DF.GSM 7F20 (TS 51.011).
The applications' files come from the catalogs :data:`hw.sim.ts_31_102.USIM_FILES` and
:data:`hw.sim.ts_31_103.ISIM_FILES`: mandatory files always, a service's files when the
profile switches it on and lists them (checked by
:func:`hw.sim.profile_check.check_profile` when the profile is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.cardfile import CardFile
from hw.sim import ts_31_103 as isim
from hw.sim import ts_51_011 as gsm
from hw.sim.filedefs import build_files
from hw.sim.filesystem import ARR_PIN1, ARR_RECORDS, DF, EF, MF_FID, padded, swapped_bcd, tlv
from hw.sim.profile_check import usim_listed
from hw.sim.ts_31_102 import LANGUAGE, USIM_FILES, service_table

# Full 16-byte AIDs: RID A000000087 (3GPP) and application code 1002 (USIM) / 1004 (ISIM)
# (ETSI TS 101 220 annex E); the rest of the PIX (country, provider, provider field) is
# card-specific, and clients match on the first 7 bytes.
USIM_AID = bytes.fromhex("A0000000871002FFFFFFFF8907090000")
ISIM_AID = bytes.fromhex("A0000000871004FFFFFFFF8907090000")
_ADF_USIM_FID = 0x7FF0  # proprietary FIDs reported in the ADFs' FCP
_ADF_ISIM_FID = 0x7FF1
DF_GSM_FID = 0x7F20

_MCS_SERVICES = frozenset({1})  # EF.MST: MCPTT UE configuration data
_MST_SIZE = 2  # EF.MST holds services 1-11 (TS 31.102 clause 4.6.2)


@dataclass
class Application:
    """One application on the card: its AID, EF.DIR label and ADF."""

    aid: bytes
    label: str
    adf: DF


@dataclass
class Layout:
    """The card's file tree: the MF and the applications listed in EF.DIR."""

    mf: DF
    applications: list[Application]
    gsm: bool  # the card answers the GSM class and has DF.GSM


def build_layout(card: CardFile) -> Layout:
    """The complete file tree of ``card``."""
    profile = card.profile
    mf = DF(MF_FID, "MF")
    telecom = DF(0x7F10, "DF.TELECOM")
    if profile.usim.df_mcs:
        telecom.add(DF(0x5F3D, "DF.MCS").add(
            EF(0x4F01, "EF.MST", sfi=0x01, data=service_table(_MCS_SERVICES, _MST_SIZE),
               arr=ARR_PIN1),
            # EF.MCS_CONFIG (clause 4.6.3): BER-TLV, no configuration data on a fresh card.
            EF(0x4F02, "EF.MCS_CONFIG", sfi=0x02, objects={}, arr=ARR_PIN1),
        ))
    if profile.usim.df_gsm:
        telecom.add(*gsm.gsm_files(gsm.GSM_TELECOM_FILES, card))

    usim = DF(_ADF_USIM_FID, "ADF.USIM", aid=USIM_AID)
    usim.add(*build_files(USIM_FILES, card, profile.usim.services, usim_listed(profile)))
    applications = [Application(USIM_AID, "USIM", usim)]
    if card.isim is not None and profile.isim is not None:
        adf = DF(_ADF_ISIM_FID, "ADF.ISIM", aid=ISIM_AID)
        listed = profile.isim.files | ({isim.P_CSCF_FILE} if card.isim.pcscf else set())
        adf.add(*build_files(isim.ISIM_FILES, card, isim.isim_services(card), listed))
        applications.append(Application(ISIM_AID, "ISIM", adf))

    dir_records = isim.uniform_records(
        [tlv(0x61, tlv(0x4F, app.aid) + tlv(0x50, app.label.encode())) for app in applications]
    )
    mf.add(
        EF(0x2F00, "EF.DIR", sfi=0x1E, records=dir_records),
        EF(0x2FE2, "EF.ICCID", sfi=0x02, data=swapped_bcd(card.iccid).ljust(10, b"\xff")),
        EF(0x2F05, "EF.PL", sfi=0x05, data=LANGUAGE(card)),  # type: ignore[arg-type]
        EF(0x2F06, "EF.ARR", sfi=0x06, records=[padded(r, 32) for r in ARR_RECORDS]),
        # EF.UMPC (TS 102 221 clause 13.5): at most 50 mA, 5 s operator timeout, no
        # additional information, 2 bytes RFU.
        EF(0x2F08, "EF.UMPC", sfi=0x08, data=bytes.fromhex("3205000000")),
        telecom,
    )
    if profile.usim.df_gsm:
        mf.add(DF(DF_GSM_FID, "DF.GSM").add(*gsm.gsm_files(gsm.GSM_FILES, card)))
    for app in applications:
        app.adf.parent = mf  # an ADF hangs below the MF but is reached by AID only
    return Layout(mf, applications, profile.usim.df_gsm)
