"""The card behind a cellular modem's AT port (3GPP TS 27.007 clauses 8.17, 8.43-8.46).

Reader URI ``modem:/dev/ttyUSB2[?baud=115200&timeout=5]`` (timeout in seconds, per AT
command; AUTHENTICATE gets :data:`SLOW_FACTOR` times as long because modules take
seconds over it).

- Basic channel: ``AT+CSIM=<len>,"<APDU>"`` → ``+CSIM: <len>,"<data+SW>"``
  (``<len>`` counts hex characters, TS 27.007 clause 8.17).
- The USIM on the basic channel; other applications (the ISIM), and the USIM when the
  modem refuses it the basic channel, on a logical channel: ``AT+CCHO="<AID>"`` →
  session id (bare or ``+CCHO:`` prefixed, decimal or hexadecimal),
  ``AT+CGLA=<sid>,<len>,"<APDU>"`` with the CLA channel bits left 0 (the modem sets
  them), ``AT+CCHC=<sid>`` (clauses 8.45, 8.43, 8.46). On a modem without CCHO/CGLA
  the channel is opened with MANAGE CHANNEL through CSIM and CLA carries the channel
  (TS 102 221 clause 10.1.1).
- T=0 procedure bytes go through :func:`hw.apdu.exchange` like every transport, so the
  answers are exactly the PC/SC path's.
- Support is never decided from ``=?`` test commands: several modules reject them.
- Every channel opened here (CCHO sessions and MANAGE CHANNEL through CSIM) is closed by
  :meth:`ModemTransport.close`, which ``__exit__`` runs on errors and Ctrl-C too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from attest.errors import InputError, SimattestError, TransportError
from hw import apdu as apdu_mod
from hw.apdu import Response
from hw.luhn import luhn_ok
from hw.transport.at import AtError, AtPort
from hw.transport.base import Channel, Transport, register_scheme

log = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
DEFAULT_TIMEOUT = 5.0
SLOW_FACTOR = 4  # AUTHENTICATE on a real module takes seconds
_SLOW_INS = frozenset({0x88, 0x89})  # AUTHENTICATE (even and odd INS)
USIM_AID_PREFIX = bytes.fromhex("A0000000871002")  # TS 31.102 annex A (RID + app code)

_CSIM = re.compile(r"^\+CSIM:")
_CGLA = re.compile(r"^\+CGLA:")
_CCHO = re.compile(r"^(\+CCHO:\s*)?\"?(0[xX])?[0-9A-Fa-f]+\"?$")
_SERIAL_NO = re.compile(r"^(\+C?GSN:\s*)?\"?\d{14,17}\"?$")
_APDU_ANSWER = re.compile(
    r'^\+C(SIM|GLA):\s*(?P<len>\d+)\s*,\s*(?P<q>"?)(?P<hex>[^"]*)(?P<end>"?)$'
)


@dataclass(frozen=True)
class HandsetIdentity:
    """The modem's (the ME's) identity: IMEI (Luhn-checked) and IMEISV when reported."""

    imei: str
    imeisv: str | None

    def to_json(self) -> dict[str, str]:
        """``imei``, and ``imeisv`` when the modem reported one (the ``read`` JSON keys)."""
        return {"imei": self.imei} | ({"imeisv": self.imeisv} if self.imeisv else {})


class SessionChannel(Channel):
    """A logical channel the modem opened with ``AT+CCHO``; APDUs go through ``AT+CGLA``."""

    def __init__(self, transport: ModemTransport, session_id: int, aid: bytes) -> None:
        # The card-side channel number is the modem's business: CLA channel bits stay 0.
        super().__init__(transport, 0)
        self.session_id = session_id
        self.aid = aid

    def __repr__(self) -> str:
        return f"SessionChannel({self.transport.uri!r}, session {self.session_id})"


def describe_apdu(at: str, command: bytes) -> str:
    """How an AT line carrying an APDU is named in logs and errors (PIN data never shown)."""
    return f"{at} (APDU {apdu_mod.loggable(command)})"


def parse_apdu_answer(line: str, port: str, what: str) -> bytes:
    """The response bytes of a ``+CSIM:`` / ``+CGLA:`` line, checked against its length field.

    Lowercase hex is accepted; a truncated line, an odd number of hex digits, non-hex
    characters or a length field that disagrees with the data are errors naming the
    port, the command and the field.
    """
    m = _APDU_ANSWER.match(line)
    if m is None or m.group("q") != m.group("end"):
        raise TransportError(f"modem {port}: truncated or malformed answer to {what}: {line!r}")
    text = m.group("hex")
    declared = int(m.group("len"))
    if len(text) % 2:
        raise TransportError(
            f"modem {port}: answer to {what} has an odd number of hex digits ({len(text)})"
        )
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise TransportError(f"modem {port}: answer to {what} is not hex: {text!r}") from None
    if declared != len(text):
        raise TransportError(
            f"modem {port}: answer to {what} says {declared} hex characters "
            f"but carries {len(text)}"
        )
    if len(data) < 2:
        raise TransportError(f"modem {port}: answer to {what} has no status word")
    return data


def parse_session_id(line: str, port: str) -> int:
    """A CCHO session id: ``+CCHO: 5``, ``5``, ``+CCHO: 1A``, ``0x1A`` (quotes allowed).

    TS 27.007 makes it an integer; some modules print it in hexadecimal. It is read as
    hexadecimal when it has a ``0x`` prefix or a digit A-F, as decimal otherwise.
    """
    token = line.split(":", 1)[1] if line.startswith("+CCHO:") else line
    token = token.strip().strip('"')
    try:
        if token.lower().startswith("0x") or any(c in "abcdefABCDEF" for c in token):
            return int(token, 16)
        return int(token)
    except ValueError:
        raise TransportError(f"modem {port}: unreadable AT+CCHO session id {line!r}") from None


class ModemTransport(Transport):
    """A UICC reached through a modem's AT port (pyserial, exclusive)."""

    def __init__(
        self, device: str, *, baud: int = DEFAULT_BAUD, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__()
        self.device = device
        self.uri = f"modem:{device}"
        self.timeout = timeout
        self._sessions: dict[int, SessionChannel] = {}
        self._session: SessionChannel | None = None  # the CCHO session of the APDU in flight
        self._csim_channels: set[int] = set()  # opened with MANAGE CHANNEL through CSIM
        self._identity: HandsetIdentity | None = None
        self.at = AtPort(device, baud=baud)
        try:
            self.at.resync(timeout=timeout)
            self.at.command("ATE0", timeout=timeout)
            self.at.command("AT+CMEE=1", timeout=timeout)
        except BaseException:
            self.at.close()
            raise
        self.startup_commands = self.at.commands_sent

    # --- Transport ------------------------------------------------------------------------
    @property
    def atr(self) -> bytes:
        """Empty: TS 27.007 has no command for the ATR (modems keep it to themselves)."""
        return b""

    def reset(self) -> bytes:
        """Close the channels opened here; the modem owns the card's power and reset."""
        self._close_channels()
        return b""

    def _timeout_for(self, command: bytes) -> float:
        slow = len(command) > 1 and command[1] in _SLOW_INS
        return self.timeout * SLOW_FACTOR if slow else self.timeout

    def _exchange(self, command: bytes) -> bytes:
        """One APDU: ``AT+CGLA`` on the current CCHO session, else ``AT+CSIM``."""
        if self._session is not None:
            sid = self._session.session_id
            what = describe_apdu(f"AT+CGLA={sid}", command)
            reply = self.at.command(
                f'AT+CGLA={sid},{2 * len(command)},"{command.hex().upper()}"',
                timeout=self._timeout_for(command),
                answer=_CGLA,
                what=what,
            )
            return self._single_apdu_answer(reply.lines, what)
        what = describe_apdu("AT+CSIM", command)
        reply = self.at.command(
            f'AT+CSIM={2 * len(command)},"{command.hex().upper()}"',
            timeout=self._timeout_for(command),
            answer=_CSIM,
            what=what,
        )
        raw = self._single_apdu_answer(reply.lines, what)
        self._track_manage_channel(command, raw)
        return raw

    def _single_apdu_answer(self, lines: tuple[str, ...], what: str) -> bytes:
        if len(lines) != 1:
            raise TransportError(
                f"modem {self.device}: expected one answer line to {what}, got {len(lines)}"
            )
        return parse_apdu_answer(lines[0], self.device, what)

    def _track_manage_channel(self, command: bytes, raw: bytes) -> None:
        """Remember channels opened with MANAGE CHANNEL (TS 102 221 11.1.17) to close them."""
        if len(command) < 4 or command[1] != 0x70 or not Response.from_bytes(raw).ok:
            return  # 91xx is a success too (TS 102 221 clause 10.2.1.1)
        if command[2] == 0x00:
            number = command[3] or (raw[0] if len(raw) == 3 else 0)
            if number:
                self._csim_channels.add(number)
        elif command[2] == 0x80:
            self._csim_channels.discard(command[3])

    def open_application_channel(self, aid: bytes) -> Channel | None:
        """A channel with ``aid`` selected: the USIM on the basic channel, others by CCHO.

        The USIM is SELECTed on the basic channel through CSIM (one AT command, as on
        PC/SC); only when the modem refuses that (it keeps the basic channel for its own
        USIM session) does it get a logical channel like every other application.
        ``AT+CCHO`` makes the modem open the channel and select ``aid``; the answer is a
        :class:`SessionChannel` whose APDUs go through ``AT+CGLA``. A modem that declines
        (``ERROR``, CME 3/4: no CCHO support, or it would not select that AID) gets the
        TS 102 221 way through CSIM: MANAGE CHANNEL open, SELECT by AID on that channel,
        and a plain :class:`Channel` (CLA carries the channel). When the card refuses
        the SELECT, None is returned, so the UICC layer selects on the basic channel
        and reports the card's own status word.
        """
        if aid.startswith(USIM_AID_PREFIX):
            try:
                selected = self.transmit(apdu_mod.build(0x00, 0xA4, 0x04, 0x0C, aid))
            except AtError as exc:
                if not exc.refused:
                    raise
                log.debug("modem %s: USIM refused on the basic channel (%s)", self.device, exc)
            else:
                return self.basic if selected.ok else None
        what = f'AT+CCHO="{aid.hex().upper()}"'
        try:
            reply = self.at.command(what, timeout=self.timeout * SLOW_FACTOR, answer=_CCHO)
        except AtError as exc:
            if not exc.refused:
                raise
            log.debug("modem %s: %s declined (%s); MANAGE CHANNEL instead", self.device, what, exc)
            return self._open_channel_through_csim(aid)
        if len(reply.lines) != 1:
            raise TransportError(
                f"modem {self.device}: expected one session id for {what}, got {len(reply.lines)}"
            )
        channel = SessionChannel(self, parse_session_id(reply.lines[0], self.device), aid)
        self._sessions[channel.session_id] = channel
        return channel

    def _open_channel_through_csim(self, aid: bytes) -> Channel | None:
        """MANAGE CHANNEL open + SELECT AID (TS 102 221 clauses 11.1.17, 11.1.1) via CSIM."""
        opened = self.transmit(apdu_mod.build(0x00, 0x70, 0x00, 0x00, le=0x01))
        if not opened.ok or len(opened.data) != 1:
            return None
        channel = Channel(self, opened.data[0])
        selected = self.transmit_on(channel, apdu_mod.build(0x00, 0xA4, 0x04, 0x0C, aid))
        if not selected.ok:
            self.close_channel(channel)
            return None
        return channel

    def transmit_on(self, channel: Channel, command: bytes) -> Response:
        """APDUs on a CCHO session go through ``AT+CGLA``; others CLA-encoded through CSIM.

        The session is set for the duration of the exchange, so the base class's counting,
        logging and T=0 handling (GET RESPONSE on the same session) apply unchanged.
        """
        if not isinstance(channel, SessionChannel):
            return super().transmit_on(channel, command)
        self._session = channel
        try:
            return self.transmit(command)
        finally:
            self._session = None

    def close_channel(self, channel: Channel) -> None:
        if not isinstance(channel, SessionChannel):
            super().close_channel(channel)
            return
        if self._sessions.pop(channel.session_id, None) is None:
            return  # already closed
        self.at.command(f"AT+CCHC={channel.session_id}", timeout=self.timeout)

    # --- the handset ----------------------------------------------------------------------
    def handset_identity(self) -> HandsetIdentity:
        """IMEI via ``AT+CGSN`` (or ``AT+GSN``), IMEISV via ``AT+CGSN=2`` when supported.

        TS 27.007 clause 5.4; the IMEI's check digit is verified (TS 23.003 annex B).
        """
        if self._identity is None:
            imei = self._serial_number("AT+CGSN") or self._serial_number("AT+GSN")
            if imei is None:
                raise TransportError(
                    f"modem {self.device}: neither AT+CGSN nor AT+GSN gave an IMEI"
                )
            if len(imei) != 15 or not luhn_ok(imei):
                raise TransportError(
                    f"modem {self.device}: IMEI {imei} from the modem fails the "
                    "15-digit Luhn check"
                )
            imeisv = self._serial_number("AT+CGSN=2")
            if imeisv is not None and (len(imeisv) != 16 or imeisv[:14] != imei[:14]):
                log.debug("modem %s: ignoring IMEISV %s (does not extend the IMEI)",
                          self.device, imeisv)
                imeisv = None
            self._identity = HandsetIdentity(imei, imeisv)
        return self._identity

    def _serial_number(self, command: str) -> str | None:
        try:
            reply = self.at.command(command, timeout=self.timeout, answer=_SERIAL_NO)
        except AtError:
            return None
        if not reply.lines:
            return None
        value = reply.lines[0]
        if ":" in value:
            value = value.split(":", 1)[1]
        return value.strip().strip('"')

    # --- closing ----------------------------------------------------------------------
    def _close_channels(self) -> None:
        for channel in list(self._sessions.values()):
            self.close_channel(channel)
        for number in sorted(self._csim_channels):
            super().close_channel(Channel(self, number))

    def close(self) -> None:
        """Close every channel opened here, then release the port (idempotent)."""
        if not self.at.is_open:
            return
        try:
            self._close_channels()
        except SimattestError as exc:
            log.warning("modem %s: closing channels: %s", self.device, exc)
        finally:
            self._sessions.clear()
            self._csim_channels.clear()
            self.at.close()


def parse_modem_uri(rest: str) -> tuple[str, int, float]:
    """``/dev/ttyUSB2?baud=115200&timeout=5`` → (device, baud, timeout)."""
    device, _, query = rest.partition("?")
    baud, timeout = DEFAULT_BAUD, DEFAULT_TIMEOUT
    for key, value in parse_qsl(query, keep_blank_values=True):
        try:
            if key == "baud":
                baud = int(value)
                if baud <= 0:
                    raise ValueError
            elif key == "timeout":
                timeout = float(value)
                if not 0 < timeout < 3600:
                    raise ValueError
            else:
                raise InputError(f"reader modem:{rest}: unknown option {key!r} (baud, timeout)")
        except ValueError:
            raise InputError(f"reader modem:{rest}: {key}={value!r} is not a valid {key}") from None
    if not device:
        raise InputError("reader modem: needs a device path, e.g. modem:/dev/ttyUSB2")
    return device, baud, timeout


def _open(rest: str) -> Transport:
    device, baud, timeout = parse_modem_uri(rest)
    return ModemTransport(device, baud=baud, timeout=timeout)


register_scheme("modem", _open)

