"""Every identity on a USIM/ISIM card, read in as few APDUs as the specifications allow.

The plan (each step checked against TS 102 221 / TS 31.102 / TS 31.103):

1. EF.DIR by SFI 1E, READ RECORD absolute with Le = 00, until both USIM and ISIM are
   found, a record is missing (6A83) or unused (FF) — 2 APDUs on a USIM+ISIM card;
2. EF.ICCID by SFI 02, READ BINARY Le = 00 (the MF is current after step 1) — 1;
3. SELECT ADF.USIM by AID, P2 0C (no FCP needed: every file is read by SFI), on the
   basic channel or the transport's own channel (a modem's CCHO) — 1;
4. EF.IMSI, EF.AD, EF.UST by SFI, Le = 00 — 3;
5. SELECT DF.ProSe (5F90) by FID from the ADF, only when UST service 101 is set — 1;
6. SELECT ADF.ISIM by AID on the basic channel (or the transport's own channel) — 1;
7. EF.IMPI, EF.DOMAIN, EF.IST by SFI — 3;
8. EF.IMPU records by SFI until 6A83 or an unused record — records + 1;
9. EF.P-CSCF (no SFI: SELECT with FCP, then its records) only when IST service 1 is set.

A USIM+ISIM card with 3 IMPUs and no P-CSCF takes 16 APDUs under T=1. Under T=0 each
Le = 00 read costs one more (``6Cxx`` + resend). Files longer than 256 bytes are read on.
A card that refuses an SFI gets SELECT by FID with FCP and reads sized from it instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from attest.errors import CardError
from hw.sw import SW
from hw.transport.base import Channel, Transport
from hw.uicc import ts_31_102 as usim
from hw.uicc import ts_31_103 as isim
from hw.uicc.ts_102_221 import (
    AID_ISIM_PREFIX,
    AID_USIM_PREFIX,
    FID_ICCID,
    SFI_ICCID,
    FileNotFoundOnCard,
    StatusWordError,
    Uicc,
)

T = TypeVar("T")


@dataclass(frozen=True)
class IsimIdentities:
    """The IMS identities an ISIM holds (TS 31.103 clause 4.2); IMPI and DOMAIN are None
    when their EF holds no data object (not personalised)."""

    impi: str | None
    domain: str | None
    impu: tuple[str, ...]
    ist: tuple[int, ...]
    pcscf: tuple[str, ...]


@dataclass(frozen=True)
class Identities:
    """Identities of one card and the number of APDUs it took to read them."""

    iccid: str
    imsi: str
    mnc_length: int | None
    ust: tuple[int, ...]
    prose: bool  # DF.ProSe exists and is active (looked for only when UST service 101 is set)
    isim: IsimIdentities | None
    apdu_count: int
    usim_aid: bytes
    isim_aid: bytes | None

    def to_json(self) -> dict[str, Any]:
        """The ``simattest read --json`` document."""
        return {
            "iccid": self.iccid,
            "imsi": self.imsi,
            "mnc_length": self.mnc_length,
            "ust": sorted(self.ust),
            "prose": self.prose,
            "isim": None
            if self.isim is None
            else {
                "impi": self.isim.impi,
                "domain": self.isim.domain,
                "impu": list(self.isim.impu),
                "ist": sorted(self.isim.ist),
                "pcscf": list(self.isim.pcscf),
            },
            "apdu_count": self.apdu_count,
        }


def read_identities(
    transport: Transport, pin: str | None = None, force: bool = False
) -> Identities:
    """Read ICCID, IMSI, MNC length, UST, DF.ProSe presence and the ISIM identities.

    ``pin`` is verified (retry counter read first, see :meth:`Uicc.verify_pin`) once
    ADF.USIM is selected; without it a PIN-protected card answers 6982 → PinNeeded.
    """
    uicc = Uicc(transport)
    start = transport.apdu_count
    apps = uicc.applications(stop_when_found=(AID_USIM_PREFIX, AID_ISIM_PREFIX))
    usim_app = next((a for a in apps if a.aid.startswith(AID_USIM_PREFIX)), None)
    isim_app = next((a for a in apps if a.aid.startswith(AID_ISIM_PREFIX)), None)
    if usim_app is None:
        raise CardError(f"{transport.uri}: EF.DIR lists no USIM application (AID A0000000871002…)")
    uri = transport.uri
    iccid = _decoded(uri, usim.decode_iccid, uicc.read_ef(SFI_ICCID, FID_ICCID, "EF.ICCID"))

    # Through uicc.application: a modem that keeps the basic channel for its own USIM
    # session reaches the USIM on a logical channel instead (TS 27.007 AT+CCHO).
    with uicc.application(usim_app.aid) as ch:
        if pin is not None:
            uicc.verify_pin(pin, channel=ch, force=force)
        imsi = _decoded(
            uri, usim.decode_imsi, uicc.read_ef(usim.SFI_IMSI, usim.FID_IMSI, "EF.IMSI", ch)
        )
        mnc_length = _decoded(
            uri, usim.decode_mnc_length, uicc.read_ef(usim.SFI_AD, usim.FID_AD, "EF.AD", ch)
        )
        ust = usim.decode_service_table(
            uicc.read_ef(usim.SFI_UST, usim.FID_UST, "EF.UST", ch)
        )
        prose = usim.SERVICE_PROSE in ust and _active_df(uicc, usim.FID_DF_PROSE, ch)

    isim_ids = None
    if isim_app is not None:
        with uicc.application(isim_app.aid) as channel:
            isim_ids = _decoded(uri, _read_isim, uicc, channel)
    return Identities(
        iccid=iccid,
        imsi=imsi,
        mnc_length=mnc_length,
        ust=tuple(ust),
        prose=prose,
        isim=isim_ids,
        apdu_count=transport.apdu_count - start,
        usim_aid=usim_app.aid,
        isim_aid=isim_app.aid if isim_app else None,
    )


def _decoded(uri: str, decode: Callable[..., T], *args: Any) -> T:
    """Run a decoder; its CardError gains the reader's name (decoders know only the file)."""
    try:
        return decode(*args)
    except StatusWordError:
        raise  # already names the reader
    except CardError as exc:
        raise CardError(f"{uri}: {exc}") from None


def _active_df(uicc: Uicc, fid: bytes, channel: Channel) -> bool:
    """Whether the DF exists and is active.

    A deactivated DF answers SELECT with 6283 (TS 102 221 clause 10.2.1.2, "selected file
    invalidated"): it is there but its services are not usable, so for the read it counts
    as absent.
    """
    try:
        uicc.select_fid(fid, channel, fcp=False)
    except FileNotFoundOnCard:
        return False
    except StatusWordError as exc:
        if exc.sw != SW.FILE_INVALIDATED:
            raise
        return False
    return True


def _read_isim(uicc: Uicc, ch: Channel) -> IsimIdentities:
    impi = isim.decode_optional_tag80_text(
        uicc.read_ef(isim.SFI_IMPI, isim.FID_IMPI, "EF.IMPI", ch), "EF.IMPI"
    )
    domain = isim.decode_optional_tag80_text(
        uicc.read_ef(isim.SFI_DOMAIN, isim.FID_DOMAIN, "EF.DOMAIN", ch), "EF.DOMAIN"
    )
    ist = usim.decode_service_table(uicc.read_ef(isim.SFI_IST, isim.FID_IST, "EF.IST", ch))
    impu = [
        text
        for n, record in uicc.iter_records(isim.SFI_IMPU, isim.FID_IMPU, "EF.IMPU", ch)
        # "80 00" then FF: a record some cards clear instead of filling with FF (unused)
        if (text := isim.decode_tag80_text(record, f"EF.IMPU record {n}"))
    ]
    pcscf = []
    if isim.SERVICE_PCSCF in ist:  # EF.P-CSCF has no SFI: SELECT with FCP, then its records
        pcscf = [
            isim.decode_pcscf(record, f"EF.P-CSCF record {n}")
            for n, record in uicc.iter_records(None, isim.FID_PCSCF, "EF.P-CSCF", ch)
        ]
    return IsimIdentities(impi, domain, tuple(impu), tuple(ist), tuple(pcscf))
