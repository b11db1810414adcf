"""PIN management on a card behind any reader: the status of PIN1, PIN2 and the universal
PIN, and VERIFY, CHANGE, ENABLE, DISABLE and UNBLOCK PIN (ETSI TS 102 221 clauses 11.1.9
to 11.1.13) with the counters read before and after.

The commands run in ADF.USIM's security environment when the card has a USIM (as a
handset would send them), else at the MF. Counters come from queries that spend nothing;
the guard against spending a last attempt is :class:`hw.uicc.ts_102_221.Uicc`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from attest.errors import CardError
from hw.transport.base import Channel, Transport
from hw.uicc.ts_102_221 import (
    AID_USIM_PREFIX,
    PIN1,
    PIN2,
    PIN_NAMES,
    UNIVERSAL_PIN,
    PinStatus,
    Uicc,
)

REFERENCES = {"pin1": PIN1, "pin2": PIN2, "universal": UNIVERSAL_PIN}


def status_json(status: PinStatus) -> dict[str, Any]:
    return {"pin": status.name, "key_reference": f"{status.reference:02X}",
            "enabled": status.enabled, "verified": status.verified,
            "attempts_left": status.retries, "puk_attempts_left": status.puk_retries}


@contextmanager
def _pin_context(uicc: Uicc) -> Iterator[Channel]:
    """The channel the PIN commands go to: ADF.USIM selected, or the MF's."""
    usim = next((a.aid for a in uicc.applications((AID_USIM_PREFIX,))
                 if a.aid.startswith(AID_USIM_PREFIX)), None)
    if usim is None:
        yield uicc.transport.basic
        return
    with uicc.application(usim) as channel:
        yield channel


def pin_statuses(transport: Transport) -> list[PinStatus]:
    """PIN1, PIN2 and the universal PIN, those the card has (nothing spent)."""
    uicc = Uicc(transport)
    with _pin_context(uicc) as channel:
        found = (uicc.pin_status(reference, channel) for reference in PIN_NAMES)
        return [status for status in found if status is not None]


@dataclass(frozen=True)
class PinChange:
    """What one PIN command did: the PIN's status before and after."""

    action: str
    before: PinStatus
    after: PinStatus

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "before": status_json(self.before),
                "after": status_json(self.after)}


class PinCommandFailed(CardError):
    """The card refused the command; the PIN's status after it is in ``after``."""

    def __init__(self, cause: CardError, before: PinStatus, after: PinStatus) -> None:
        super().__init__(str(cause))
        self.exit_code = cause.exit_code
        self.before = before
        self.after = after


def run_pin_command(transport: Transport, action: str, reference: int, *,
                    values: Callable[[PinStatus], tuple[str, ...]],
                    force: bool = False) -> PinChange:
    """Run ``action`` (verify, change, enable, disable, unblock) on the PIN ``reference``.

    ``values`` gets the PIN's status first and returns what the command presents: the
    PIN (verify, enable, disable), old and new PIN (change), PUK and new PIN (unblock);
    it may refuse (say, to disable a PIN that is disabled already) before anything is
    sent. A refusal by the card raises PinCommandFailed carrying the status after it.
    """
    uicc = Uicc(transport)
    with _pin_context(uicc) as channel:
        before = uicc.pin_status(reference, channel)
        if before is None:
            raise CardError(f"{transport.uri}: the card has no {PIN_NAMES[reference]}")
        given = values(before)
        commands: dict[str, Callable[[], None]] = {
            "verify": lambda: uicc.verify_pin(given[0], reference, channel, force),
            "change": lambda: uicc.change_pin(given[0], given[1], reference, channel, force),
            "enable": lambda: uicc.enable_pin(given[0], reference, channel, force),
            "disable": lambda: uicc.disable_pin(given[0], reference, channel, force),
            "unblock": lambda: uicc.unblock_pin(given[0], given[1], reference, channel, force),
        }
        try:
            commands[action]()
        except CardError as exc:
            after = uicc.pin_status(reference, channel)
            assert after is not None
            raise PinCommandFailed(exc, before, after) from None
        after = uicc.pin_status(reference, channel)
        assert after is not None
        return PinChange(action, before, after)
