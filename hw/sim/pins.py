"""PIN1 and its unblocking PIN on the simulated UICC (ETSI TS 102 221 clauses 11.1.9, 11.1.13).

PIN values travel as 8 bytes: ASCII digits padded with FF (clause 9.5.2). Retry
counters start at 3 (PIN) and 10 (UNBLOCK PIN); they survive a reset, like a real card's.
"""

from __future__ import annotations

import hmac

from hw.sw import SW, SWFamily

PIN_TRIES = 3
PUK_TRIES = 10


def pin_block(digits: str) -> bytes:
    """The 8-byte PIN block: ASCII digits, FF padded (TS 102 221 clause 9.5.2)."""
    return digits.encode().ljust(8, b"\xff")


class Pin1:
    """PIN1 state: value, enabled flag, verified flag (per card session), counters."""

    def __init__(self, pin: str | None, enabled: bool, puk: str | None) -> None:
        self._pin = pin_block(pin) if pin is not None else None
        self._puk = pin_block(puk) if puk is not None else None
        self.enabled = enabled and pin is not None
        self.verified = False
        self.retries = PIN_TRIES
        self.puk_retries = PUK_TRIES

    @property
    def satisfied(self) -> bool:
        """Whether PIN1-protected access is allowed now."""
        return not self.enabled or self.verified

    def end_session(self) -> None:
        """A reset or power-off forgets the verification, not the counters."""
        self.verified = False

    def verify(self, block: bytes | None) -> int:
        """VERIFY PIN; ``None`` is the empty-data retry query (clause 11.1.9.1.2)."""
        if block is None:
            # Real cards answer the query with 63CX whether the PIN is enabled or not;
            # only an already verified PIN answers 9000.
            if self.enabled and self.verified:
                return SW.OK
            return SWFamily.RETRIES_LEFT.sw(self.retries)
        if self.retries == 0:
            return SW.PIN_BLOCKED
        if not self.enabled or self._pin is None:
            return SW.REFERENCED_DATA_INVALIDATED  # a disabled PIN cannot be verified
        if hmac.compare_digest(block, self._pin):
            self.retries = PIN_TRIES
            self.verified = True
            return SW.OK
        self.retries -= 1
        self.verified = False
        return SWFamily.RETRIES_LEFT.sw(self.retries)

    def unblock(self, puk_block: bytes | None, new_pin: bytes | None) -> int:
        """UNBLOCK PIN with the PUK; ``None`` data is the PUK retry query (clause 11.1.13)."""
        if self._puk is None:
            return SW.REFERENCE_NOT_FOUND
        if puk_block is None or new_pin is None:
            return SWFamily.RETRIES_LEFT.sw(self.puk_retries)
        if self.puk_retries == 0:
            return SW.PIN_BLOCKED
        if not hmac.compare_digest(puk_block, self._puk):
            self.puk_retries -= 1
            return SWFamily.RETRIES_LEFT.sw(self.puk_retries)
        self._pin = new_pin
        self.retries = PIN_TRIES
        self.puk_retries = PUK_TRIES
        self.enabled = True  # clause 11.1.13.1.1: after unblocking the PIN is enabled
        self.verified = True
        return SW.OK
