"""A real PC/SC stack for tests: pyscard → our own pcscd → vpcd → simulated cards.

``pcsc_stack`` (session): one ``pcscd --foreground`` with four vpcd readers, on a
private socket, without USB drivers where the host allows it, stopped by PID at the end.
``pcsc_cards`` (per test): inserts simulated cards into free readers and takes them out
afterwards. When pcscd or the vpcd driver is missing the fixture fails with the apt-get
line; it never skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from attest.errors import TransportError
from hw.sim.pcsc_stack import SOCKET_ENV, PcscStack, can_hide_usb_readers, process_socket_path
from server.cli.main import main

if TYPE_CHECKING:
    from hw.sim.card import SimulatedCard

READERS = 4
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "card_profiles" / "examples"


def pytest_configure(config: pytest.Config) -> None:
    # libpcsclite binds to the first socket path it sees in a process; point every PC/SC
    # call of this test session at the stack's private socket before anything calls it.
    del config
    os.environ[SOCKET_ENV] = str(process_socket_path())


@pytest.fixture(scope="session")
def pcsc_stack() -> Iterator[PcscStack]:
    # As the demo does: a bench host's USB readers stay with its own pcscd.
    stack = PcscStack(readers=READERS, hide_usb_readers=can_hide_usb_readers())
    try:
        stack.start()
    except TransportError as exc:
        # A missing pcscd/vpcd names the apt-get line itself; never a skip.
        pytest.fail(f"cannot start the PC/SC test stack: {exc}")
    try:
        yield stack
    finally:
        stack.stop()


@dataclass(frozen=True)
class InsertedCard:
    """A simulated card sitting in one of the stack's readers."""

    slot: int
    reader: str  # the name pcscd reports, e.g. "Virtual PCD 00 01"
    card: SimulatedCard

    @property
    def uri(self) -> str:
        return f"pcsc:{self.reader}"


class CardSlots:
    """Inserts cards into free readers of the session stack; removes them at teardown."""

    def __init__(self, stack: PcscStack) -> None:
        self.stack = stack
        self._slots: list[int] = []

    def insert(
        self,
        card_file: str | Path,
        *,
        t0: bool = False,
        latency: float = 0.0,
        remove_at: int | None = None,
    ) -> InsertedCard:
        from hw.cardfile import load_card_file
        from hw.sim.card import SimulatedCard

        card = SimulatedCard(load_card_file(card_file), t0=t0, latency=latency, remove_at=remove_at)
        free = [s for s in range(len(self.stack.reader_names)) if not self.stack.occupied(s)]
        if not free:
            raise AssertionError(f"all {len(self.stack.reader_names)} test readers hold a card")
        slot = free[0]
        self.stack.attach(slot, card)
        self._slots.append(slot)
        return InsertedCard(slot, self.stack.reader_names[slot], card)

    def remove(self, inserted: InsertedCard) -> None:
        self._slots.remove(inserted.slot)
        self.stack.detach(inserted.slot)

    def remove_all(self) -> None:
        for slot in self._slots:
            self.stack.detach(slot)
        self._slots.clear()


@pytest.fixture
def pcsc_cards(pcsc_stack: PcscStack) -> Iterator[CardSlots]:
    slots = CardSlots(pcsc_stack)
    try:
        yield slots
    finally:
        slots.remove_all()


@dataclass(frozen=True)
class CliRun:
    """What one ``simattest`` invocation did."""

    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliRun:
    """Run ``simattest ARGV`` in this process (PC/SC goes to the session stack)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return CliRun(code, out, err)


def run_cli_process(*argv: str, env: dict[str, str] | None = None) -> CliRun:
    """Run ``simattest ARGV`` as its own process (own PC/SC client, own socket choice)."""
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli.main", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)
