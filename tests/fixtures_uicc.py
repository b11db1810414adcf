"""A scripted card for the UICC client's tests.

:class:`ScriptedTransport` is a tiny :class:`Transport` that checks each command APDU
against a script and replays a fixed answer. It stands in for a misbehaving or
unusual card: the simulated card only ever produces valid encodings, so malformed TLVs,
truncated records, odd status words and T=0 procedure bytes are fed from here. Tests
that need a card that behaves use ``sim:`` URIs instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from hw.transport.base import Transport


class ScriptedTransport(Transport):
    """Replays ``(expected command hex, answer hex)`` pairs in order.

    An expected command of ``"*"`` matches any command (for commands carrying a RAND).
    """

    uri = "scripted:card"

    def __init__(self, script: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.script = [(c.replace(" ", "").upper(), bytes.fromhex(a)) for c, a in script]
        self.sent: list[str] = []

    def _exchange(self, command: bytes) -> bytes:
        got = command.hex().upper()
        self.sent.append(got)
        assert self.script, f"card got {got} after the end of its script"
        expected, answer = self.script.pop(0)
        assert expected in ("*", got), f"card expected {expected}, got {got}"
        return answer

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3B9F96801F878031E073FE211B674A4C753034054BA9")

    def reset(self) -> bytes:
        return self.atr

    def close(self) -> None:
        pass

    def done(self) -> bool:
        return not self.script


@pytest.fixture
def scripted() -> Callable[[Sequence[tuple[str, str]]], ScriptedTransport]:
    return ScriptedTransport
