"""The PINs of the simulated UICC and their unblocking PINs (ETSI TS 102 221 clauses 9.4,
9.5 and 11.1.9 to 11.1.13).

Key references (TS 102 221 table 9.3): ``01`` PIN1 (the application PIN), ``81`` PIN2
(the second-level application PIN), ``11`` the universal PIN. PIN1 always exists; PIN2 and
the universal PIN only when the card file gives them (otherwise ``6A88``).

PIN values travel as 8 bytes: ASCII digits padded with FF (clause 9.5.2). Retry counters
start at 3 (PIN) and 10 (UNBLOCK PIN), or at what the card file says; they survive a reset,
like a real card's. Every comparison is constant-time.

Status words: a wrong PIN or PUK ``63CX`` (X attempts left), a blocked one ``6983``;
VERIFY or CHANGE of a disabled PIN ``6984`` (clauses 11.1.9.1.1, 11.1.10.1); ENABLE of an
enabled PIN ``6985`` and DISABLE of a disabled one ``6984`` (what this simulator answers;
the client reads both as "already so").
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from hw.cardfile import PIN_TRIES, PUK_TRIES, CardFile, PinData
from hw.sw import SW, SWFamily

PIN1, PIN2, UNIVERSAL_PIN = 0x01, 0x81, 0x11


def pin_block(digits: str) -> bytes:
    """The 8-byte PIN block: ASCII digits, FF padded (TS 102 221 clause 9.5.2)."""
    return digits.encode().ljust(8, b"\xff")


class Pin:
    """One PIN: value, enabled flag, verified flag (per card session), counters, PUK."""

    def __init__(self, data: PinData) -> None:
        self._pin = pin_block(data.pin) if data.pin is not None else None
        self._puk = pin_block(data.puk) if data.puk is not None else None
        self.enabled = data.enabled and data.pin is not None
        self.verified = False
        self.retries = data.retries
        self.puk_retries = data.puk_retries

    @property
    def satisfied(self) -> bool:
        """Whether access this PIN protects is allowed now."""
        return not self.enabled or self.verified

    def end_session(self) -> None:
        """A reset or power-off forgets the verification, not the counters."""
        self.verified = False

    def _present(self, block: bytes) -> int | None:
        """Compare a presented PIN: None when right (counter reset), else the status word
        (counter decremented). Only for a PIN that is not blocked."""
        assert self._pin is not None
        if hmac.compare_digest(block, self._pin):
            self.retries = PIN_TRIES
            return None
        self.retries -= 1
        self.verified = False
        return SWFamily.RETRIES_LEFT.sw(self.retries)

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
        wrong = self._present(block)
        if wrong is not None:
            return wrong
        self.verified = True
        return SW.OK

    def change(self, old: bytes, new: bytes) -> int:
        """CHANGE PIN (clause 11.1.10): only an enabled PIN that is not blocked."""
        if self.retries == 0:
            return SW.PIN_BLOCKED
        if not self.enabled or self._pin is None:
            return SW.REFERENCED_DATA_INVALIDATED
        wrong = self._present(old)
        if wrong is not None:
            return wrong
        self._pin = new
        self.verified = True
        return SW.OK

    def disable(self, block: bytes) -> int:
        """DISABLE PIN (clause 11.1.11): the PIN is checked first, like VERIFY."""
        if self.retries == 0:
            return SW.PIN_BLOCKED
        if not self.enabled or self._pin is None:
            return SW.REFERENCED_DATA_INVALIDATED
        wrong = self._present(block)
        if wrong is not None:
            return wrong
        self.enabled = False
        return SW.OK

    def enable(self, block: bytes) -> int:
        """ENABLE PIN (clause 11.1.12)."""
        if self._pin is None:
            return SW.REFERENCED_DATA_INVALIDATED  # no value to enable
        if self.retries == 0:
            return SW.PIN_BLOCKED
        if self.enabled:
            return SW.CONDITIONS_NOT_SATISFIED
        wrong = self._present(block)
        if wrong is not None:
            return wrong
        self.enabled = True
        self.verified = True
        return SW.OK

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


class Pins:
    """The card's PINs by key reference."""

    def __init__(self, cardfile: CardFile) -> None:
        self.pin1 = Pin(PinData(cardfile.pin1, cardfile.pin1_enabled, cardfile.puk1,
                                cardfile.pin1_retries, cardfile.puk1_retries))
        self._by_reference = {PIN1: self.pin1}
        for reference, data in ((PIN2, cardfile.pin2), (UNIVERSAL_PIN, cardfile.universal_pin)):
            if data is not None:
                self._by_reference[reference] = Pin(data)

    def get(self, reference: int) -> Pin | None:
        return self._by_reference.get(reference)

    def status(self) -> Iterator[tuple[int, bool]]:
        """(key reference, enabled) for the FCP's PIN status template (clause 9.5.2)."""
        for reference, pin in self._by_reference.items():
            yield reference, pin.enabled

    def end_session(self) -> None:
        for pin in self._by_reference.values():
            pin.end_session()
