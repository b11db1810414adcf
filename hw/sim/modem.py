"""A simulated cellular modem on a pty: AT commands in front of a simulated UICC.

It answers the TS 27.007 commands simattest uses (``AT``, ``ATE0/1``, ``AT+CMEE``,
``AT+CSIM``, ``AT+CCHO``, ``AT+CGLA``, ``AT+CCHC``, ``AT+CGSN[=n]``, ``AT+GSN``) and those
other tools open a modem with (``ATZ``, ``ATI``, ``AT+GMI/GMM/GMR``, ``AT+CGMI/CGMM/CGMR``,
``AT+CPIN?`` and the test commands ``=?``) with V.250 framing (``\\r\\n<line>\\r\\n``), and
can imitate the habits of real modules (:data:`QUIRKS`; ``no-test-cmds`` refuses every
``=?``, as some modules do). Like a module, it resolves T=0 ``61xx`` itself inside
``AT+CCHO`` (the SELECT it sends), and passes every other answer through unchanged.

Bad input gets what a module answers, and changes nothing: an unknown command ``ERROR``;
a command line longer than :data:`MAX_LINE` characters ``ERROR`` once it is terminated
(ITU-T V.250 clause 5.2.1), its characters discarded; a ``+CSIM``/``+CGLA`` whose length
disagrees with its hex, or whose hex is not an APDU, ``+CME ERROR: 50`` (incorrect
parameters, TS 27.007 clause 9.2.1) without reaching the card.

A client opens the pty's slave side (or the symlink) with pyserial like a real port.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import re
import select
import threading
import tty
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from attest.errors import CardError, CardRemovedError, InputError
from hw import apdu as apdu_mod
from hw.luhn import luhn_ok
from hw.sw import SW, SWFamily
from hw.transport.at import CME_ERRORS
from hw.uicc.ts_102_221 import FID_MF, PIN1, parse_fcp

log = logging.getLogger(__name__)

QUIRKS: dict[str, str] = {
    "echo": "command echo stays on after ATE0",
    "urc": "unsolicited lines between and inside answers",
    "no-basic-isim": "SELECT of the ISIM AID on the basic channel refused with +CME ERROR: 3",
    "no-basic-usim": "SELECT of the USIM AID on the basic channel refused with +CME ERROR: 3 "
    "(the modem keeps it for its own USIM session)",
    "ccho-prefix": "AT+CCHO answers '+CCHO: <id>' instead of a bare id",
    "ccho-hex": "AT+CCHO reports the session id in hexadecimal",
    "no-cgla": "no AT+CCHO/+CGLA/+CCHC (plain ERROR): only AT+CSIM",
    "slow": "every answer delayed by about a second",
    "garbage": "noise bytes before the first answer",
    "no-sim": "+CME ERROR: 10 (SIM not inserted) for every SIM command",
    "lower-hex": "APDU answers in lowercase hex",
    "cme-text": "+CME ERROR with text instead of numbers whatever AT+CMEE says",
    "cgsn-prefix": "AT+CGSN answers '+CGSN: \"<imei>\"'",
    "no-cgsn": "AT+CGSN refused (ERROR); the IMEI only through AT+GSN",
    "no-test-cmds": "every test command (AT...=?) refused with ERROR",
}

# 3GPP TS 23.003 annex B example IMEI (Luhn-valid), used when no IMEI is configured.
TEST_IMEI = "490154203237518"
TEST_SVN = "01"
SLOW_DELAY = 1.0
MAX_LINE = 2048  # characters of one command line the modem buffers (V.250 clause 5.2.1)
MANUFACTURER = "simattest"
MODEL = "simulated modem"
_CME_INCORRECT_PARAMETERS = 50  # TS 27.007 clause 9.2.1
ISIM_AID_PREFIX = bytes.fromhex("A0000000871004")
USIM_AID_PREFIX = bytes.fromhex("A0000000871002")
_SESSION_BASE = 0xA0  # session ids 161, 162 ... (hex A1, A2 ...): both forms unambiguous
_URC_LINES = ("+QUSIM: 1", "+CPIN: READY", "PB DONE", "SMS DONE", '+QIND: "csq",20,99', "RDY")
_NOISE = b"\x00\xfe\x1b[0m\x7f\xa5~~\x13"

_CSIM = re.compile(r'^(\d{1,4}),"([^"]*)"$')
_CGLA = re.compile(r'^(\d{1,3}),(\d{1,4}),"([^"]*)"$')
_CCHO = re.compile(r'^"([0-9A-Fa-f]{10,32})"$')  # an AID: RID + PIX, 5..16 bytes
_CCHC = re.compile(r"^(\d{1,3})$")
_MAX_APDU = 4 + 1 + 255 + 1  # a short APDU: header, Lc, 255 data bytes, Le

# Test commands (=?) and their information text, as TS 27.007 (and V.250 for +G...)
# gives it: the generic SIM access commands answer OK alone (clauses 8.17, 8.45, 8.43,
# 8.46), +CMEE and +CGSN list their parameter values (clauses 9.1, 5.4).
_TEST_ANSWERS: dict[str, list[str]] = {
    "AT+CSIM=?": [], "AT+CCHO=?": [], "AT+CGLA=?": [], "AT+CCHC=?": [],
    "AT+CMEE=?": ["+CMEE: (0-2)"], "AT+CGSN=?": ["+CGSN: (0-2)"], "AT+GSN=?": [],
    "AT+CPIN=?": [], "AT+CGMI=?": [], "AT+CGMM=?": [], "AT+CGMR=?": [],
    "AT+GMI=?": [], "AT+GMM=?": [], "AT+GMR=?": [],
}
_NATIVE_CHANNEL_COMMANDS = ("AT+CCHO", "AT+CGLA", "AT+CCHC")


class Card(Protocol):
    """What the modem needs from a UICC (``hw.sim.card.SimulatedCard`` fits)."""

    def process(self, apdu: bytes) -> bytes: ...


@dataclass
class Faults:
    """Link faults for tests (not quirks of a working modem).

    ``ignore_first``: the first N command lines get no answer (firmware still booting).
    ``vanish_at``: the pty disappears when the N-th command line (1-based) arrives.
    ``mute_from``: from the N-th command line on, nothing is answered.
    ``rewrite``: applied to every ``+CSIM:``/``+CGLA:`` line before it is sent.
    ``error_for``: a command line → a CME code to answer with instead (None: answer it).
    """

    ignore_first: int = 0
    vanish_at: int | None = None
    mute_from: int | None = None
    rewrite: Callable[[str], str] | None = None
    error_for: Callable[[str], int | None] | None = None


class _Cme(Exception):
    def __init__(self, code: int | None) -> None:
        self.code = code


def _parameters(pattern: re.Pattern[str], text: str) -> re.Match[str]:
    """The parameters of a command the modem knows, or +CME ERROR: 50 when malformed."""
    m = pattern.match(text)
    if m is None:
        raise _Cme(_CME_INCORRECT_PARAMETERS)
    return m


def _revision() -> str:
    try:
        return importlib.metadata.version("simattest")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def parse_quirks(text: str | Iterable[str]) -> frozenset[str]:
    """``"echo,urc"`` or an iterable of names → a checked set of quirk names."""
    names = [q.strip() for q in (text.split(",") if isinstance(text, str) else text)]
    names = [q for q in names if q]
    unknown = sorted(set(names) - set(QUIRKS))
    if unknown:
        raise InputError(
            f"unknown modem quirk(s) {', '.join(unknown)}; known: {', '.join(QUIRKS)}"
        )
    return frozenset(names)


def check_imei(imei: str) -> str:
    """``imei`` if it is 15 digits with a valid Luhn check digit (TS 23.003 annex B)."""
    if len(imei) != 15 or not imei.isdigit() or not luhn_ok(imei):
        raise InputError(f"IMEI {imei!r} is not 15 digits with a valid Luhn check digit")
    return imei


class SimulatedModem:
    """AT front end of ``card`` on a pty; :meth:`start` serves it on a thread."""

    def __init__(
        self,
        card: Card,
        *,
        quirks: Iterable[str] = (),
        imei: str | None = None,
        slow_delay: float = SLOW_DELAY,
        faults: Faults | None = None,
    ) -> None:
        self.card = card
        self.quirks = parse_quirks(quirks)
        self.imei = check_imei(imei) if imei else TEST_IMEI
        self.slow_delay = slow_delay
        self.faults = faults or Faults()
        self.commands: list[str] = []  # every command line received, in order
        self.sessions: dict[int, int] = {}  # CCHO session id -> card channel
        self.csim_channels: set[int] = set()  # channels opened with MANAGE CHANNEL via CSIM
        self.link: Path | None = None
        self._echo = True
        self._cmee = 0
        self._answered = False
        self._removed = False
        self._urc_turn = 0
        self._master = -1
        self._slave = -1
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------
    def open(self, link: Path) -> Path:
        """Create the pty and the symlink ``link`` to its slave side; return ``link``.

        A symlink already at ``link`` (left by an earlier run) is replaced; anything else
        there is not touched: the path may be a mistake, and deleting a file is not ours
        to do.
        """
        link = Path(link)
        if link.exists() and not link.is_symlink():
            raise InputError(f"--link {link}: exists and is not a symlink; not replacing it")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass as they are
        self._wake_r, self._wake_w = os.pipe()
        try:
            if link.is_symlink():
                link.unlink()
            link.symlink_to(os.ttyname(self._slave))
        except OSError as exc:
            self._close_pty()
            raise InputError(f"--link {link}: cannot create the link ({exc.strerror})") from None
        self.link = link
        if "urc" in self.quirks:
            self._send_line("RDY")
        return link

    def serve(self) -> None:
        """Answer commands until :meth:`stop` (or a ``vanish`` fault)."""
        pending = bytearray()
        overflow = False  # the current line went past MAX_LINE: dropped until its end
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready or self._stop.is_set():
                break
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                break  # the pty is gone
            pending += chunk
            while True:
                cut = next((i for i, b in enumerate(pending) if b in (0x0D, 0x0A)), -1)
                if cut < 0:
                    if len(pending) > MAX_LINE:
                        pending.clear()
                        overflow = True
                    break
                raw = bytes(pending[:cut])
                del pending[: cut + 1]
                if overflow or len(raw) > MAX_LINE:
                    overflow = False
                    self._send_line("ERROR")
                    continue
                line = raw.decode("ascii", errors="replace").strip()
                if line and not self._on_line(line):
                    return

    def start(self, link: Path) -> Path:
        """Open the pty and serve it on a daemon thread."""
        self.open(link)
        self._thread = threading.Thread(target=self.serve, name="simulated-modem", daemon=True)
        self._thread.start()
        return link

    def stop(self) -> None:
        """Stop serving, close the pty and remove the link (idempotent)."""
        self._stop.set()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._close_pty()

    def __enter__(self) -> SimulatedModem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    # --- the line -----------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def _send_line(self, line: str) -> None:
        self._write(b"\r\n" + line.encode("ascii") + b"\r\n")

    def _urc(self) -> None:
        if "urc" in self.quirks:
            self._send_line(_URC_LINES[self._urc_turn % len(_URC_LINES)])
            self._urc_turn += 1

    def _on_line(self, line: str) -> bool:
        """Handle one command line; False when the modem vanished."""
        self.commands.append(line)
        n = len(self.commands)
        if self.faults.vanish_at is not None and n >= self.faults.vanish_at:
            log.debug("simulated modem: vanishing at command %d", n)
            self._stop.set()
            self._close_pty()
            return False
        muted = self.faults.mute_from is not None and n >= self.faults.mute_from
        if muted or n <= self.faults.ignore_first:
            return True
        if self._echo:
            self._write(line.encode("ascii", errors="replace") + b"\r")
        if "slow" in self.quirks and self._stop.wait(self.slow_delay):
            return False
        if "garbage" in self.quirks and not self._answered:
            self._write(_NOISE)
        self._answered = True
        self._urc()
        try:
            code = self.faults.error_for(line) if self.faults.error_for else None
            if code is not None:
                raise _Cme(code)
            info = self._answer(line)
        except _Cme as err:
            self._send_line(self._error_line(err.code))
            return True
        for text in info:
            self._send_line(text)
            self._urc()
        self._send_line("OK")
        return True

    def _error_line(self, code: int | None) -> str:
        if code is None or (self._cmee == 0 and "cme-text" not in self.quirks):
            return "ERROR"
        if self._cmee == 2 or "cme-text" in self.quirks:
            return f"+CME ERROR: {CME_ERRORS.get(code, 'unknown')}"
        return f"+CME ERROR: {code}"

    # --- commands -----------------------------------------------------------------------
    def _answer(self, line: str) -> list[str]:
        upper = line.upper()
        if upper.endswith("=?"):
            return self._test_command(upper)
        if upper == "AT":
            return []
        if upper in ("ATZ", "ATZ0"):
            # V.250 clause 6.1.1: back to the default settings (echo on, numeric-free
            # errors); the SIM and its channels are not the modem's settings.
            self._echo, self._cmee = True, 0
            return []
        if upper in ("ATE0", "ATE1"):
            self._echo = upper == "ATE1" or "echo" in self.quirks
            return []
        if upper in ("ATI", "ATI0"):
            return [MANUFACTURER, MODEL, f"Revision: {_revision()}"]
        if upper in ("AT+CGMI", "AT+GMI"):
            return [MANUFACTURER]
        if upper in ("AT+CGMM", "AT+GMM"):
            return [MODEL]
        if upper in ("AT+CGMR", "AT+GMR"):
            return [_revision()]
        if upper == "AT+CPIN?":
            return [f"+CPIN: {self._pin_state()}"]
        if upper == "AT+CMEE?":
            return [f"+CMEE: {self._cmee}"]
        if upper.startswith("AT+CMEE="):
            value = upper[8:]
            if value not in ("0", "1", "2"):
                raise _Cme(None)
            self._cmee = int(value)
            return []
        if upper in ("AT+CGSN", "AT+CGSN=0", "AT+CGSN=1", "AT+CGSN=2"):
            if "no-cgsn" in self.quirks:
                raise _Cme(None)
            if upper.endswith("=2"):
                return [f'+CGSN: "{self.imei[:14]}{TEST_SVN}"']
            return [f'+CGSN: "{self.imei}"' if "cgsn-prefix" in self.quirks else self.imei]
        if upper == "AT+GSN":
            return [self.imei]
        if upper.startswith("AT+CSIM="):
            m = _parameters(_CSIM, line[8:])
            return [self._csim(int(m.group(1)), m.group(2))]
        if upper.startswith(_NATIVE_CHANNEL_COMMANDS) and upper[7:8] == "=":
            if "no-cgla" in self.quirks:
                raise _Cme(None)
            verb, arguments = upper[:7], line[8:]
            if verb == "AT+CCHO":
                return [self._ccho(bytes.fromhex(_parameters(_CCHO, arguments).group(1)))]
            if verb == "AT+CGLA":
                m = _parameters(_CGLA, arguments)
                return [self._cgla(int(m.group(1)), int(m.group(2)), m.group(3))]
            self._cchc(int(_parameters(_CCHC, arguments).group(1)))
            return []
        raise _Cme(None)

    def _test_command(self, upper: str) -> list[str]:
        """The answer to ``AT+XXX=?``: what the command accepts, or ERROR if not offered."""
        answer = _TEST_ANSWERS.get(upper)
        refused = (
            answer is None
            or "no-test-cmds" in self.quirks
            or ("no-cgla" in self.quirks and upper.startswith(_NATIVE_CHANNEL_COMMANDS))
            or ("no-cgsn" in self.quirks and upper == "AT+CGSN=?")
        )
        if refused:
            raise _Cme(None)
        return list(answer or ())

    def _pin_state(self) -> str:
        """``+CPIN:`` value (TS 27.007 clause 8.3), found as a module finds it: PIN1's
        enabled flag from the MF's FCP (PIN status template, TS 102 221 clause 9.5.2),
        read on a logical channel of its own so the client's selections stay as they
        are, then the retry query VERIFY without data (clause 11.1.9)."""
        opened = apdu_mod.Response.from_bytes(self._card(bytes.fromhex("0070000001")))
        if opened.sw != SW.OK or len(opened.data) != 1:
            raise _Cme(14)  # SIM busy: every channel taken
        channel = opened.data[0]
        try:
            select_mf = apdu_mod.build(0x00, 0xA4, 0x00, 0x04, FID_MF, le=0)
            resp = apdu_mod.exchange(self._card, apdu_mod.set_channel(select_mf, channel))
        finally:
            self._card(apdu_mod.build(0x00, 0x70, 0x80, channel))
        if not resp.ok:
            raise _Cme(13)
        try:
            enabled = parse_fcp(resp.data).pins.get(PIN1, False)
        except CardError:
            raise _Cme(13) from None
        if not enabled:
            return "READY"
        query = apdu_mod.Response.from_bytes(self._card(apdu_mod.build(0x00, 0x20, 0x00, PIN1)))
        if query.sw == SW.OK:
            return "READY"
        if query.sw in (SW.PIN_BLOCKED, SWFamily.RETRIES_LEFT.sw(0)):
            return "SIM PUK"
        return "SIM PIN"

    def _card(self, apdu: bytes) -> bytes:
        if "no-sim" in self.quirks or self._removed:
            raise _Cme(10)
        try:
            return self.card.process(apdu)
        except CardRemovedError:
            self._removed = True
            raise _Cme(13) from None

    @staticmethod
    def _apdu(length: int, text: str) -> bytes:
        """The APDU of a +CSIM/+CGLA: ``length`` counts its hex characters (TS 27.007
        clause 8.17); a disagreeing length, odd or non-hex text, or something that is not
        a short APDU is refused before it reaches the card."""
        if length != len(text) or len(text) % 2 or not 8 <= len(text) <= 2 * _MAX_APDU:
            raise _Cme(_CME_INCORRECT_PARAMETERS)
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise _Cme(_CME_INCORRECT_PARAMETERS) from None

    def _apdu_line(self, name: str, raw: bytes) -> str:
        text = raw.hex() if "lower-hex" in self.quirks else raw.hex().upper()
        line = f'+{name}: {len(text)},"{text}"'
        return self.faults.rewrite(line) if self.faults.rewrite else line

    def _csim(self, length: int, text: str) -> str:
        apdu = self._apdu(length, text)
        if apdu_mod.channel_of(apdu[0]) == 0 and apdu[1] == 0xA4 and apdu[2] == 0x04:
            refused = {ISIM_AID_PREFIX: "no-basic-isim", USIM_AID_PREFIX: "no-basic-usim"}
            for prefix, quirk in refused.items():
                if quirk in self.quirks and apdu[5:].startswith(prefix):
                    raise _Cme(3)
        raw = self._card(apdu)
        if apdu[1] == 0x70 and apdu_mod.Response.from_bytes(raw).sw == SW.OK:
            if apdu[2] == 0x00:
                self.csim_channels.add(apdu[3] or raw[0])
            elif apdu[2] == 0x80:
                self.csim_channels.discard(apdu[3])
        return self._apdu_line("CSIM", raw)

    def _ccho(self, aid: bytes) -> str:
        opened = apdu_mod.Response.from_bytes(self._card(bytes.fromhex("0070000001")))
        if opened.sw != SW.OK or len(opened.data) != 1:
            raise _Cme(4)
        channel = opened.data[0]
        select_apdu = apdu_mod.build(0x00, 0xA4, 0x04, 0x04, aid, le=0)
        resp = apdu_mod.exchange(self._card, apdu_mod.set_channel(select_apdu, channel))
        if not resp.ok:
            self._card(apdu_mod.build(0x00, 0x70, 0x80, channel))
            raise _Cme(4)
        sid = _SESSION_BASE + channel
        self.sessions[sid] = channel
        shown = f"{sid:X}" if "ccho-hex" in self.quirks else str(sid)
        return f"+CCHO: {shown}" if "ccho-prefix" in self.quirks else shown

    def _cgla(self, sid: int, length: int, text: str) -> str:
        apdu = self._apdu(length, text)  # parameters are checked before the session
        if sid not in self.sessions:
            raise _Cme(21)
        apdu = apdu_mod.set_channel(apdu, self.sessions[sid])
        return self._apdu_line("CGLA", self._card(apdu))

    def _cchc(self, sid: int) -> None:
        channel = self.sessions.pop(sid, None)
        if channel is None:
            raise _Cme(21)
        self._card(apdu_mod.build(0x00, 0x70, 0x80, channel))

