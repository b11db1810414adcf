"""PC/SC readers through pyscard and pcsc-lite (PC/SC Workgroup specification, part 5).

URIs: ``pcsc:N`` is the N-th reader in pcscd's list (from 0), ``pcsc:<name>`` the reader
of that exact name, else ``pcsc:<glob>`` the one reader whose name matches the
shell-style pattern (``pcsc:Omnikey*``, ``pcsc:Virtual PCD 00 0?``). A pattern that
matches none or several readers is an error that lists them, never a guess.

The card is opened exclusively (``SCARD_SHARE_EXCLUSIVE``) so no other process can slip
APDUs between a SELECT and the AUTHENTICATE that depends on it. pcscd is asked for T=0 or
T=1 and the protocol it activates is read back: it tries T=1 first when the ATR offers it
(ISO/IEC 7816-3 clause 8.2.3, TDi bytes; PPS, clause 9), else T=0. Asking for the ATR's
preferred protocol alone fails on a card already running T=0 -- negotiated by an earlier
connection that left the card without a reset -- or a reader that cannot do the PPS.

T=0 procedure bytes are left to :func:`hw.apdu.exchange`: pcsc-lite passes ``61xx`` and
``6Cxx`` through to the application unchanged (neither pcscd nor pyscard's low-level
``SCardTransmit`` issues GET RESPONSE; only reader firmware in APDU mode might), so
the wire APDU count over PC/SC equals the in-process count for the same card.

pcsc-lite's client library finds the daemon through the socket named by the
environment variable ``PCSCLITE_CSOCK_NAME`` (default ``/run/pcscd/pcscd.comm``); it
reads the variable once per process, at the first PC/SC call.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from smartcard import scard
from smartcard.ATR import ATR
from smartcard.Exceptions import SmartcardException

from attest.errors import CardRemovedError, InputError, TransportError
from hw.transport.base import Transport, register_scheme

log = logging.getLogger(__name__)

# How long a failed exchange waits for pcscd to confirm a removal (pcscd polls presence
# every 400 ms).
_REMOVAL_GRACE = 2.0

# An open handle whose daemon went away (libpcsclite reports "no service" for it).
_DAEMON_LOST = {
    code & 0xFFFFFFFF for code in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_INVALID_HANDLE)
}
_CONNECTION_LOST = {
    code & 0xFFFFFFFF
    for code in (
        scard.SCARD_E_NOT_TRANSACTED,
        scard.SCARD_F_COMM_ERROR,
        scard.SCARD_W_UNRESPONSIVE_CARD,
        scard.SCARD_W_UNPOWERED_CARD,
        scard.SCARD_E_NO_SMARTCARD,
    )
}


@dataclass(frozen=True)
class ReaderInfo:
    """One PC/SC reader as pcscd reports it."""

    index: int
    name: str
    card_present: bool
    atr: bytes | None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "card_present": self.card_present,
            "atr": self.atr.hex().upper() if self.atr is not None else None,
        }


def _u32(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def pcsc_error(hresult: int, reader: str | None, doing: str) -> TransportError:
    """The readable error for a PC/SC return code (``doing``: what we were attempting)."""
    code = _u32(hresult)
    where = f"reader {reader!r}" if reader else "PC/SC"
    if code == _u32(scard.SCARD_E_NO_SERVICE):
        return TransportError("cannot reach pcscd (is the pcscd service running?)")
    if code == _u32(scard.SCARD_E_NO_READERS_AVAILABLE):
        return TransportError("no PC/SC readers found (is a reader plugged in?)")
    if code == _u32(scard.SCARD_E_SHARING_VIOLATION):
        return TransportError(f"{where} is in use by another process")
    if code == _u32(scard.SCARD_E_NO_SMARTCARD):
        return TransportError(f"no card in {where}")
    if code == _u32(scard.SCARD_W_REMOVED_CARD):
        return CardRemovedError(f"card removed from {where} while {doing}")
    if code in (_u32(scard.SCARD_E_UNKNOWN_READER), _u32(scard.SCARD_E_READER_UNAVAILABLE)):
        return TransportError(f"{where} is gone (unplugged, or pcscd restarted) while {doing}")
    if code == _u32(scard.SCARD_W_UNRESPONSIVE_CARD):
        return TransportError(f"the card in {where} does not answer (mute card?)")
    if code == _u32(scard.SCARD_W_RESET_CARD):
        return TransportError(f"the card in {where} was reset by another process while {doing}")
    if code == _u32(scard.SCARD_E_PROTO_MISMATCH):
        return TransportError(f"the card in {where} refused the protocol its ATR offers")
    message = scard.SCardGetErrorMessage(hresult).strip().rstrip(".")
    return TransportError(f"{where}: {message} (PC/SC error 0x{code:08X}) while {doing}")


def _check(hresult: int, reader: str | None, doing: str) -> None:
    if hresult != scard.SCARD_S_SUCCESS:
        raise pcsc_error(hresult, reader, doing)


class PcscContext:
    """An ``SCardEstablishContext`` handle, released on exit."""

    def __init__(self) -> None:
        hresult, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, None, "connecting to pcscd")
        self._released = False

    def reader_names(self) -> list[str]:
        """pcscd's reader list, in its order; empty when there is no reader."""
        hresult, names = scard.SCardListReaders(self.handle, [])
        if _u32(hresult) == _u32(scard.SCARD_E_NO_READERS_AVAILABLE):
            return []
        _check(hresult, None, "listing readers")
        return list(names)

    def card_state(self, reader: str) -> tuple[bool, bytes | None]:
        """(card present, ATR) of one reader, without connecting to the card."""
        hresult, states = scard.SCardGetStatusChange(
            self.handle, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
        )
        _check(hresult, reader, "reading the reader state")
        _, event, atr = states[0]
        if event & scard.SCARD_STATE_UNKNOWN:
            raise pcsc_error(scard.SCARD_E_UNKNOWN_READER, reader, "reading the reader state")
        present = bool(event & scard.SCARD_STATE_PRESENT)
        return present, bytes(atr) if present and atr else None

    def release(self) -> None:
        """Release the context; safe to call twice."""
        if not self._released:
            self._released = True
            scard.SCardReleaseContext(self.handle)

    def __enter__(self) -> PcscContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class ReaderEvent:
    """A change ``watch_readers`` saw: ``kind`` is one of the EVENT_* words."""

    at: dt.datetime
    reader: str
    kind: str
    atr: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(timespec="milliseconds"), "reader": self.reader,
                "event": self.kind, "atr": None if self.atr is None else self.atr.hex().upper()}


EVENT_PRESENT, EVENT_EMPTY = "card present", "no card"  # the state when the watch starts
EVENT_INSERTED, EVENT_REMOVED = "card inserted", "card removed"
EVENT_READER_ADDED, EVENT_READER_REMOVED = "reader added", "reader removed"
_WATCH_WAIT_MS = 500  # one SCardGetStatusChange wait; also how soon a new reader is seen


def watch_readers() -> Iterator[ReaderEvent]:
    """Card insertions and removals, readers plugged in and out, as pcsc_scan reports
    them: first each reader's state, then every change, until the caller stops.

    ``SCardGetStatusChange`` blocks until a reader's state differs from the one given
    (PC/SC part 5, clause 3.1.3); it returns after ``_WATCH_WAIT_MS`` at the latest, so
    the reader list is read again and a signal is handled between two waits.
    """
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    with PcscContext() as ctx:
        known: dict[str, int] = {}  # reader -> the state pcscd last reported
        first = True
        while True:
            names = ctx.reader_names()
            for gone in [n for n in known if n not in names]:
                del known[gone]
                yield ReaderEvent(now(), gone, EVENT_READER_REMOVED)
            for name in names:
                if name not in known:
                    present, atr = ctx.card_state(name)
                    known[name] = scard.SCARD_STATE_PRESENT if present else scard.SCARD_STATE_EMPTY
                    if not first:
                        yield ReaderEvent(now(), name, EVENT_READER_ADDED)
                    yield ReaderEvent(now(), name, EVENT_PRESENT if present else EVENT_EMPTY,
                                      atr)
            first = False
            if not known:
                time.sleep(_WATCH_WAIT_MS / 1000)
                continue
            hresult, states = scard.SCardGetStatusChange(
                ctx.handle, _WATCH_WAIT_MS, [(n, s) for n, s in known.items()])
            if _u32(hresult) in (_u32(scard.SCARD_E_TIMEOUT),
                                 _u32(scard.SCARD_E_UNKNOWN_READER)):
                continue  # nothing happened, or a reader went away: the list tells
            _check(hresult, None, "watching the readers")
            for name, event, atr in states:
                if not event & scard.SCARD_STATE_CHANGED:
                    continue
                was_present = bool(known[name] & scard.SCARD_STATE_PRESENT)
                known[name] = event & ~scard.SCARD_STATE_CHANGED
                present = bool(event & scard.SCARD_STATE_PRESENT)
                if present != was_present and not event & scard.SCARD_STATE_UNKNOWN:
                    yield ReaderEvent(now(), name, EVENT_INSERTED if present else EVENT_REMOVED,
                                      bytes(atr) if present and atr else None)


def list_readers() -> list[ReaderInfo]:
    """Every reader pcscd knows, with card presence and ATR (``simattest readers``)."""
    with PcscContext() as ctx:
        infos = []
        for index, name in enumerate(ctx.reader_names()):
            present, atr = ctx.card_state(name)
            infos.append(ReaderInfo(index, name, present, atr))
        return infos


def resolve_reader(spec: str, names: list[str]) -> str:
    """The one reader name a ``pcsc:`` URI body designates: an index, a reader's exact
    name, or a glob.

    The exact name is tried first: real names carry glob metacharacters (``HID Global
    OMNIKEY 3x21 Smart Card Reader [OMNIKEY 3x21 Smart Card Reader] 00 00``), whose
    brackets would otherwise be read as a character class and match nothing.
    """
    if not names:
        raise TransportError("no PC/SC readers found (is a reader plugged in?)")
    listed = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if index < 0:
            raise InputError(f"reader URI 'pcsc:{spec}': a reader index counts from 0")
        if index >= len(names):
            raise TransportError(
                f"reader index {index} is out of range: {len(names)} reader(s) ({listed})"
            )
        return names[index]
    if spec in names:
        return spec
    matches = [n for n in names if fnmatch.fnmatchcase(n, spec)]
    if not matches:
        raise TransportError(f"no reader matches {spec!r}; readers: {listed}")
    if len(matches) > 1:
        raise TransportError(
            f"reader pattern {spec!r} matches {len(matches)} readers: {', '.join(matches)}"
        )
    return matches[0]


# What pcscd may activate; it picks T=1 when the card offers it (fewer APDUs than T=0).
_ANY_PROTOCOL = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1


def protocol_for_atr(atr: bytes, reader: str | None = None) -> int:
    """T=1 when the ATR offers it (no procedure bytes, fewer APDUs), else T=0.

    Also the check that the ATR is well formed: a malformed one is refused before
    connecting, with the bytes named.
    """
    try:
        offers_t1 = ATR(list(atr)).isT1Supported()
    except (SmartcardException, IndexError):  # pyscard's parser on a truncated ATR
        where = f"reader {reader!r}" if reader else "the reader"
        raise TransportError(
            f"the card in {where} sent a malformed ATR {atr.hex().upper()}"
        ) from None
    return int(scard.SCARD_PROTOCOL_T1 if offers_t1 else scard.SCARD_PROTOCOL_T0)


class PcscTransport(Transport):
    """One card in one PC/SC reader, held until :meth:`close`."""

    def __init__(self, spec: str, *, exclusive: bool = True) -> None:
        super().__init__()
        self.uri = f"pcsc:{spec}"
        self._share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        self._ctx = PcscContext()
        self._card: int | None = None
        try:
            self.reader = resolve_reader(spec, self._ctx.reader_names())
            present, atr = self._ctx.card_state(self.reader)
            if not present or atr is None:
                raise pcsc_error(scard.SCARD_E_NO_SMARTCARD, self.reader, "connecting")
            preferred = protocol_for_atr(atr, self.reader)
            hresult, card, active = scard.SCardConnect(
                self._ctx.handle, self.reader, self._share, _ANY_PROTOCOL
            )
            _check(hresult, self.reader, "connecting to the card")
            self._card = card
            self._protocol = int(active)
            if self._protocol != preferred:
                log.debug("reader %r runs %s although the ATR offers T=1 (negotiated "
                          "earlier, or no PPS)", self.reader, self.protocol)
            self._atr = self._read_atr()
        except BaseException:
            self.close()
            raise

    @property
    def protocol(self) -> str:
        return "T=1" if self._protocol == scard.SCARD_PROTOCOL_T1 else "T=0"

    @property
    def atr(self) -> bytes:
        return self._atr

    def _handle(self) -> int:
        if self._card is None:
            raise TransportError(f"reader {self.reader!r} is closed")
        return self._card

    def _read_atr(self) -> bytes:
        hresult, _name, _state, _proto, atr = scard.SCardStatus(self._handle())
        _check(hresult, self.reader, "reading the ATR")
        return bytes(atr)

    def _exchange(self, command: bytes) -> bytes:
        pci = (
            scard.SCARD_PCI_T1 if self._protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        )
        hresult, response = scard.SCardTransmit(self._handle(), pci, list(command))
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._failed(hresult, "sending an APDU")
        if len(response) < 2:
            # A reader whose card vanished mid-command may report success with no status
            # word at all (vpcd does).
            raise self._failed(None, "sending an APDU")
        return bytes(response)

    def _failed(self, hresult: int | None, doing: str) -> TransportError:
        """Name a failed exchange precisely: a removed card or a vanished reader say so.

        pcscd learns of a removal at its next presence poll (every 400 ms), so a lost
        exchange waits a bounded moment for the reader state to settle.
        """
        if hresult is None or _u32(hresult) in _CONNECTION_LOST:
            deadline = time.monotonic() + _REMOVAL_GRACE
            while time.monotonic() < deadline:
                if not self._ctx.card_state(self.reader)[0]:
                    return CardRemovedError(
                        f"card removed from reader {self.reader!r} while {doing}"
                    )
                time.sleep(0.05)
        if hresult is None:
            return TransportError(f"reader {self.reader!r} returned no status word while {doing}")
        if _u32(hresult) in _DAEMON_LOST:
            return TransportError(
                f"reader {self.reader!r} is gone: pcscd stopped or restarted while {doing}"
            )
        return pcsc_error(hresult, self.reader, doing)

    def reset(self) -> bytes:
        """Warm-reset the card (``SCardReconnect`` with ``SCARD_RESET_CARD``)."""
        hresult, active = scard.SCardReconnect(
            self._handle(), self._share, _ANY_PROTOCOL, scard.SCARD_RESET_CARD
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._failed(hresult, "resetting the card")
        self._protocol = int(active)  # renegotiated after the reset
        self._atr = self._read_atr()
        return self._atr

    def close(self) -> None:
        """Disconnect, resetting the card so a verified PIN or open channel does not
        outlive this session, and release the context. Safe to call twice."""
        card, self._card = self._card, None
        if card is not None:
            scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)
        self._ctx.release()


register_scheme("pcsc", PcscTransport)
