"""A software UICC with a USIM and (when the profile has one) an ISIM.

It answers the commands of ETSI TS 102 221 clause 11 and AUTHENTICATE of 3GPP TS 31.102 /
31.103 clause 7.1 with the encodings and status words a real card uses, so the UICC
client can be tested against it through every transport (in process, pcscd + vpcd, the
simulated modem). State that outlives a reset, as on a real card: PIN/PUK counters and
the SQN array (TS 33.102 Annex C). State per session: verified PIN, logical channels,
selected files.

Response data and the ISO/IEC 7816 command cases (ISO/IEC 7816-3 clause 12.2, ISO/IEC
7816-4 clause 5.1.3), the same for every command and transport:

- a command without Le (case 1 or 3) never carries data back: when it has some (SELECT
  with P2 04, STATUS, a read), the card answers ``61xx`` on T=0 and on T=1 alike and
  GET RESPONSE fetches it (what wpa_supplicant and pySim expect);
- with Le the card returns at most Le bytes (Le = 00: up to 256); more data than Le is
  announced with ``61xx`` for GET RESPONSE;
- T=0 (``t0=True``): a case-4 command (SELECT with FCP, AUTHENTICATE) carries no Le in its
  TPDU, so its answer is always announced with ``61xx``; a case-2 command whose Le
  differs from the bytes available gets ``6Cxx`` with the exact count.

Thread-safe: the PC/SC bridge and the simulated modem call it from their own threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from attest.errors import CardRemovedError, TransportError
from hw.apdu import channel_of
from hw.cardfile import CardFile
from hw.sim import ts_51_011 as gsm
from hw.sim.aka_app import AkaResponder
from hw.sim.atr import ATR_T0, ATR_T0_T1, ATR_T1
from hw.sim.filesystem import CURRENT_ADF_FID, DF, EF, MF_FID, tlv
from hw.sim.layout import DF_GSM_FID, USIM_AID, Application, Layout, build_layout
from hw.sim.pins import Pin, Pins
from hw.sw import SW, SWFamily

_MAX_CHANNEL = 19


class _Reply(Exception):
    """A status word that ends command processing early (never leaves this module)."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


@dataclass
class _Channel:
    """What one logical channel has selected (TS 102 221 clause 8.4)."""

    df: DF
    ef: EF | None = None
    app: Application | None = None
    record: int = 0  # record pointer; 0 = none


@dataclass(frozen=True)
class _Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes | None  # None: no command data field
    le: int | None  # None: no Le field; 0 means 256 (short APDU)


def _parse(raw: bytes) -> _Apdu:
    """Split a short command APDU into its parts (ISO/IEC 7816-3 clause 12.1.3)."""
    if len(raw) < 4:
        raise _Reply(SW.WRONG_LENGTH)
    cla, ins, p1, p2 = raw[:4]
    if len(raw) == 4:
        return _Apdu(cla, ins, p1, p2, None, None)
    if len(raw) == 5:
        return _Apdu(cla, ins, p1, p2, None, raw[4])
    lc = raw[4]
    if lc == 0 or len(raw) not in (5 + lc, 6 + lc):
        raise _Reply(SW.WRONG_LENGTH)  # extended length is not supported; Lc must match the data
    le = raw[5 + lc] if len(raw) == 6 + lc else None
    return _Apdu(cla, ins, p1, p2, bytes(raw[5 : 5 + lc]), le)


class SimulatedCard:
    """A UICC built from a card file. See the module docstring for the behaviour."""

    def __init__(self, cardfile: CardFile, *, t0: bool = False, latency: float = 0.0,
                 remove_at: int | None = None, offers_t1: bool = False) -> None:
        """``offers_t1`` with ``t0``: the ATR offers T=1 besides T=0 (the card still
        answers with T=0 procedure bytes: vpcd does not tell it what the reader chose)."""
        if offers_t1 and not t0:
            raise ValueError("offers_t1 is for a T=0 card whose ATR also offers T=1")
        if latency < 0:
            raise ValueError("latency must be zero or positive")
        if remove_at is not None and remove_at < 1:
            raise ValueError("remove_at counts APDUs from 1")
        self.cardfile = cardfile
        self.t0 = t0
        self.offers_t1 = offers_t1
        self.latency = latency
        self._remove_at = remove_at
        self._lock = threading.RLock()
        self._layout = build_layout(cardfile)
        self._aka = AkaResponder(cardfile)
        self._pins = Pins(cardfile)
        self._pin1 = self._pins.pin1
        self._count = 0
        self._removed = False
        self._powered = True
        self._channels: dict[int, _Channel] = {}
        self._pending: tuple[int, bytes, int] | None = None  # T=0: channel, data, final SW
        self._new_session()

    # --- the reader side --------------------------------------------------------------
    @property
    def atr(self) -> bytes:
        if self.offers_t1:
            return ATR_T0_T1
        return ATR_T0 if self.t0 else ATR_T1

    def power_on(self) -> bytes:
        """Power the card (cold reset) and return its ATR."""
        with self._lock:
            if self._removed:
                raise CardRemovedError("simulated card removed: no card to power on")
            self._powered = True
            self._new_session()
            return self.atr

    def power_off(self) -> None:
        with self._lock:
            self._powered = False
            self._new_session()

    def reset(self) -> bytes:
        """Warm reset: a new card session (PIN verification and channels are gone)."""
        return self.power_on()

    def remove(self) -> None:
        """Take the card out of the reader: every APDU fails until :meth:`insert`."""
        with self._lock:
            self._removed = True
            self._powered = False

    def insert(self) -> bytes:
        """Put the card back (powered, new session) and return its ATR."""
        with self._lock:
            self._removed = False
            return self.power_on()

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with response data + SW1 SW2."""
        with self._lock:
            if self._removed:
                raise CardRemovedError("simulated card removed")
            self._count += 1
            if self._remove_at is not None and self._count >= self._remove_at:
                self._remove_at = None
                self.remove()
                raise CardRemovedError(f"simulated card removed during APDU {self._count}")
            if not self._powered:
                raise TransportError("simulated card is not powered")
            if self.latency:
                time.sleep(self.latency)
            try:
                data, sw = self._command(_parse(bytes(apdu)))
            except _Reply as reply:
                data, sw = b"", reply.sw
            return data + sw.to_bytes(2, "big")

    # --- read-only state for tests ----------------------------------------------------
    @property
    def removed(self) -> bool:
        return self._removed

    @property
    def apdu_count(self) -> int:
        return self._count

    @property
    def sqn_ms(self) -> bytes:
        """The highest SQN the card has accepted (TS 33.102 Annex C)."""
        return self._aka.sqn_ms

    @property
    def pin1_retries(self) -> int:
        return self._pin1.retries

    @property
    def puk1_retries(self) -> int:
        return self._pin1.puk_retries

    @property
    def pin1_verified(self) -> bool:
        return self._pin1.verified

    @property
    def open_channels(self) -> list[int]:
        return sorted(self._channels)

    @property
    def layout(self) -> Layout:
        """The card's file tree (read it, never change it)."""
        return self._layout

    # --- dispatch ---------------------------------------------------------------------
    def _new_session(self) -> None:
        self._channels = {0: _Channel(self._layout.mf)}
        self._pending = None
        self._pins.end_session()

    def _command(self, apdu: _Apdu) -> tuple[bytes, int]:
        cla = apdu.cla
        if cla == _CLA_GSM and self._layout.gsm:
            return self._gsm_command(apdu)
        if cla == 0xFF or (not cla & 0x40 and cla & 0x20):
            raise _Reply(SW.CLA_NOT_SUPPORTED)  # PPS / RFU bits: not a TS 102 221 class
        if (cla & 0x0C if not cla & 0x40 else cla & 0x20):
            raise _Reply(SW.SECURE_MESSAGING_NOT_SUPPORTED)
        method = _HANDLERS.get(apdu.ins)
        if method is None and apdu.ins != _INS_GET_RESPONSE:
            raise _Reply(SW.INS_NOT_SUPPORTED)
        if bool(cla & 0x80) != (apdu.ins in _PROPRIETARY):
            raise _Reply(SW.CLA_NOT_SUPPORTED)  # TS 102 221 clause 10.1.2: '0X' or '8X' per command
        number = channel_of(cla)
        channel = self._channels.get(number)
        if channel is None:
            raise _Reply(SW.CHANNEL_NOT_SUPPORTED)
        pending, self._pending = self._pending, None
        if method is None:
            return self._get_response(number, apdu, pending)
        data, sw = method(self, channel, apdu)
        if not data:
            return data, sw
        if apdu.le is None or (self.t0 and apdu.data is not None):
            # No Le (case 1/3), or case 4 under T=0: announce the bytes for GET RESPONSE.
            return self._announce(number, data, sw)
        le = apdu.le or 256
        if len(data) > le:
            return data[:le], self._announce(number, data[le:], sw)[1]
        return data, sw

    def _announce(self, number: int, data: bytes, sw: int,
                  family: SWFamily = SWFamily.MORE_DATA) -> tuple[bytes, int]:
        """Keep ``data`` for GET RESPONSE on channel ``number`` and say ``61xx`` (``9Fxx``
        in the GSM class)."""
        self._pending = (number, data, sw)
        return b"", family.sw(len(data) & 0xFF)  # 00 stands for 256

    def _gsm_command(self, apdu: _Apdu) -> tuple[bytes, int]:
        """A command of the GSM class A0 (TS 51.011 clause 9), on the basic channel.

        Case 2 commands (READ, STATUS, GET RESPONSE) carry their length in P3; SELECT and
        RUN GSM ALGORITHM announce their answer with ``9Fxx`` for GET RESPONSE.
        """
        pending, self._pending = self._pending, None
        channel = self._channels[0]
        if apdu.ins == _INS_GET_RESPONSE:
            if apdu.p1 or apdu.p2:
                self._pending = pending
                raise _Reply(SW.P1P2_OUT_OF_RANGE)
            return self._get_response(0, apdu, pending)
        method = _GSM_HANDLERS.get(apdu.ins)
        if method is None:
            raise _Reply(SW.INS_NOT_SUPPORTED)
        data, sw = method(self, channel, apdu)
        if data and apdu.le is None:
            return self._announce(0, data, sw, SWFamily.GSM_MORE_DATA)
        return data, sw

    def _with_le(self, available: bytes, le: int | None) -> tuple[bytes, int]:
        """Answer a case-2 read (READ BINARY/RECORD, STATUS) for the Le the terminal sent.

        TS 102 221 clause 11.1.3: Le = 00 reads to the end of the file, up to 256 bytes.
        Under T=0 a wrong Le is answered ``6Cxx`` with the exact count (ISO/IEC 7816-3).
        Without Le, everything available (up to 256) goes to :meth:`_command`, which
        announces it with ``61xx``.
        """
        data = available[:256]
        n = len(data)
        if le is None:
            return data, SW.OK
        if le == 0:
            if self.t0 and n != 256:
                raise _Reply(SWFamily.WRONG_LE.sw(n))
            return data, SW.OK
        if le <= n:
            return data[:le], SW.OK
        if self.t0:
            raise _Reply(SWFamily.WRONG_LE.sw(n))
        return data, SW.END_REACHED

    def _get_response(self, number: int, apdu: _Apdu,
                      pending: tuple[int, bytes, int] | None) -> tuple[bytes, int]:
        """GET RESPONSE (TS 102 221 clause 11.1.20): fetch what 61xx announced."""
        if apdu.p1 or apdu.p2:
            self._pending = pending
            raise _Reply(SW.WRONG_P1P2)
        if pending is None or pending[0] != number:
            self._pending = pending
            raise _Reply(SW.CONDITIONS_NOT_SATISFIED)
        _, data, sw = pending
        if apdu.le is None or apdu.data is not None:
            self._pending = pending  # a malformed GET RESPONSE loses nothing
            raise _Reply(SW.WRONG_LENGTH)
        le = apdu.le or 256
        if le > len(data) and self.t0:
            self._pending = pending
            raise _Reply(SWFamily.WRONG_LE.sw(len(data)))
        if le < len(data):
            self._pending = (number, data[le:], sw)
            return data[:le], SWFamily.MORE_DATA.sw((len(data) - le) & 0xFF)
        return data, sw

    # --- file selection ---------------------------------------------------------------
    def _select(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """SELECT (TS 102 221 clause 11.1.1) by FID, DF name (AID), or path."""
        data = apdu.data or b""
        terminate = apdu.p2 & 0x40
        if apdu.p2 & ~0x40 not in (0x04, 0x0C) or (terminate and apdu.p1 != 0x04):
            raise _Reply(SW.WRONG_P1P2)
        if apdu.p1 == 0x00:
            if len(data) != 2:
                raise _Reply(SW.WRONG_LENGTH)
            node = self._by_fid(ch, int.from_bytes(data, "big"))
        elif apdu.p1 == 0x04:
            if not 1 <= len(data) <= 16:
                raise _Reply(SW.WRONG_LENGTH)
            app = next((a for a in self._layout.applications if a.aid.startswith(data)), None)
            if app is None:
                raise _Reply(SW.FILE_NOT_FOUND)
            if terminate:
                # Application session termination: back to the MF, no application.
                ch.df, ch.ef, ch.app, ch.record = self._layout.mf, None, None, 0
                return b"", SW.OK
            ch.app = app
            node = app.adf
        elif apdu.p1 in (0x08, 0x09):
            if not data or len(data) % 2:
                raise _Reply(SW.WRONG_LENGTH)
            node = self._by_path(ch, data, from_mf=apdu.p1 == 0x08)
        else:
            raise _Reply(SW.WRONG_P1P2)
        if node is None:
            raise _Reply(SW.FILE_NOT_FOUND)
        if isinstance(node, EF):
            ch.ef, ch.record = node, 0
            assert node.parent is not None
            ch.df = node.parent
            fcp = node.fcp()
        else:
            ch.df, ch.ef, ch.record = node, None, 0
            app = next((a for a in self._layout.applications if a.adf is node), None)
            if app is not None:
                ch.app = app
            fcp = node.fcp(self._pins.status())
        return (fcp if apdu.p2 & 0x0C == 0x04 else b""), SW.OK

    def _by_fid(self, ch: _Channel, fid: int) -> EF | DF | None:
        """Files selectable by FID from the current DF (TS 102 221 clause 8.4.1)."""
        if fid == MF_FID:
            return self._layout.mf
        if fid == CURRENT_ADF_FID:
            return ch.app.adf if ch.app else None
        df = ch.df
        if df.fid == fid:
            return df
        child = df.child(fid)
        if child is not None:
            return child
        parent = df.parent
        if parent is None:
            return None
        if parent.fid == fid:
            return parent
        sibling = parent.child(fid)
        return sibling if isinstance(sibling, DF) else None

    def _by_path(self, ch: _Channel, path: bytes, *, from_mf: bool) -> EF | DF | None:
        """Path selection (clause 8.4.2): FIDs from the MF (not included) or the current DF."""
        fids = [int.from_bytes(path[i : i + 2], "big") for i in range(0, len(path), 2)]
        node: EF | DF | None = self._layout.mf if from_mf else ch.df
        for i, fid in enumerate(fids):
            if not isinstance(node, DF):
                return None
            if fid == CURRENT_ADF_FID and i == 0 and from_mf:
                node = ch.app.adf if ch.app else None
            else:
                node = node.child(fid)
        return node

    # --- reading ----------------------------------------------------------------------
    def _target(self, ch: _Channel, sfi: int) -> EF:
        """The EF a read addresses: the current EF (SFI 0) or the SFI in the current DF."""
        if sfi == 0:
            if ch.ef is None:
                raise _Reply(SW.NO_EF_SELECTED)
            return ch.ef
        ef = ch.df.by_sfi(sfi)
        if ef is None:
            raise _Reply(SW.FILE_NOT_FOUND)
        if ef is not ch.ef:
            ch.ef, ch.record = ef, 0  # reading by SFI selects the file (clause 8.4.3)
        return ef

    def _check_read(self, ef: EF) -> None:
        if ef.pin_protected and not self._pin1.satisfied:
            raise _Reply(SW.SECURITY_NOT_SATISFIED)

    def _read_binary(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """READ BINARY (TS 102 221 clause 11.1.3), with the SFI form P1 = 100xxxxx."""
        if apdu.data is not None:
            raise _Reply(SW.WRONG_LENGTH)
        if apdu.p1 & 0x80:
            if apdu.p1 & 0x60 or not apdu.p1 & 0x1F:
                raise _Reply(SW.WRONG_P1P2)
            ef, offset = self._target(ch, apdu.p1 & 0x1F), apdu.p2
        else:
            ef, offset = self._target(ch, 0), (apdu.p1 << 8) | apdu.p2
        if ef.linear or ef.objects is not None:
            raise _Reply(SW.INCOMPATIBLE_FILE_STRUCTURE)
        self._check_read(ef)
        if offset >= len(ef.data):
            raise _Reply(SW.P1P2_OUT_OF_RANGE)
        return self._with_le(ef.data[offset:], apdu.le)

    def _read_record(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """READ RECORD (TS 102 221 clause 11.1.5): absolute/current, next, previous."""
        if apdu.data is not None:
            raise _Reply(SW.WRONG_LENGTH)
        sfi, mode = apdu.p2 >> 3, apdu.p2 & 0x07
        if sfi == 0x1F or mode not in (0x02, 0x03, 0x04):
            raise _Reply(SW.WRONG_P1P2)
        ef = self._target(ch, sfi)
        if ef.records is None:
            raise _Reply(SW.INCOMPATIBLE_FILE_STRUCTURE)
        self._check_read(ef)
        count = len(ef.records)
        if mode == 0x04:
            number = apdu.p1 or ch.record  # P1 = 0: the current record
            if not 1 <= number <= count:
                raise _Reply(SW.RECORD_NOT_FOUND)
        else:
            if apdu.p1:
                raise _Reply(SW.WRONG_P1P2)
            # Next from no record is the first; previous from no record is the last.
            number = ch.record + 1 if mode == 0x02 else (ch.record - 1 if ch.record else count)
            if not 1 <= number <= count:
                raise _Reply(SW.RECORD_NOT_FOUND)
            ch.record = number  # only next/previous move the record pointer
        return self._with_le(ef.records[number - 1], apdu.le)

    def _update(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """UPDATE BINARY/RECORD, SET DATA: every file here needs ADM1 to write, which is
        not offered."""
        del ch, apdu
        raise _Reply(SW.SECURITY_NOT_SATISFIED)

    def _status(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """STATUS (TS 102 221 clause 11.1.2): FCP of the current DF, or the AID."""
        if apdu.p1 > 0x02 or apdu.data is not None:
            raise _Reply(SW.WRONG_P1P2 if apdu.p1 > 0x02 else SW.WRONG_LENGTH)
        if apdu.p2 == 0x00:
            return self._with_le(ch.df.fcp(self._pins.status()), apdu.le)
        if apdu.p2 == 0x01:
            if ch.app is None:
                raise _Reply(SW.WRONG_P1P2)
            return self._with_le(tlv(0x84, ch.app.aid), apdu.le)
        if apdu.p2 == 0x0C:
            return b"", SW.OK
        raise _Reply(SW.WRONG_P1P2)

    def _retrieve_data(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """RETRIEVE DATA (TS 102 221 clause 11.3.1) from the current BER-TLV EF: P2 80 and
        a tag for the first block (tag 5C: the list of tags present). Every object fits
        one block, so there is never a next block (P2 00) to ask for."""
        if apdu.p1 != 0x00 or apdu.p2 not in (0x00, 0x80):
            raise _Reply(SW.WRONG_P1P2)
        if apdu.p2 == 0x00:
            raise _Reply(SW.CONDITIONS_NOT_SATISFIED)  # no retrieval in progress
        if apdu.data is None or len(apdu.data) != 1:
            raise _Reply(SW.WRONG_LENGTH)  # every tag of this card's files is one byte
        ef = self._target(ch, 0)
        if ef.objects is None:
            raise _Reply(SW.INCOMPATIBLE_FILE_STRUCTURE)
        self._check_read(ef)
        tag = apdu.data[0]
        if tag == _TAG_LIST:
            return tlv(_TAG_LIST, bytes(sorted(ef.objects))), SW.OK
        if tag not in ef.objects:
            raise _Reply(SW.REFERENCE_NOT_FOUND)
        return tlv(tag, ef.objects[tag]), SW.OK

    # --- PIN ----------------------------------------------------------------------------
    def _verify(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """VERIFY PIN (TS 102 221 clause 11.1.9); empty data queries the retry counter."""
        del ch
        pin = self._pin_reference(apdu)
        if apdu.data is not None and len(apdu.data) != 8:
            raise _Reply(SW.WRONG_LENGTH)
        return b"", pin.verify(apdu.data)

    def _change_pin(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """CHANGE PIN (TS 102 221 clause 11.1.10): old PIN (8) + new PIN (8)."""
        del ch
        pin = self._pin_reference(apdu)
        data = self._pin_data(apdu, 16)
        return b"", pin.change(data[:8], data[8:])

    def _disable_pin(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """DISABLE PIN (TS 102 221 clause 11.1.11): the PIN (8)."""
        del ch
        return b"", self._pin_reference(apdu).disable(self._pin_data(apdu, 8))

    def _enable_pin(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """ENABLE PIN (TS 102 221 clause 11.1.12): the PIN (8)."""
        del ch
        return b"", self._pin_reference(apdu).enable(self._pin_data(apdu, 8))

    def _unblock(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """UNBLOCK PIN (TS 102 221 clause 11.1.13): PUK (8) + new PIN (8), or a query."""
        del ch
        pin = self._pin_reference(apdu)
        if apdu.data is None:
            return b"", pin.unblock(None, None)
        data = self._pin_data(apdu, 16)
        return b"", pin.unblock(data[:8], data[8:])

    def _pin_reference(self, apdu: _Apdu) -> Pin:
        """The PIN P2 names (TS 102 221 table 11.15); 6A88 for one this card lacks."""
        if apdu.p1 != 0x00 or apdu.p2 & 0x60:
            raise _Reply(SW.WRONG_P1P2)
        pin = self._pins.get(apdu.p2)
        if pin is None:
            raise _Reply(SW.REFERENCE_NOT_FOUND)
        return pin

    @staticmethod
    def _pin_data(apdu: _Apdu, size: int) -> bytes:
        if apdu.data is None or len(apdu.data) != size:
            raise _Reply(SW.WRONG_LENGTH)
        return apdu.data

    # --- logical channels ---------------------------------------------------------------
    def _manage_channel(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """MANAGE CHANNEL (TS 102 221 clause 11.1.17): open (P1 00) or close (P1 80)."""
        if apdu.data is not None:
            raise _Reply(SW.WRONG_LENGTH)
        if apdu.p1 == 0x80:
            if not 1 <= apdu.p2 <= _MAX_CHANNEL:
                raise _Reply(SW.WRONG_P1P2)
            if self._channels.pop(apdu.p2, None) is None:
                raise _Reply(SW.REFERENCE_NOT_FOUND)
            return b"", SW.OK
        if apdu.p1 != 0x00 or apdu.p2 > _MAX_CHANNEL:
            raise _Reply(SW.WRONG_P1P2)
        if apdu.p2:
            if apdu.p2 in self._channels:
                raise _Reply(SW.WRONG_P1P2)
            number = apdu.p2
        else:
            free = [n for n in range(1, _MAX_CHANNEL + 1) if n not in self._channels]
            if not free:
                raise _Reply(SW.FUNCTION_NOT_SUPPORTED)
            number = free[0]
        # Opened from the basic channel: the MF is selected; from another channel (``ch``):
        # its current DF and application are inherited (clause 11.1.17.1).
        if channel_of(apdu.cla) == 0:
            self._channels[number] = _Channel(self._layout.mf)
        else:
            self._channels[number] = _Channel(ch.df, None, ch.app)
        return (bytes((number,)) if not apdu.p2 else b""), SW.OK

    # --- the GSM class (TS 51.011 clause 9.2) -----------------------------------------
    def _gsm_response(self, node: EF | DF) -> bytes:
        return gsm.select_response(node, (self._pin1.enabled, self._pin1.retries),
                                   self._pin1.puk_retries)

    def _gsm_select(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """SELECT by file ID only (clause 9.2.1); ADFs are not reachable in this class."""
        if apdu.p1 or apdu.p2:
            raise _Reply(SW.P1P2_OUT_OF_RANGE)
        if apdu.data is None or len(apdu.data) != 2:
            raise _Reply(SW.WRONG_LENGTH)
        fid = int.from_bytes(apdu.data, "big")
        node = None if fid == CURRENT_ADF_FID else self._by_fid(ch, fid)
        if node is None or (isinstance(node, DF) and node.aid is not None):
            raise _Reply(SW.GSM_FILE_NOT_FOUND)
        if isinstance(node, EF):
            assert node.parent is not None
            ch.df, ch.ef, ch.record = node.parent, node, 0
        else:
            ch.df, ch.ef, ch.record, ch.app = node, None, 0, None
        return self._gsm_response(node), SW.OK

    def _gsm_status(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """STATUS (clause 9.2.2): the current directory's SELECT response, P3 bytes of it."""
        if apdu.p1 or apdu.p2:
            raise _Reply(SW.P1P2_OUT_OF_RANGE)
        if apdu.data is not None:
            raise _Reply(SW.WRONG_LENGTH)
        data = self._gsm_response(ch.df)
        return (data if apdu.le is None else data[: apdu.le or 256]), SW.OK

    def _gsm_ef(self, ch: _Channel, *, linear: bool, apdu: _Apdu) -> EF:
        """The current EF for a GSM read, checked for structure, access and P3."""
        if apdu.data is not None or apdu.le is None:
            raise _Reply(SW.WRONG_LENGTH)  # a read has P3 and no data
        if ch.ef is None:
            raise _Reply(SW.GSM_NO_EF_SELECTED)
        if ch.ef.linear != linear or ch.ef.objects is not None:
            raise _Reply(SW.GSM_FILE_INCONSISTENT)
        if ch.ef.pin_protected and not self._pin1.satisfied:
            raise _Reply(SW.GSM_ACCESS_NOT_FULFILLED)
        return ch.ef

    def _gsm_read_binary(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """READ BINARY (clause 9.2.3): P1-P2 the offset, P3 the length."""
        ef = self._gsm_ef(ch, linear=False, apdu=apdu)
        offset, length = (apdu.p1 << 8) | apdu.p2, apdu.le or 256
        if apdu.p1 & 0x80 or offset + length > len(ef.data):
            raise _Reply(SW.GSM_OUT_OF_RANGE)
        return ef.data[offset : offset + length], SW.OK

    def _gsm_read_record(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """READ RECORD (clause 9.2.5): next (02), previous (03), absolute/current (04)."""
        ef = self._gsm_ef(ch, linear=True, apdu=apdu)
        assert ef.records is not None
        if apdu.p2 not in (0x02, 0x03, 0x04) or (apdu.p2 != 0x04 and apdu.p1):
            raise _Reply(SW.P1P2_OUT_OF_RANGE)
        if (apdu.le or 256) != ef.record_length:
            raise _Reply(SW.WRONG_LENGTH)
        count = len(ef.records)
        if apdu.p2 == 0x04:
            number = apdu.p1 or ch.record
        else:
            number = ch.record + 1 if apdu.p2 == 0x02 else (ch.record - 1 if ch.record else count)
        if not 1 <= number <= count:
            raise _Reply(SW.GSM_OUT_OF_RANGE)
        if apdu.p2 != 0x04:
            ch.record = number  # only next/previous move the record pointer
        return ef.records[number - 1], SW.OK

    def _gsm_update(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """UPDATE BINARY/RECORD: every file needs ADM to write, which is not offered."""
        del ch, apdu
        raise _Reply(SW.GSM_ACCESS_NOT_FULFILLED)

    def _run_gsm_algorithm(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """RUN GSM ALGORITHM (clause 9.2.16): RAND in, SRES (4) + Kc (8) out, with DF.GSM
        the current directory and CHV1 satisfied."""
        if apdu.p1 or apdu.p2:
            raise _Reply(SW.P1P2_OUT_OF_RANGE)
        if apdu.data is None or len(apdu.data) != 16:
            raise _Reply(SW.WRONG_LENGTH)
        if ch.df.fid != DF_GSM_FID or not self._aka.gsm_access:
            raise _Reply(SW.GSM_FILE_INCONSISTENT)
        if not self._pin1.satisfied:
            raise _Reply(SW.GSM_ACCESS_NOT_FULFILLED)
        answer, sw = self._aka.gsm_context(b"\x10" + apdu.data)
        return answer[1:5] + answer[6:14], sw

    # --- AUTHENTICATE ------------------------------------------------------------------
    def _authenticate(self, ch: _Channel, apdu: _Apdu) -> tuple[bytes, int]:
        """AUTHENTICATE (TS 31.102 clause 7.1.2 / TS 31.103 clause 7.1.2).

        P2 ``80`` GSM context (USIM with service 27), ``81`` 3G context (USIM) or IMS AKA
        (ISIM), ``84`` GBA bootstrapping (USIM with service 68); others answer 9864.
        """
        if apdu.p1 != 0x00 or not apdu.p2 & 0x80:
            raise _Reply(SW.WRONG_P1P2)
        if ch.app is None:
            raise _Reply(SW.CONDITIONS_NOT_SATISFIED)  # no application selected on this channel
        context = apdu.p2 & 0x7F
        usim = ch.app.aid == USIM_AID
        supported = {_CTX_3G}
        if usim and self._aka.gsm_access:
            supported.add(_CTX_GSM)
        if usim and self._aka.gba:
            supported.add(_CTX_GBA)
        if context not in supported:
            raise _Reply(SW.AUTH_CONTEXT_NOT_SUPPORTED)
        if not self._pin1.satisfied:
            raise _Reply(SW.SECURITY_NOT_SATISFIED)
        data = apdu.data or b""
        if context == _CTX_GSM:
            return self._aka.gsm_context(data)
        return self._aka.umts_context(data, with_kc=usim, gba=context == _CTX_GBA)


# AUTHENTICATE contexts: P2 b3-b1 (TS 31.102 clause 7.1.2.1).
_CTX_GSM, _CTX_3G, _CTX_GBA = 0x00, 0x01, 0x04
_INS_GET_RESPONSE = 0xC0
_CLA_GSM = 0xA0  # TS 51.011 clause 9.1: the class byte of every GSM command
# Commands sent with the proprietary class '8X' (TS 102 221 table 10.5); the rest use '0X'.
_PROPRIETARY = frozenset({0xF2, 0xCB, 0xDB})
_TAG_LIST = 0x5C  # RETRIEVE DATA: "the list of tags in the file" (TS 102 221 clause 11.3.1)
_HANDLERS: dict[int, Callable[[SimulatedCard, _Channel, _Apdu], tuple[bytes, int]]] = {
    0xA4: SimulatedCard._select,
    0xB0: SimulatedCard._read_binary,
    0xB2: SimulatedCard._read_record,
    0xD6: SimulatedCard._update,
    0xDC: SimulatedCard._update,
    0xF2: SimulatedCard._status,
    0xCB: SimulatedCard._retrieve_data,
    0xDB: SimulatedCard._update,  # SET DATA: ADM1 only, like UPDATE
    0x20: SimulatedCard._verify,
    0x24: SimulatedCard._change_pin,
    0x26: SimulatedCard._disable_pin,
    0x28: SimulatedCard._enable_pin,
    0x2C: SimulatedCard._unblock,
    0x70: SimulatedCard._manage_channel,
    0x88: SimulatedCard._authenticate,
}
# The GSM class (CLA A0, TS 51.011 clause 9.2); GET RESPONSE is handled before these.
_GSM_HANDLERS: dict[int, Callable[[SimulatedCard, _Channel, _Apdu], tuple[bytes, int]]] = {
    0xA4: SimulatedCard._gsm_select,
    0xF2: SimulatedCard._gsm_status,
    0xB0: SimulatedCard._gsm_read_binary,
    0xB2: SimulatedCard._gsm_read_record,
    0xD6: SimulatedCard._gsm_update,
    0xDC: SimulatedCard._gsm_update,
    0x88: SimulatedCard._run_gsm_algorithm,
}
