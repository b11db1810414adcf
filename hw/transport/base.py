"""The transport interface every reader kind implements, and reader URIs.

A transport moves one APDU to the card and the answer back. T=0 procedure bytes are
resolved once, in :func:`hw.apdu.exchange`; logical channels are a :class:`Channel`
whose APDUs carry the channel number in CLA (ETSI TS 102 221 clause 10.1.1), unless the
transport has a native way to reach an application (a modem's ``AT+CCHO``/``AT+CGLA``).

Reader URIs: ``pcsc:0``, ``pcsc:<name glob>``, ``sim:<card file>``,
``modem:/dev/ttyUSB2[?baud=115200&timeout=5]``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Self

from attest.errors import CardError, InputError
from hw import apdu as apdu_mod
from hw.apdu import Response

log = logging.getLogger(__name__)


class Channel:
    """A logical channel to the card; channel 0 is the basic channel."""

    def __init__(self, transport: Transport, number: int) -> None:
        self.transport = transport
        self.number = number

    def transmit(self, command: bytes) -> Response:
        return self.transport.transmit_on(self, command)

    def close(self) -> None:
        self.transport.close_channel(self)

    def __repr__(self) -> str:
        return f"Channel({self.transport.uri!r}, {self.number})"


class Transport(ABC):
    """One card behind one reader (or modem). A context manager; ``close`` is idempotent."""

    uri: str = ""

    def __init__(self) -> None:
        self.apdu_count = 0  # raw APDU exchanges on the wire, GET RESPONSE included
        self.basic = Channel(self, 0)

    # --- what each transport implements -------------------------------------------------
    @abstractmethod
    def _exchange(self, command: bytes) -> bytes:
        """Send one raw command APDU, return the raw response (data + SW1 SW2)."""

    @property
    @abstractmethod
    def atr(self) -> bytes:
        """The card's answer to reset."""

    @abstractmethod
    def reset(self) -> bytes:
        """Reset the card and return the new ATR."""

    @abstractmethod
    def close(self) -> None:
        """Release the reader; safe to call twice."""

    # --- shared behaviour ----------------------------------------------------------------
    def _counted(self, command: bytes) -> bytes:
        self.apdu_count += 1
        # -vv shows the APDUs: commands without PIN data, answers as length and SW only
        # (an AUTHENTICATE answer carries CK/IK).
        log.debug("%s > %s", self.uri, apdu_mod.loggable(command))
        answer = self._exchange(command)
        log.debug(
            "%s < %d bytes, SW %s", self.uri, max(len(answer) - 2, 0), answer[-2:].hex().upper()
        )
        return answer

    def transmit(self, command: bytes) -> Response:
        """Send an APDU as it is (CLA untouched), with T=0 handling."""
        return apdu_mod.exchange(self._counted, command)

    def transmit_on(self, channel: Channel, command: bytes) -> Response:
        """Send an APDU on ``channel``: the channel number goes into CLA."""
        return self.transmit(apdu_mod.set_channel(command, channel.number))

    def open_application_channel(self, aid: bytes) -> Channel | None:
        """Open a logical channel with the application ``aid`` already selected.

        Transports with a native mechanism (a modem's ``AT+CCHO``) override this; the
        default returns None and the UICC layer uses MANAGE CHANNEL + SELECT instead.
        """
        del aid
        return None

    def close_channel(self, channel: Channel) -> None:
        """Close a logical channel with MANAGE CHANNEL (TS 102 221 clause 11.1.17)."""
        if channel.number == 0:
            return
        resp = self.transmit(apdu_mod.build(0x00, 0x70, 0x80, channel.number))
        if not resp.ok:
            raise CardError(
                f"{self.uri}: closing logical channel {channel.number}: {resp.describe()}"
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# scheme -> factory(rest of the URI) ; each transport module registers itself on import.
_SCHEMES: dict[str, Callable[[str], Transport]] = {}
_SCHEME_MODULES = {
    "pcsc": "hw.transport.pcsc",
    "sim": "hw.transport.simulated",
    "modem": "hw.transport.modem",
}


def register_scheme(scheme: str, factory: Callable[[str], Transport]) -> None:
    _SCHEMES[scheme] = factory


def open_transport(uri: str) -> Transport:
    """Open the reader a URI names (``pcsc:0``, ``pcsc:Omnikey*``, ``sim:FILE``, ``modem:DEV``)."""
    scheme, sep, rest = uri.partition(":")
    if not sep or not rest:
        raise InputError(
            f"reader {uri!r} is not a reader URI (pcsc:N, pcsc:<name glob>, sim:<card file>, "
            "modem:<device>)"
        )
    if scheme not in _SCHEMES and scheme in _SCHEME_MODULES:
        import importlib

        importlib.import_module(_SCHEME_MODULES[scheme])
    factory = _SCHEMES.get(scheme)
    if factory is None:
        raise InputError(f"reader {uri!r}: unknown scheme {scheme!r} (pcsc, sim or modem)")
    return factory(rest)
