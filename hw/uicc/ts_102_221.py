"""The UICC as ETSI TS 102 221 describes it: FCP, SELECT, READ, EF.DIR, channels, PIN.

Everything here is bytes in, bytes out over a :class:`hw.transport.base.Transport`.
Clause references are to TS 102 221 V17: FCP 11.1.1.3, SELECT 11.1.1, STATUS 11.1.2,
READ BINARY 11.1.3, READ RECORD 11.1.5, VERIFY PIN 11.1.9, CHANGE PIN 11.1.10, DISABLE
PIN 11.1.11, ENABLE PIN 11.1.12, UNBLOCK PIN 11.1.13, MANAGE CHANNEL 11.1.17, EF.DIR
13.1, logical channels 10.1.1. Errors name the reader, the file and the status word.

Every command that presents a PIN or PUK reads its retry counter first (a query spends
nothing) and refuses to spend the last attempt unless ``force`` is set: a blocked PIN
needs the PUK, and a blocked PUK makes the card useless. PIN values are never part of
an error message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from attest.errors import CardError, InputError, SimattestError
from hw import apdu
from hw.apdu import Response
from hw.sw import SW, SWFamily
from hw.transport.base import Channel, Transport
from hw.uicc.tlv import Tlv, find, parse_tlvs

# Application identifier prefixes (RID A000000087 + application code), TS 101 220 annex E.
AID_USIM_PREFIX = bytes.fromhex("A0000000871002")
AID_ISIM_PREFIX = bytes.fromhex("A0000000871004")
APP_PREFIXES = {"usim": AID_USIM_PREFIX, "isim": AID_ISIM_PREFIX}

FID_MF = bytes.fromhex("3F00")
FID_DIR = bytes.fromhex("2F00")
FID_ICCID = bytes.fromhex("2FE2")
SFI_DIR = 0x1E  # TS 102 221 clause 13.1
SFI_ICCID = 0x02  # TS 102 221 clause 13.2

PIN1 = 0x01  # key reference of the first application PIN, TS 102 221 table 9.3
PIN2 = 0x81  # the second application PIN (a local, level 2 key reference), table 9.3
UNIVERSAL_PIN = 0x11  # key reference of the universal PIN, TS 102 221 table 9.3
PIN_NAMES = {PIN1: "PIN1", PIN2: "PIN2", UNIVERSAL_PIN: "universal PIN"}

# INS of the PIN commands (TS 102 221 table 10.5).
INS_VERIFY, INS_CHANGE, INS_DISABLE, INS_ENABLE, INS_UNBLOCK = 0x20, 0x24, 0x26, 0x28, 0x2C

# How a read by SFI says the current DF holds no such file.
_NOT_HERE = frozenset({SW.FILE_NOT_FOUND, SW.INCOMPATIBLE_FILE_STRUCTURE, SW.NO_EF_SELECTED})
# How a card that cannot resolve a short file identifier (or will not take Le = 00) says so.
_SFI_REFUSED = frozenset(
    {
        SW.FILE_NOT_FOUND,
        SW.INCOMPATIBLE_FILE_STRUCTURE,
        SW.FUNCTION_NOT_SUPPORTED,
        SW.WRONG_P1P2,
        SW.P1P2_OUT_OF_RANGE,
        SW.NO_EF_SELECTED,
        SW.WRONG_LENGTH,
    }
)

_MAX_READ = 256  # a short Le of 00 asks for up to 256 bytes (TS 102 221 clause 11.1.3)


class StatusWordError(CardError):
    """The card answered a command with a status word that means no."""

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


class FileNotFoundOnCard(StatusWordError):
    """SELECT or an SFI read answered 6A82: the file or application does not exist."""


class PinNeeded(StatusWordError):
    """The card answered 6982: the PIN must be verified first."""


@dataclass(frozen=True)
class Fcp:
    """File control parameters (TS 102 221 clause 11.1.1.3, template tag 62)."""

    structure: str  # "df", "transparent", "linear_fixed", "cyclic", "ber_tlv"
    descriptor: int  # the file descriptor byte (tag 82, first byte)
    record_length: int | None = None
    record_count: int | None = None
    fid: bytes | None = None  # tag 83
    df_name: bytes | None = None  # tag 84 (the AID of an ADF)
    file_size: int | None = None  # tag 80: bytes of data in an EF
    sfi: int | None = None  # tag 88; None when absent or empty (no SFI)
    life_cycle: int | None = None  # tag 8A
    pins: dict[int, bool] = field(default_factory=dict)  # tag C6: key reference -> enabled


_STRUCTURES = {0x01: "transparent", 0x02: "linear_fixed", 0x06: "cyclic"}


def parse_fcp(data: bytes, where: str = "FCP") -> Fcp:
    """Parse a SELECT response (FCP template, tag 62) strictly.

    Truncated or malformed data objects raise :class:`CardError` naming the tag and the
    byte offset within the response.
    """
    outer = parse_tlvs(data, where)
    if not outer or outer[0].tag != 0x62:
        got = f"tag {outer[0].tag:02X}" if outer else "no data"
        raise CardError(f"{where}: expected FCP template tag 62 at byte 0, found {got}")
    fcp = outer[0]
    inner = parse_tlvs(fcp.value, where, base=fcp.offset + 2)
    desc = find(inner, 0x82)
    if desc is None or len(desc.value) < 2:
        raise CardError(f"{where}: file descriptor (tag 82) missing or shorter than 2 bytes")
    fd = desc.value[0]
    record_length = record_count = None
    if fd & 0x3F == 0x38:
        structure = "df"
    elif fd & 0x3F == 0x39:
        structure = "ber_tlv"
    elif fd & 0x07 in _STRUCTURES:
        structure = _STRUCTURES[fd & 0x07]
    else:
        raise CardError(
            f"{where}: unknown file descriptor byte {fd:02X} (tag 82 at byte {desc.offset})"
        )
    if structure in ("linear_fixed", "cyclic"):
        # TS 102 221: descriptor, coding byte, 2-byte record length, 1-byte record count.
        # ISO/IEC 7816-4 clause 7.4.5 also allows a 2-byte count, which some cards send.
        if len(desc.value) not in (5, 6):
            raise CardError(
                f"{where}: record file descriptor (tag 82 at byte {desc.offset}) has "
                f"{len(desc.value)} bytes, expected 5 or 6"
            )
        record_length = int.from_bytes(desc.value[2:4], "big")
        record_count = int.from_bytes(desc.value[4:], "big")
    return Fcp(
        structure=structure,
        descriptor=fd,
        record_length=record_length,
        record_count=record_count,
        fid=_exact(inner, 0x83, 2, where),
        df_name=_value(inner, 0x84),
        file_size=_int(inner, 0x80),
        sfi=_sfi(inner, where),
        life_cycle=_int(inner, 0x8A),
        pins=_pin_status(inner, where),
    )


def _value(tlvs: list[Tlv], tag: int) -> bytes | None:
    t = find(tlvs, tag)
    return None if t is None else t.value


def _exact(tlvs: list[Tlv], tag: int, size: int, where: str) -> bytes | None:
    t = find(tlvs, tag)
    if t is None:
        return None
    if len(t.value) != size:
        raise CardError(
            f"{where}: tag {tag:02X} at byte {t.offset} has {len(t.value)} bytes, expected {size}"
        )
    return t.value


def _int(tlvs: list[Tlv], tag: int) -> int | None:
    t = find(tlvs, tag)
    return None if t is None or not t.value else int.from_bytes(t.value, "big")


def _sfi(tlvs: list[Tlv], where: str) -> int | None:
    t = find(tlvs, 0x88)
    if t is None or not t.value:
        return None  # an empty tag 88 means "no SFI" (TS 102 221 clause 11.1.1.4.8)
    if len(t.value) != 1:
        raise CardError(
            f"{where}: SFI (tag 88 at byte {t.offset}) has {len(t.value)} bytes, expected 1"
        )
    return t.value[0] >> 3


def _pin_status(tlvs: list[Tlv], where: str) -> dict[int, bool]:
    """PIN status template DO (tag C6, TS 102 221 clause 9.5.2): PS_DO bitmap + key refs."""
    t = find(tlvs, 0xC6)
    if t is None:
        return {}
    objs = parse_tlvs(t.value, where, base=t.offset + 2)
    ps_do = find(objs, 0x90)
    bitmap = int.from_bytes(ps_do.value, "big") if ps_do and ps_do.value else 0
    nbits = 8 * len(ps_do.value) if ps_do else 0
    refs = [o.value[0] for o in objs if o.tag == 0x83 and o.value]
    # The PS_DO's most significant bit belongs to the first key reference listed.
    return {ref: bool(bitmap >> (nbits - 1 - i) & 1) for i, ref in enumerate(refs) if i < nbits}


@dataclass(frozen=True)
class Application:
    """One EF.DIR record: ``61 L 4F L <AID> 50 L <label>`` (TS 102 221 clause 13.1)."""

    aid: bytes
    label: str
    record: int


def parse_dir_record(data: bytes, record: int) -> Application | None:
    """Decode an EF.DIR record; None for an unused (all FF) record."""
    where = f"EF.DIR record {record}"
    if not data or all(b == 0xFF for b in data):
        return None
    tlvs = parse_tlvs(data, where)
    if not tlvs or tlvs[0].tag != 0x61:
        got = f"tag {tlvs[0].tag:02X}" if tlvs else "no data"
        raise CardError(f"{where}: expected application template tag 61 at byte 0, found {got}")
    inner = parse_tlvs(tlvs[0].value, where, base=tlvs[0].offset + 2)
    aid = find(inner, 0x4F)
    if aid is None or not 5 <= len(aid.value) <= 16:
        raise CardError(f"{where}: AID (tag 4F) missing or not 5-16 bytes")
    label = find(inner, 0x50)
    text = label.value.decode("utf-8", errors="replace") if label else ""
    return Application(aid.value, text, record)


def _select_p2(fcp: bool) -> int:
    # P2 04: return the FCP template; 0C: no data returned (TS 102 221 table 11.2).
    return 0x04 if fcp else 0x0C


class Uicc:
    """Commands of TS 102 221 over one transport; errors name the reader and the file."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    # --- plumbing -----------------------------------------------------------------------
    def _fail(self, what: str, resp: Response) -> StatusWordError:
        msg = f"{self.transport.uri}: {what}: {resp.describe()}"
        if resp.sw == SW.FILE_NOT_FOUND:
            return FileNotFoundOnCard(msg, resp.sw)
        if resp.sw == SW.SECURITY_NOT_SATISFIED:
            return PinNeeded(msg + "; verify the PIN first (--pin)", resp.sw)
        return StatusWordError(msg, resp.sw)

    def _send(self, channel: Channel | None, command: bytes) -> Response:
        return (channel or self.transport.basic).transmit(command)

    # --- SELECT (clause 11.1.1) --------------------------------------------------------
    def _select(
        self, p1: int, target: bytes, what: str, channel: Channel | None, fcp: bool
    ) -> Fcp | None:
        """SELECT; without ``fcp`` P2 is 0C (no data). A card that refuses that P2 (6A86:
        older cards know only "return FCP") is asked once more with P2 04, and its FCP is
        parsed and returned."""
        command = apdu.build(0x00, 0xA4, p1, _select_p2(fcp), target, 0x00 if fcp else None)
        resp = self._send(channel, command)
        if not fcp and resp.sw == SW.WRONG_P1P2:
            return self._select(p1, target, what, channel, True)
        if not resp.ok:
            raise self._fail(f"SELECT {what}", resp)
        return parse_fcp(resp.data, f"{self.transport.uri}: FCP of {what}") if fcp else None

    def select_fid(
        self, fid: bytes, channel: Channel | None = None, fcp: bool = True
    ) -> Fcp | None:
        """SELECT by file identifier (P1 00) from the current DF."""
        _check_path(fid, "file identifier")
        return self._select(0x00, fid, fid.hex().upper(), channel, fcp)

    def select_path(
        self, path: bytes, channel: Channel | None = None, fcp: bool = True
    ) -> Fcp | None:
        """SELECT by path from the MF (P1 08); ``path`` excludes 3F00."""
        _check_path(path, "path")
        return self._select(0x08, path, "3F00/" + path.hex().upper(), channel, fcp)

    def select_aid(
        self, aid: bytes, channel: Channel | None = None, fcp: bool = False
    ) -> Fcp | None:
        """SELECT an ADF by DF name (P1 04), first or only occurrence."""
        if not 1 <= len(aid) <= 16:
            raise InputError(f"AID {aid.hex().upper()} is not 1-16 bytes")
        return self._select(0x04, aid, f"ADF {aid.hex().upper()}", channel, fcp)

    # --- READ BINARY / READ RECORD (clauses 11.1.3, 11.1.5) -------------------------------
    def _read_binary_at(
        self, p1: int, p2: int, le: int, what: str, channel: Channel | None
    ) -> bytes | None:
        """One READ BINARY; None when the offset is at or past the end of the file."""
        resp = self._send(channel, apdu.build(0x00, 0xB0, p1, p2, le=le))
        if resp.ok or resp.sw == SW.END_REACHED:
            return resp.data
        if resp.sw == SW.P1P2_OUT_OF_RANGE:
            return None
        raise self._fail(f"READ BINARY {what}", resp)

    def read_binary_sfi(self, sfi: int, what: str, channel: Channel | None = None) -> bytes:
        """Read a whole transparent EF by SFI with Le = 00 (P1 = 80 | SFI).

        TS 102 221 clause 11.1.3: Le = 00 returns every byte to the end of the file, up to
        256. A full 256-byte answer may mean more: the read goes on at offset 256, 512, …
        by plain offset, since an EF read by SFI becomes the current EF.
        """
        data = self._read_binary_at(0x80 | _check_sfi(sfi), 0x00, 0x00, what, channel) or b""
        chunk = data
        while len(chunk) == _MAX_READ:
            chunk = self._read_binary_at(*_offset_p1p2(len(data), what), 0x00, what, channel) or b""
            data += chunk
        return data

    def read_transparent(self, fcp: Fcp, what: str, channel: Channel | None = None) -> bytes:
        """Read the currently selected transparent EF, sized from its FCP (tag 80)."""
        if fcp.structure != "transparent" or fcp.file_size is None:
            raise CardError(f"{self.transport.uri}: {what} is not a transparent EF with a size")
        data = b""
        while len(data) < fcp.file_size:
            le = min(fcp.file_size - len(data), _MAX_READ) & 0xFF  # 256 is sent as 00
            chunk = self._read_binary_at(*_offset_p1p2(len(data), what), le, what, channel)
            if not chunk:
                raise CardError(
                    f"{self.transport.uri}: {what} ended at byte {len(data)}, "
                    f"its FCP says {fcp.file_size} bytes"
                )
            data += chunk
        return data

    def read_record_sfi(
        self, sfi: int, number: int, what: str, channel: Channel | None = None
    ) -> bytes | None:
        """READ RECORD ``number`` (absolute mode) by SFI with Le = 00; None on 6A83."""
        p2 = (_check_sfi(sfi) << 3) | 0x04
        return self._read_record(number, p2, 0x00, what, channel)

    def read_record(
        self, number: int, length: int, what: str, channel: Channel | None = None
    ) -> bytes | None:
        """READ RECORD ``number`` of the current EF (absolute mode); None on 6A83."""
        return self._read_record(number, 0x04, length & 0xFF, what, channel)

    def _read_record(
        self, number: int, p2: int, le: int, what: str, channel: Channel | None
    ) -> bytes | None:
        if not 1 <= number <= 254:
            raise InputError(f"record number {number} is outside 1-254")
        resp = self._send(channel, apdu.build(0x00, 0xB2, number, p2, le=le))
        if resp.sw == SW.RECORD_NOT_FOUND:
            return None
        if not (resp.ok or resp.sw == SW.END_REACHED):
            raise self._fail(f"READ RECORD {number} of {what}", resp)
        return resp.data

    # --- whole files: by SFI, by FID when the card does not resolve the SFI ---------------
    def read_ef(self, sfi: int, fid: bytes, what: str, channel: Channel | None = None) -> bytes:
        """A whole transparent EF: one READ BINARY by SFI, or — when the card refuses the
        SFI — SELECT by FID with FCP and reads sized from it (TS 102 221 clause 11.1.3)."""
        try:
            return self.read_binary_sfi(sfi, what, channel)
        except StatusWordError as exc:
            if exc.sw not in _SFI_REFUSED:
                raise
        fcp = self.select_fid(fid, channel)
        assert fcp is not None
        return self.read_transparent(fcp, what, channel)

    def iter_records(
        self,
        sfi: int | None,
        fid: bytes | None,
        what: str,
        channel: Channel | None = None,
        *,
        skip_unused: bool = False,
    ) -> Iterator[tuple[int, bytes]]:
        """(number, record) of a record EF in order, until 6A83 or an unused (FF) record.

        Records are read by SFI with Le = 00, one APDU each. When the EF has no SFI
        (``sfi`` None) or the card refuses it, the EF is SELECTed by ``fid`` and its
        records are read sized from the FCP. The caller may stop early (EF.DIR stops once
        it has found the applications it wants). With ``skip_unused`` an unused record
        is passed over instead of ending the file: EF.DIR may have gaps where an
        application was deleted, and the records after one still count.
        """
        if sfi is not None:
            n = 1
            try:
                while n <= 254:
                    record = self.read_record_sfi(sfi, n, what, channel)
                    if record is None:
                        return
                    if _unused(record):
                        if not skip_unused:
                            return
                    else:
                        yield n, record
                    n += 1
                return
            except StatusWordError as exc:
                if fid is None or n > 1 or exc.sw not in _SFI_REFUSED:
                    raise
        if fid is None:
            raise InputError(f"{what}: neither an SFI nor a file identifier to read it by")
        fcp = self.select_fid(fid, channel)
        assert fcp is not None
        if fcp.record_length is None or fcp.record_count is None:
            raise CardError(f"{self.transport.uri}: {what} is not a record EF")
        for n in range(1, min(fcp.record_count, 254) + 1):  # READ RECORD reaches 254
            record = self.read_record(n, fcp.record_length, what, channel)
            if record is None or (_unused(record) and not skip_unused):
                return
            if not _unused(record):
                yield n, record

    # --- EF.DIR (clause 13.1) ------------------------------------------------------------
    def applications(self, stop_when_found: Iterable[bytes] = ()) -> list[Application]:
        """Applications listed in EF.DIR, read by SFI record by record.

        Stops at the first missing record (6A83), or as soon as an AID matching each
        prefix in ``stop_when_found`` has been seen; unused (FF) records in between are
        passed over. When the basic
        channel's current DF is not the MF (SFI 1E means nothing there, or something
        else), the MF is selected once and the read starts over.
        """
        wanted = list(stop_when_found)
        apps = self._read_dir(wanted, first_try=True)
        if apps is None:
            self.select_fid(FID_MF, fcp=False)
            apps = self._read_dir(wanted, first_try=False)
        assert apps is not None  # only the first try reports a wrong context
        return apps

    def find_application(self, app: str) -> bytes:
        """The full AID of ``app`` ("usim" or "isim") from EF.DIR, by prefix match."""
        prefix = APP_PREFIXES[app]
        for found in self.applications((prefix,)):
            if found.aid.startswith(prefix):
                return found.aid
        raise FileNotFoundOnCard(
            f"{self.transport.uri}: EF.DIR lists no {app.upper()} application "
            f"(AID {prefix.hex().upper()}…)",
            SW.FILE_NOT_FOUND,
        )

    def _read_dir(self, wanted: list[bytes], first_try: bool) -> list[Application] | None:
        apps: list[Application] = []
        # The first try is by SFI only: a refusal there more likely means another DF is
        # current than a card without SFIs, and 2F00 is reachable by FID from the MF only.
        records = self.iter_records(
            SFI_DIR, None if first_try else FID_DIR, "EF.DIR", skip_unused=True
        )
        n = 1
        try:
            for n, raw in records:
                app = parse_dir_record(raw, n)
                assert app is not None  # unused records are passed over
                apps.append(app)
                if wanted and all(any(a.aid.startswith(p) for a in apps) for p in wanted):
                    break
        except StatusWordError as exc:
            if first_try and n == 1 and exc.sw in _NOT_HERE:
                return None
            raise
        except CardError:
            if first_try and n == 1:
                return None  # not EF.DIR's encoding: some other DF's file with SFI 1E
            raise
        return apps

    # --- logical channels (clauses 10.1.1, 11.1.17) -------------------------------------
    def open_channel(self) -> Channel:
        """MANAGE CHANNEL open: the card assigns the channel number."""
        resp = self.transport.transmit(apdu.build(0x00, 0x70, 0x00, 0x00, le=0x01))
        if not resp.ok:
            raise self._fail("MANAGE CHANNEL open", resp)
        if len(resp.data) != 1 or not 1 <= resp.data[0] <= 19:
            raise CardError(
                f"{self.transport.uri}: MANAGE CHANNEL open returned "
                f"{resp.data.hex().upper() or 'no data'}, expected one channel number 01-13"
            )
        return Channel(self.transport, resp.data[0])

    @contextmanager
    def application(self, aid: bytes, logical: bool = False) -> Iterator[Channel]:
        """A channel on which the application ``aid`` is selected; closed again on exit.

        A transport with a native way to reach applications (a modem's ``AT+CCHO``) is
        used first; then the application is already selected and no SELECT is sent.
        Otherwise ``logical`` opens a channel with MANAGE CHANNEL and SELECTs the AID on
        it; without it the AID is SELECTed on the basic channel.
        """
        native = self.transport.open_application_channel(aid)
        if native is not None:
            with _closing(native):
                yield native
            return
        if not logical:
            self.select_aid(aid)
            yield self.transport.basic
            return
        channel = self.open_channel()
        with _closing(channel):
            self.select_aid(aid, channel)
            yield channel

    # --- PIN (clauses 11.1.9 to 11.1.13) -------------------------------------------------
    def pin_retries(self, reference: int = PIN1, channel: Channel | None = None) -> int | None:
        """Remaining PIN attempts, read with an empty VERIFY (spends nothing).

        None means no verification is needed (PIN disabled or already verified): 9000,
        or 6984 from cards that answer the query of a disabled PIN that way.
        """
        return self._retries(self._send(channel, apdu.build(0x00, INS_VERIFY, 0x00, reference)),
                             reference)

    def _retries(self, query: Response, reference: int) -> int | None:
        """The attempts left that an empty VERIFY's answer says (see ``pin_retries``)."""
        if query.ok or query.sw == SW.REFERENCED_DATA_INVALIDATED:
            return None
        left = SWFamily.RETRIES_LEFT.number(query.sw)
        if left is not None:
            return left
        if query.sw == SW.PIN_BLOCKED:
            return 0
        raise self._fail(f"VERIFY {_pin_name(reference)} (retry counter)", query)

    def puk_retries(self, reference: int = PIN1, channel: Channel | None = None) -> int | None:
        """Remaining attempts of the PIN's unblocking PIN, read with an empty UNBLOCK PIN
        (clause 11.1.13.1.2; spends nothing); None when the card has none for it."""
        resp = self._send(channel, apdu.build(0x00, INS_UNBLOCK, 0x00, reference))
        left = SWFamily.RETRIES_LEFT.number(resp.sw)
        if left is not None:
            return left
        if resp.sw == SW.PIN_BLOCKED:
            return 0
        if resp.sw == SW.REFERENCE_NOT_FOUND:
            return None
        raise self._fail(f"UNBLOCK {_pin_name(reference)} (retry counter)", resp)

    def pin_status(self, reference: int, channel: Channel | None = None) -> PinStatus | None:
        """What the card says of one PIN without spending anything; None when it has no
        PIN with that key reference (6A88). Whether it is enabled comes from the PIN
        status template of the current DF's FCP (STATUS, clause 11.1.2)."""
        query = self._send(channel, apdu.build(0x00, INS_VERIFY, 0x00, reference))
        if query.sw == SW.REFERENCE_NOT_FOUND:
            return None
        retries = self._retries(query, reference)
        fcp = self.status_fcp(channel)
        return PinStatus(reference, fcp.pins.get(reference), retries, query.ok,
                         self.puk_retries(reference, channel))

    def status_fcp(self, channel: Channel | None = None) -> Fcp:
        """STATUS with P2 00: the FCP of the current DF or ADF (clause 11.1.2)."""
        resp = self._send(channel, apdu.build(0x80, 0xF2, 0x00, 0x00, le=0x00))
        if not resp.ok:
            raise self._fail("STATUS", resp)
        return parse_fcp(resp.data, f"{self.transport.uri}: FCP from STATUS")

    def verify_pin(
        self, pin: str, reference: int = PIN1, channel: Channel | None = None, force: bool = False
    ) -> None:
        """VERIFY PIN, never blindly: the retry counter is read first.

        Refuses when the PIN is blocked, and when only one attempt is left unless
        ``force`` is set. A wrong PIN raises CardError with the attempts left. A disabled
        PIN cannot be verified (clause 11.1.9.1.1) and the card says so with 6984 without
        counting an attempt; nothing then needs verifying, so that is not an error.
        """
        encoded = encode_pin(pin)
        try:
            retries = self.pin_retries(reference, channel)
        except StatusWordError as exc:
            # An application that uses the universal PIN instead of its own PIN1 has no
            # key reference 01 (6A88, TS 102 221 clause 9.5.1): ask for the universal
            # PIN's counter instead (a query, nothing spent).
            if reference != PIN1 or exc.sw != SW.REFERENCE_NOT_FOUND:
                raise
            reference = UNIVERSAL_PIN
            retries = self.pin_retries(reference, channel)
        if retries is None:
            return
        resp = self._present(INS_VERIFY, reference, encoded, retries, force, channel)
        if not (resp.ok or resp.sw == SW.REFERENCED_DATA_INVALIDATED):
            raise self._pin_refused("VERIFY", reference, resp)

    def change_pin(self, old: str, new: str, reference: int = PIN1,
                   channel: Channel | None = None, force: bool = False) -> None:
        """CHANGE PIN: old and new value; the PIN must be enabled (clause 11.1.10)."""
        data = encode_pin(old) + encode_pin(new)
        self._guarded(INS_CHANGE, "CHANGE", reference, data, force, channel)

    def disable_pin(self, pin: str, reference: int = PIN1, channel: Channel | None = None,
                    force: bool = False) -> None:
        """DISABLE PIN (clause 11.1.11), P1 00: no replacement by the universal PIN."""
        self._guarded(INS_DISABLE, "DISABLE", reference, encode_pin(pin), force, channel)

    def enable_pin(self, pin: str, reference: int = PIN1, channel: Channel | None = None,
                   force: bool = False) -> None:
        """ENABLE PIN (clause 11.1.12)."""
        self._guarded(INS_ENABLE, "ENABLE", reference, encode_pin(pin), force, channel)

    def unblock_pin(self, puk: str, new: str, reference: int = PIN1,
                    channel: Channel | None = None, force: bool = False) -> None:
        """UNBLOCK PIN with the PUK, setting a new PIN (clause 11.1.13); the PUK's own
        counter is the one guarded: spending its last attempt blocks the PUK for good."""
        data = encode_puk(puk) + encode_pin(new)
        left = self.puk_retries(reference, channel)
        if left is None:
            raise CardError(f"{self.transport.uri}: the card has no unblocking PIN (PUK) for "
                            f"{_pin_name(reference)}")
        resp = self._present(INS_UNBLOCK, reference, data, left, force, channel, what="PUK")
        if not resp.ok:
            raise self._pin_refused("UNBLOCK", reference, resp, what="PUK")

    def _guarded(self, ins: int, command: str, reference: int, data: bytes, force: bool,
                 channel: Channel | None) -> None:
        """Send a command presenting the PIN, its counter read (and heeded) first."""
        left = self.pin_retries(reference, channel)
        resp = self._present(ins, reference, data, left, force, channel)
        if not resp.ok:
            raise self._pin_refused(command, reference, resp)

    def _present(self, ins: int, reference: int, data: bytes, left: int | None, force: bool,
                 channel: Channel | None, what: str = "PIN") -> Response:
        """Send ``ins`` with a PIN (or PUK) in ``data`` unless ``left`` forbids it: none
        left (blocked), or the last one without ``force``."""
        name = _pin_name(reference) if what == "PIN" else f"the PUK of {_pin_name(reference)}"
        if left == 0:
            hint = " (unblock it with the PUK)" if what == "PIN" else "; the card cannot " \
                "unblock this PIN any more"
            raise CardError(f"{self.transport.uri}: {name} is blocked{hint}")
        if left == 1 and not force:
            raise CardError(f"{self.transport.uri}: {name}: only one {what} attempt left; "
                            "not spending it without --force")
        return self._send(channel, apdu.build(0x00, ins, 0x00, reference, data))

    def _pin_refused(self, command: str, reference: int, resp: Response,
                     what: str = "PIN") -> CardError:
        """A PIN command's refusal in words."""
        name = _pin_name(reference)
        uri = self.transport.uri
        left = SWFamily.RETRIES_LEFT.number(resp.sw)
        if left is not None:
            return CardError(f"{uri}: {name}: wrong {what}, {left} attempt(s) left")
        if resp.sw == SW.PIN_BLOCKED:
            return CardError(f"{uri}: {name if what == 'PIN' else 'the PUK'} is blocked")
        if resp.sw == SW.REFERENCED_DATA_INVALIDATED:
            return CardError(f"{uri}: {name} is disabled (enable it first)")
        if resp.sw == SW.CONDITIONS_NOT_SATISFIED:
            return CardError(f"{uri}: {name} is already enabled")
        if resp.sw == SW.REFERENCE_NOT_FOUND:
            return CardError(f"{uri}: the card has no {name}")
        return self._fail(f"{command} {name}", resp)


def _pin_name(reference: int) -> str:
    return PIN_NAMES.get(reference, f"PIN {reference:02X}")


@dataclass(frozen=True)
class PinStatus:
    """One PIN as the card reports it (nothing spent to learn it)."""

    reference: int
    enabled: bool | None  # None: the PIN status template does not list it
    retries: int | None  # attempts left; None: nothing to verify (disabled or verified)
    verified: bool  # verified in this card session
    puk_retries: int | None  # the PUK's attempts left; None: no PUK for this PIN

    @property
    def name(self) -> str:
        return _pin_name(self.reference)


@contextmanager
def _closing(channel: Channel) -> Iterator[None]:
    """Close ``channel`` on the way out; when the body already failed (say, the card was
    removed), a failure to close must not replace that first, telling error."""
    try:
        yield
    except BaseException:
        with suppress(SimattestError):
            channel.close()
        raise
    channel.close()


def encode_pin(pin: str) -> bytes:
    """PIN as 4-8 ASCII digits padded with FF to 8 bytes (TS 102 221 clause 9.5.1)."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise InputError("PIN must be 4 to 8 decimal digits")
    return pin.encode("ascii").ljust(8, b"\xff")


def encode_puk(puk: str) -> bytes:
    """An UNBLOCK PIN: 8 ASCII digits (TS 102 221 clause 9.5.1)."""
    if not (puk.isascii() and puk.isdigit() and len(puk) == 8):
        raise InputError("PUK must be 8 decimal digits")
    return puk.encode("ascii")


def _check_sfi(sfi: int) -> int:
    if not 1 <= sfi <= 30:
        raise InputError(f"SFI {sfi} is outside 1-30")
    return sfi


def _check_path(path: bytes, what: str) -> None:
    if not path or len(path) % 2:
        raise InputError(f"{what} {path.hex().upper()} is not a sequence of 2-byte file IDs")


def _unused(record: bytes) -> bool:
    """An unused record of a linear fixed EF is all FF (TS 102 221 clause 8.2.2)."""
    return not record or all(b == 0xFF for b in record)


def _offset_p1p2(offset: int, what: str) -> tuple[int, int]:
    """P1-P2 of a READ BINARY at ``offset`` (15 bits, P1 bit 8 clear)."""
    if offset > 0x7FFF:
        raise CardError(f"{what} is larger than 32767 bytes")
    return offset >> 8, offset & 0xFF
