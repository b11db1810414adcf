"""The ``sim:`` transport: a simulated UICC in this process.

URI: ``sim:<card file>[?t0=1&latency=0.02&remove_at=N]`` — the card file is a personalised
card YAML (``card_profiles/examples/ps-001.yaml``); ``t0`` makes the card answer like a
T=0 card (61xx / 6Cxx), ``latency`` adds seconds per APDU, ``remove_at`` removes the card
at the N-th APDU.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from attest.errors import InputError, TransportError
from hw.cardfile import load_card_file
from hw.sim.card import SimulatedCard
from hw.transport.base import Transport, register_scheme

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SimulatedTransport(Transport):
    """A :class:`SimulatedCard` behind the transport interface."""

    def __init__(self, card: SimulatedCard, uri: str) -> None:
        super().__init__()
        self.card = card
        self.uri = uri
        self._closed = False

    def _exchange(self, command: bytes) -> bytes:
        if self._closed:
            raise TransportError(f"reader {self.uri}: transport is closed")
        return self.card.process(command)

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def reset(self) -> bytes:
        return self.card.reset()

    def close(self) -> None:
        self._closed = True


def open_sim(rest: str) -> SimulatedTransport:
    """Open ``sim:<rest>``: load the card file and apply the query options."""
    uri = f"sim:{rest}"
    path, _, query = rest.partition("?")
    if not path:
        raise InputError(f"reader {uri!r}: no card file after 'sim:'")
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in ("t0", "latency", "remove_at"):
            raise InputError(f"reader {uri!r}: unknown option {key!r} (t0, latency, remove_at)")
        options[key] = value
    t0_text = options.get("t0", "0").lower()
    if t0_text not in _TRUE | _FALSE:
        raise InputError(f"reader {uri!r}: option 't0' must be 0 or 1")
    try:
        latency = float(options.get("latency", "0"))
    except ValueError:
        raise InputError(f"reader {uri!r}: option 'latency' must be seconds, "
                         "e.g. 0.02") from None
    if not 0 <= latency <= 60:
        raise InputError(f"reader {uri!r}: option 'latency' must be 0-60 seconds")
    remove_at = None
    if "remove_at" in options:
        text = options["remove_at"]
        if not text.isdigit() or int(text) < 1:
            raise InputError(f"reader {uri!r}: option 'remove_at' must be an APDU number "
                             "from 1")
        remove_at = int(text)
    card = SimulatedCard(load_card_file(path), t0=t0_text in _TRUE, latency=latency,
                         remove_at=remove_at)
    return SimulatedTransport(card, uri)


register_scheme("sim", open_sim)
