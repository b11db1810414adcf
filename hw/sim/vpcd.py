"""Serve a simulated card to a real pcscd through the vsmartcard ``vpcd`` reader driver.

vpcd (Debian package ``vsmartcard-vpcd``) is a PC/SC reader driver that listens on a TCP
port (35963 for the first slot by default) and waits for a "virtual ICC" to connect.
This module is that virtual ICC, written from the protocol alone:

* every message, both ways, is a frame: a 2-byte big-endian length, then the payload;
* a 1-byte payload from vpcd is a control code: 0 power off, 1 power on, 2 reset,
  4 "send the ATR" (answered with the ATR; the other codes get no answer);
* any longer payload is a command APDU, answered with the card's response (data + SW).

vpcd treats "the TCP connection is open" as "a card is in the reader" (it asks for the
ATR on every presence poll), so removing the card is closing the connection: that is how
``SimulatedCard(remove_at=N)`` reaches pcscd, which then reports ``SCARD_W_REMOVED_CARD``.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Protocol

from attest.errors import CardRemovedError, SimattestError, TransportError
from hw.sw import SW

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963

# vpcd control codes (vsmartcard vpcd protocol).
CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4

# What a real card answers when its own software fails.
_SW_TECHNICAL_PROBLEM = SW.TECHNICAL_PROBLEM.to_bytes(2, "big")
_POLL = 0.1  # how often a blocked loop looks at the stop flag, in seconds


class VirtualCard(Protocol):
    """What the bridge needs from a card (``hw.sim.card.SimulatedCard`` is one)."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def reset(self) -> bytes: ...

    def process(self, apdu: bytes) -> bytes: ...

    @property
    def removed(self) -> bool: ...


class _Closed(Exception):
    """vpcd closed the connection (pcscd stopped or restarted)."""


class VpcdBridge:
    """One simulated card in one vpcd slot.

    ``run()`` serves in the calling thread, ``start()`` in a daemon thread; ``stop()``
    ends either (the connection is closed, so pcscd sees the card leave). If vpcd drops
    the connection the bridge reconnects every ``retry_delay`` seconds until stopped;
    once the card itself reports removal the bridge closes and stays out. ``notify``
    receives one line per event a person would want to see.
    """

    def __init__(
        self,
        card: VirtualCard,
        port: int = DEFAULT_PORT,
        host: str = DEFAULT_HOST,
        *,
        retry_delay: float = 0.2,
        silence_warning: float = 3.0,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.retry_delay = retry_delay
        self.silence_warning = silence_warning
        self.removed = False  # the card reported removal; the bridge will not come back
        self._notify = notify or (lambda message: log.info("%s", message))
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------
    def connect(self, timeout: float = 2.0) -> None:
        """Connect to vpcd once; raises TransportError when nothing listens there."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise TransportError(
                f"nothing accepts a virtual card at {self.address} ({exc.strerror or exc}); "
                "is pcscd running with the vpcd driver (package vsmartcard-vpcd)?"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self._sock = sock
        self._notify(f"card inserted into vpcd at {self.address}")

    def run(self) -> None:
        """Serve until :meth:`stop` or card removal; connects first if needed."""
        try:
            while not self._stop.is_set() and not self.removed:
                if self._sock is None and not self._reconnect():
                    break
                try:
                    self._serve_connection()
                except _Closed:
                    self._drop()
                    if not self._stop.is_set():
                        self._notify(f"vpcd at {self.address} closed the connection; reconnecting")
        finally:
            self._drop()

    def start(self) -> None:
        """Connect (raising if vpcd is not there) and serve in a background thread."""
        self.connect()
        self._thread = threading.Thread(target=self.run, name=f"vpcd-{self.port}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Take the card out of the reader and end the serving loop (bounded wait)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TransportError(f"vpcd bridge for {self.address} did not stop in {timeout} s")
            self._thread = None
        else:
            self._drop()

    # --- internals -------------------------------------------------------------------------
    def _reconnect(self) -> bool:
        while not self._stop.is_set():
            try:
                self.connect(timeout=self.retry_delay * 5)
                return True
            except TransportError:
                self._stop.wait(self.retry_delay)
        return False

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _serve_connection(self) -> None:
        # vpcd asks a new card for its ATR at its next presence poll (every 400 ms); a
        # slot that already holds a card leaves the connection queued and silent.
        silent_until = time.monotonic() + self.silence_warning
        while not self._stop.is_set():
            payload = self._recv_frame()
            if not payload:  # nothing arrived within the poll interval (or an empty frame)
                if time.monotonic() > silent_until:
                    silent_until = float("inf")
                    self._notify(
                        f"vpcd at {self.address} has not asked for the card in "
                        f"{self.silence_warning:g} s; is another card in that slot?"
                    )
                continue
            silent_until = float("inf")
            answer = self._handle(payload)
            if self.removed:
                self._notify(f"card removed from vpcd at {self.address}")
                self._drop()
                return
            if answer is not None:
                self._send_frame(answer)

    def _handle(self, payload: bytes) -> bytes | None:
        try:
            if len(payload) == 1:
                return self._control(payload[0])
            return self.card.process(payload)
        except CardRemovedError:
            self.removed = True
            return None
        except SimattestError as exc:
            # A fault in the simulated card must look like a faulty card, not kill the reader.
            log.warning("simulated card failed on APDU %s: %s", payload[:4].hex(), exc)
            return _SW_TECHNICAL_PROBLEM

    def _control(self, code: int) -> bytes | None:
        if code == CTRL_ATR:
            # vpcd asks for the ATR on every presence poll: the moment to notice a card
            # that was taken out between commands.
            if self.card.removed:
                raise CardRemovedError("card taken out")
            return self.card.atr
        if code == CTRL_ON:
            self.card.power_on()
            self._notify("power on")
        elif code == CTRL_OFF:
            self.card.power_off()
            self._notify("power off")
        elif code == CTRL_RESET:
            self.card.reset()
            self._notify("reset")
        else:
            log.warning("vpcd sent unknown control code %d; ignored", code)
        return None

    def _recv_frame(self) -> bytes | None:
        sock = self._sock
        assert sock is not None
        ready, _, _ = select.select([sock], [], [], _POLL)
        if not ready:
            return None
        (length,) = struct.unpack(">H", self._recv_exact(sock, 2))
        return self._recv_exact(sock, length)

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
                # vpcd writes the length and the payload separately without TCP_NODELAY:
                # Nagle holds the payload until our ACK, so ACK at once, not 40 ms later.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                raise _Closed from None
            if not chunk:
                raise _Closed
            buf += chunk
        return bytes(buf)

    def _send_frame(self, payload: bytes) -> None:
        sock = self._sock
        assert sock is not None
        try:
            sock.sendall(struct.pack(">H", len(payload)) + payload)
        except OSError:
            raise _Closed from None
