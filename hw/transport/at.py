"""The AT command line protocol over a serial port (3GPP TS 27.007, ITU-T V.250).

One command at a time: write ``AT...\\r``, read lines until a final result code
(``OK``, ``ERROR``, ``+CME ERROR: <n|text>``, ``+CMS ERROR: ...``). Lines the caller is
waiting for are matched by a pattern; the echo of the command is dropped; every other
line is an unsolicited result code (``RDY``, ``+QUSIM: 1``, ``PB DONE``...) that is
logged at debug level and set aside (:attr:`AtPort.urcs`), never a parse failure.

The port is opened with pyserial's ``exclusive=True``, which takes ``fcntl.flock``
(``LOCK_EX | LOCK_NB``) on the device, so a second process gets "port busy" instead of
interleaving its commands with ours. The kernel drops the lock with the descriptor, so
it is released on every exit path, a killed process included.
"""

from __future__ import annotations

import logging
import os
import re
import select
import time
from collections import deque
from dataclasses import dataclass

import serial

from attest.errors import TransportError

log = logging.getLogger(__name__)

# TS 27.007 clause 9.2.1 (general errors) — the ones a SIM-card path meets.
CME_ERRORS: dict[int, str] = {
    0: "phone failure",
    1: "no connection to phone",
    2: "phone-adaptor link reserved",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    30: "no network service",
    31: "network timeout",
    50: "incorrect parameters",
    100: "unknown",
}
_CME_BY_TEXT = {text.lower(): code for code, text in CME_ERRORS.items()}
# The modem understood the command and declined it (rather than the SIM failing).
REFUSAL_CODES = frozenset({3, 4})
_PIN_CODES = frozenset({5, 11, 12, 17, 18})

_FINAL_OK = "OK"
_FINAL_ERROR = re.compile(r"^(ERROR|\+CM[ES] ERROR:\s*(?P<detail>.*))$")
_URC_KEEP = 32  # how many set-aside unsolicited lines to remember


class AtError(TransportError):
    """The modem ended a command with ``ERROR`` or ``+CME ERROR`` (exit 3).

    ``code`` is the TS 27.007 numeric code when the modem gave one (text errors are
    mapped back to their number when known), None for a bare ``ERROR``.
    """

    def __init__(self, port: str, command: str, code: int | None, text: str) -> None:
        self.port = port
        self.command = command
        self.code = code
        self.text = text
        if code is None and not text:
            detail = "ERROR"
        else:
            shown = text or CME_ERRORS.get(code or -1, "unknown error")
            detail = f"+CME ERROR {code}: {shown}" if code is not None else f"+CME ERROR: {shown}"
        super().__init__(f"modem {port}: {command} failed: {detail}")

    @property
    def refused(self) -> bool:
        """True when the modem declined the command itself (ERROR, not allowed/supported)."""
        return self.code is None or self.code in REFUSAL_CODES


class AtPinError(AtError):
    """``+CME ERROR`` saying a PIN/PUK is needed: the card said no (exit 1)."""

    exit_code = 1


def cme_error(port: str, command: str, line: str) -> AtError:
    """Build the error for a final ``ERROR`` / ``+CME ERROR: <n|text>`` line."""
    m = _FINAL_ERROR.match(line)
    detail = (m.group("detail") if m else "") or ""
    detail = detail.strip().strip('"')
    code: int | None
    if not detail:
        code, text = None, ""
    elif detail.isdigit():
        code = int(detail)
        text = CME_ERRORS.get(code, "")
    else:
        code = _CME_BY_TEXT.get(detail.lower())
        text = detail
    cls = AtPinError if code in _PIN_CODES else AtError
    return cls(port, command, code, text)


@dataclass(frozen=True)
class AtReply:
    """The lines a command was answered with (echo and URCs removed)."""

    lines: tuple[str, ...]


class AtPort:
    """An AT command port: one exclusive serial connection, one command at a time.

    ``label`` is how the port is named in errors (the path the user gave).
    """

    def __init__(self, device: str, *, baud: int = 115200, label: str | None = None) -> None:
        self.label = label or device
        self.commands_sent = 0  # AT command lines written, for the benchmarks
        self.urcs: deque[str] = deque(maxlen=_URC_KEEP)
        self._buf = bytearray()
        self._pending: str | None = None  # a command whose final result we never read
        try:
            self._serial = serial.Serial(device, baud, timeout=0, exclusive=True)
        except serial.SerialException as exc:
            if "lock" in str(exc).lower():
                raise TransportError(
                    f"modem {self.label}: port busy (another process holds it)"
                ) from None
            raise TransportError(f"modem {self.label}: cannot open port: {_reason(exc)}") from None

    # --- lines ------------------------------------------------------------------------
    def _read_line(self, deadline: float, what: str) -> str | None:
        """The next non-empty line, or None at the deadline."""
        while True:
            line = self._take_line()
            if line is not None:
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                # select here rather than pyserial's timeout: setting that re-runs tcsetattr
                ready, _, _ = select.select([self._serial.fileno()], [], [], left)
                if not ready:
                    continue
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError, ValueError) as exc:
                raise TransportError(
                    f"modem {self.label}: port disappeared during {what} ({_reason(exc)})"
                ) from None
            self._buf += chunk

    def _take_line(self) -> str | None:
        while True:
            cut = next((i for i, b in enumerate(self._buf) if b in (0x0D, 0x0A)), -1)
            if cut < 0:
                return None
            raw = bytes(self._buf[:cut])
            del self._buf[: cut + 1]
            text = raw.decode("ascii", errors="replace").strip()
            if text:
                return text

    def _write(self, command: str, what: str) -> None:
        try:
            self._serial.write(command.encode("ascii") + b"\r")
        except (serial.SerialException, OSError) as exc:
            raise TransportError(
                f"modem {self.label}: port disappeared during {what} ({_reason(exc)})"
            ) from None
        self.commands_sent += 1

    def _set_aside(self, line: str) -> None:
        log.debug("modem %s: unsolicited %r set aside", self.label, line)
        self.urcs.append(line)

    # --- commands ---------------------------------------------------------------------
    def command(
        self,
        command: str,
        *,
        timeout: float,
        answer: re.Pattern[str] | None = None,
        what: str | None = None,
    ) -> AtReply:
        """Send ``command`` and wait for its final result code.

        Lines matching ``answer`` are returned; anything else (URCs, noise) is set aside.
        ``what`` names the command in errors and logs when the full text must not be
        shown (APDU data may carry a PIN). Raises :class:`AtError` on ``ERROR`` /
        ``+CME ERROR`` and :class:`TransportError` when no final result arrives in time.
        """
        what = what or command
        if self._pending is not None:
            self._drain_pending(timeout)
        log.debug("modem %s: > %s", self.label, what)
        self._write(command, what)
        self._pending = what
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            line = self._read_line(deadline, what)
            if line is None:
                raise TransportError(
                    f"modem {self.label}: no answer to {what} within {timeout:g} s"
                )
            if line == _FINAL_OK:
                self._pending = None
                return AtReply(tuple(lines))
            if _FINAL_ERROR.match(line):
                self._pending = None
                raise cme_error(self.label, what, line)
            if line.upper() == command.upper():
                continue  # echo (ATE0 not honoured or not yet sent)
            if answer is not None and answer.match(line):
                lines.append(line)  # not logged: an AUTHENTICATE answer carries CK/IK
            else:
                self._set_aside(line)

    def _drain_pending(self, timeout: float) -> None:
        """Read and drop the answer of a command that was interrupted (Ctrl-C, timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._read_line(deadline, self._pending or "")
            if line is None or line == _FINAL_OK or _FINAL_ERROR.match(line):
                break
        self._pending = None

    def resync(self, *, timeout: float, attempt_wait: float = 1.5) -> None:
        """Bring the line to a known state: send ``AT`` until ``OK``.

        Echo and leftovers from an earlier session are dropped. A modem that has just
        appeared may ignore the first ``AT`` lines, so it is repeated every
        ``attempt_wait`` seconds until ``timeout``. The wait is longer than a slow
        module's answer delay, so an ``OK`` is not left over for the next command.
        """
        self._serial.reset_input_buffer()
        self._buf.clear()
        self._pending = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._write("AT", "AT")
            wait_until = min(deadline, time.monotonic() + attempt_wait)
            while True:
                line = self._read_line(wait_until, "AT")
                if line is None:
                    break
                if line == _FINAL_OK:
                    return
                if line.upper() != "AT":
                    self._set_aside(line)
        raise TransportError(f"modem {self.label}: no answer to AT within {timeout:g} s")

    @property
    def is_open(self) -> bool:
        return bool(self._serial.is_open)

    def close(self) -> None:
        """Close the port (drops the exclusive lock); safe to call twice."""
        self._serial.close()


def _reason(exc: BaseException) -> str:
    # pyserial folds the OS error into its own message ("could not open port X: [Errno 2]
    # No such file or directory: 'X'"); its errno gives the operating system's words alone.
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    return str(exc)
