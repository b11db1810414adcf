"""The simulated modem on a real pty, for tests that drive it through real pyserial.

``sim_modem(card_file, quirks=..., faults=..., **card_options)`` starts a
:class:`hw.sim.modem.SimulatedModem` in front of a :class:`hw.sim.card.SimulatedCard` on
a thread and returns it; ``modem_uri(modem)`` is the reader URI for it with a short
per-command timeout (tests never wait long for a silent modem). Every modem started is
stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hw.cardfile import load_card_file
from hw.sim.card import SimulatedCard
from hw.sim.modem import Faults, SimulatedModem

EXAMPLES = Path(__file__).resolve().parent.parent / "card_profiles" / "examples"
PS_CARD = EXAMPLES / "ps-001.yaml"
TEST_TIMEOUT = 2.0  # seconds per AT command in tests (the default is 5)

StartModem = Callable[..., SimulatedModem]


def modem_uri(modem: SimulatedModem, timeout: float = TEST_TIMEOUT) -> str:
    return f"modem:{modem.link}?timeout={timeout:g}"


@pytest.fixture
def sim_modem(tmp_path: Path) -> Iterator[StartModem]:
    started: list[SimulatedModem] = []

    def start(
        card_file: Path = PS_CARD,
        *,
        quirks: Iterable[str] = (),
        imei: str | None = None,
        slow_delay: float = 1.0,
        faults: Faults | None = None,
        **card_options: Any,
    ) -> SimulatedModem:
        cardfile = load_card_file(card_file)
        modem = SimulatedModem(
            SimulatedCard(cardfile, **card_options),
            quirks=quirks,
            imei=imei or cardfile.imei,
            slow_delay=slow_delay,
            faults=faults,
        )
        started.append(modem)
        modem.start(tmp_path / f"modem{len(started)}")
        return modem

    yield start
    for modem in started:
        modem.stop()
