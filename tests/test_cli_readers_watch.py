"""``simattest readers --watch`` as its own process against the tests' pcscd + vpcd: each
reader's state first, then a line when a simulated card goes in and when it comes out;
SIGTERM and Ctrl-C (SIGINT) end it with exit 0 and nothing on stderr."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures_pcsc import EXAMPLES, READERS, REPO, CardSlots

# A bound on waiting for a line, so a broken watch fails the test instead of hanging it.
LINE_DEADLINE = 30.0


class _Watch:
    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli.main", "readers", "--watch", *argv],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Lines are read by a thread: several may arrive in one read, so waiting on the
        # pipe itself could wait for a line already taken into the reader's buffer.
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def line(self) -> str:
        try:
            return self._lines.get(timeout=LINE_DEADLINE)
        except queue.Empty:
            raise AssertionError("readers --watch printed nothing more") from None

    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.line())
        return doc

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        return self.proc.wait(timeout=30), err


@pytest.fixture
def watch_json(pcsc_cards: CardSlots) -> Iterator[_Watch]:
    watch = _Watch("--json")
    try:
        yield watch
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()
            watch.proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_watch_follows_insertion_and_removal(
        watch_json: _Watch, pcsc_cards: CardSlots, signum: int) -> None:
    start = [watch_json.event() for _ in range(READERS)]
    assert sorted(e["reader"] for e in start) == sorted(pcsc_cards.stack.reader_names)
    assert {e["event"] for e in start} == {"no card"}

    inserted = pcsc_cards.insert(EXAMPLES / "ps-001.yaml")
    event = watch_json.event()
    assert (event["reader"], event["event"]) == (inserted.reader, "card inserted")
    assert event["atr"] == inserted.card.atr.hex().upper()

    pcsc_cards.remove(inserted)
    event = watch_json.event()
    assert (event["reader"], event["event"], event["atr"]) == (
        inserted.reader, "card removed", None)

    assert watch_json.stop(signum) == (0, "")


def test_watch_for_people_is_one_line_per_event(pcsc_cards: CardSlots) -> None:
    inserted = pcsc_cards.insert(EXAMPLES / "ps-001.yaml")
    watch = _Watch()
    try:
        start = [watch.line().rstrip("\n").split("\t") for _ in range(READERS)]
        mine = next(cells for cells in start if cells[1] == inserted.reader)
        assert mine[2:] == ["card present", inserted.card.atr.hex().upper()]
        pcsc_cards.remove(inserted)
        assert watch.line().rstrip("\n").split("\t")[1:] == [inserted.reader, "card removed"]
        assert watch.stop(signal.SIGTERM) == (0, "")
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()
            watch.proc.wait()
