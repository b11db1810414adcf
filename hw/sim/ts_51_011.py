"""DF.GSM (7F20) and the GSM-class answers of 3GPP TS 51.011 (formerly GSM 11.11) that a
UICC with GSM access keeps for SIM-era terminals and tools (TS 51.011 clause 10).

DF.GSM mirrors the USIM: the same IMSI, MNC length, access class, Kc, SPN, location
information and PLMN lists (TS 31.102 annex E lists the correspondence). Its EF.SST
(clause 10.3.7) states the SIM services matching the USIM services that are on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hw.sim import ts_31_102 as usim
from hw.sim.filedefs import FileDef
from hw.sim.filesystem import ARR_PIN1, DF, EF, MF_FID

if TYPE_CHECKING:
    from hw.cardfile import CardFile

# USIM service (TS 31.102 clause 4.2.8) -> SIM service (TS 51.011 clause 10.3.7).
_SIM_SERVICE_OF = {10: 4, 12: 12, 19: 17, 20: 43, 21: 9, 33: 38}
_GPRS = 33  # USIM service 33, packet switched domain: EF.KcGPRS, EF.LOCIGPRS


def sim_service_table(usim_services: frozenset[int]) -> bytes:
    """EF.SST: two bits per service, allocated (b1) and activated (b2) (clause 10.3.7)."""
    services = [_SIM_SERVICE_OF[n] for n in usim_services if n in _SIM_SERVICE_OF]
    table = bytearray((max(services, default=1) + 3) // 4)
    for n in services:
        table[(n - 1) // 4] |= 0b11 << (2 * ((n - 1) % 4))
    return bytes(table)


# Files of DF.GSM; ``service`` is the USIM service whose SIM counterpart they belong to.
GSM_FILES: tuple[FileDef, ...] = (
    FileDef("EF.LP", 0x6F05, content=lambda card: b"\x01\xff\xff\xff"),  # English (TS 23.038)
    FileDef("EF.IMSI", 0x6F07, content=usim.IMSI, arr=ARR_PIN1),
    FileDef("EF.Kc", 0x6F20, content=usim.KC, arr=ARR_PIN1),
    FileDef("EF.HPPLMN", 0x6F31, content=usim.HPPLMN, arr=ARR_PIN1),
    FileDef("EF.SST", 0x6F38, content=lambda card: sim_service_table(
        card.profile.usim.services), arr=ARR_PIN1),
    FileDef("EF.SPN", 0x6F46, content=usim.SPN, service=19),
    FileDef("EF.BCCH", 0x6F74, content=lambda card: b"\xff" * 16, arr=ARR_PIN1),
    FileDef("EF.ACC", 0x6F78, content=usim.ACC, arr=ARR_PIN1),
    FileDef("EF.FPLMN", 0x6F7B, content=usim.FPLMN, arr=ARR_PIN1),
    FileDef("EF.LOCI", 0x6F7E, content=usim.LOCI, arr=ARR_PIN1),
    FileDef("EF.AD", 0x6FAD, content=usim.AD),
    # EF.ECC (clause 10.3.27): 112 and 911, three BCD bytes each.
    FileDef("EF.ECC", 0x6FB7, content=lambda card: bytes.fromhex("11F2FF19F1FF")),
    FileDef("EF.Phase", 0x6FAE, content=lambda card: b"\x03"),  # phase 2+ (clause 10.3.19)
    FileDef("EF.KcGPRS", 0x6F52, content=usim.KC, arr=ARR_PIN1, service=_GPRS),
    FileDef("EF.LOCIGPRS", 0x6F53, content=usim.PSLOCI, arr=ARR_PIN1, service=_GPRS),
    FileDef("EF.PLMNwAcT", 0x6F60, content=usim.PLMNWACT, arr=ARR_PIN1, service=20),
)
# SIM-era files of DF.TELECOM (clause 10.5) a GSM terminal reads there.
GSM_TELECOM_FILES: tuple[FileDef, ...] = (
    FileDef("EF.SMS", 0x6F3C, content=usim.SMS, arr=ARR_PIN1, service=10),
    FileDef("EF.MSISDN", 0x6F40, content=usim.MSISDN, arr=ARR_PIN1, service=21),
    FileDef("EF.SMSP", 0x6F42, content=usim.SMSP, arr=ARR_PIN1, service=12),
    FileDef("EF.SMSS", 0x6F43, content=usim.SMSS, arr=ARR_PIN1, service=10),
)


def gsm_files(catalog: tuple[FileDef, ...], card: CardFile) -> list[EF | DF]:
    """The files of ``catalog`` whose USIM service is on (or that need none)."""
    services = card.profile.usim.services
    return [f.build(card, services) for f in catalog if f.wanted_by(services)]


# Access condition nibbles (clause 9.3): 0 ALW, 1 CHV1, A an ADM condition.
_ALW, _CHV1, _ADM = 0x0, 0x1, 0xA


def select_response(node: EF | DF, chv1: tuple[bool, int], puk_retries: int) -> bytes:
    """The GSM response to SELECT / STATUS (clause 9.2.1).

    ``chv1``: (enabled, attempts left). A DF/MF gives its counts of DFs and EFs and the
    CHV status bytes; an EF its size, access conditions and structure.
    """
    fid = node.fid.to_bytes(2, "big")
    if isinstance(node, DF):
        enabled, left = chv1
        characteristics = 0x01 | (0x00 if enabled else 0x80)  # clock stop allowed; b8: CHV1
        dfs = sum(isinstance(c, DF) for c in node.children)
        efs = len(node.children) - dfs
        specific = bytes((characteristics, dfs, efs, 0x04, 0x00,
                          0x80 | left, 0x80 | puk_retries, 0x00, 0x00))
        kind = 0x01 if node.fid == MF_FID else 0x02
        return (bytes(4) + fid + bytes((kind,)) + bytes(5)
                + bytes((len(specific),)) + specific)
    read = _CHV1 if node.pin_protected else _ALW
    if node.records is not None:
        size, structure = node.record_length * len(node.records), b"\x01"
        structure += bytes((node.record_length,))
    else:
        size, structure = len(node.data), b"\x00\x00"
    return (bytes(2) + size.to_bytes(2, "big") + fid + b"\x04\x00"
            + bytes(((read << 4) | _ADM, 0xFF, (_ADM << 4) | _ADM, 0x01, len(structure)))
            + structure)
