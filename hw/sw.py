"""The status words the product sends, expects or explains, in one table.

Names and meanings follow ETSI TS 102 221 clause 10.2.1 (status conditions returned by
the UICC, tables 10.7 to 10.15), 3GPP TS 31.102 clause 7.3 / TS 31.103 clause 7.3 for
the meaning AUTHENTICATE gives the '98' group, and ISO/IEC 7816-4 clause 5.1.3 for the
T=0 procedure words. :class:`SW` holds the exact words; :class:`SWFamily` the words whose
low bits carry a number (bytes still available, the Le to use, retries left);
:func:`sw_meaning` gives any status word one readable phrase.
"""

from __future__ import annotations

from enum import Enum, IntEnum, unique


@unique
class SW(IntEnum):
    """One status word (SW1 SW2 as an int) and its meaning."""

    meaning: str

    def __new__(cls, value: int, meaning: str) -> SW:
        member = int.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    # Normal processing (TS 102 221 table 10.7).
    OK = 0x9000, "normal ending of the command"
    # Warnings (table 10.9).
    WARNING = 0x6200, "warning: no information given, state of non-volatile memory unchanged"
    DATA_MAY_BE_CORRUPTED = 0x6281, "warning: part of returned data may be corrupted"
    END_REACHED = 0x6282, "warning: end of file/record reached before reading Le bytes"
    FILE_INVALIDATED = 0x6283, "warning: selected file invalidated"  # deactivated
    FILE_TERMINATED = 0x6285, "warning: selected file in termination state"
    MORE_DATA_AVAILABLE = 0x62F1, "warning: more data available"
    MORE_DATA_PROACTIVE = 0x62F2, "warning: more data available and proactive command pending"
    # Execution errors (table 10.10).
    MEMORY_UNCHANGED = 0x6400, "execution error: no information given, memory unchanged"
    MEMORY_CHANGED = 0x6500, "execution error: no information given, memory changed"
    MEMORY_PROBLEM = 0x6581, "memory problem"
    # Checking errors (table 10.11).
    WRONG_LENGTH = 0x6700, "wrong length"
    P1P2_OUT_OF_RANGE = 0x6B00, "wrong parameters P1-P2 (offset beyond end of file)"
    INS_NOT_SUPPORTED = 0x6D00, "instruction code not supported or invalid"
    CLA_NOT_SUPPORTED = 0x6E00, "class not supported"
    TECHNICAL_PROBLEM = 0x6F00, "technical problem, no precise diagnosis"
    # Functions in CLA not supported (table 10.12).
    CLA_FUNCTION_NOT_SUPPORTED = 0x6800, "function in CLA not supported"
    CHANNEL_NOT_SUPPORTED = 0x6881, "logical channel not supported"
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882, "secure messaging not supported"
    # Command not allowed (table 10.13).
    NOT_ALLOWED = 0x6900, "command not allowed, no information given"
    INCOMPATIBLE_FILE_STRUCTURE = 0x6981, "command incompatible with file structure"
    SECURITY_NOT_SATISFIED = 0x6982, "security status not satisfied (PIN needed)"
    PIN_BLOCKED = 0x6983, "authentication/PIN method blocked"
    REFERENCED_DATA_INVALIDATED = 0x6984, "referenced data invalidated"  # e.g. a disabled PIN
    CONDITIONS_NOT_SATISFIED = 0x6985, "conditions of use not satisfied"
    NO_EF_SELECTED = 0x6986, "command not allowed (no EF selected)"
    # Wrong parameters (table 10.14).
    WRONG_DATA = 0x6A80, "incorrect parameters in the data field"
    FUNCTION_NOT_SUPPORTED = 0x6A81, "function not supported"
    FILE_NOT_FOUND = 0x6A82, "file or application not found"
    RECORD_NOT_FOUND = 0x6A83, "record not found"
    NOT_ENOUGH_MEMORY = 0x6A84, "not enough memory space"
    WRONG_P1P2 = 0x6A86, "incorrect parameters P1 to P2"
    LC_INCONSISTENT = 0x6A87, "Lc inconsistent with P1 to P2"
    REFERENCE_NOT_FOUND = 0x6A88, "referenced data not found"
    # Application errors (table 10.15) as AUTHENTICATE reports them (TS 31.102 clause 7.3).
    AUTH_MAC_FAILURE = 0x9862, "authentication error, incorrect MAC"
    SECURITY_SESSION_EXPIRED = 0x9863, "security session or association expired"
    AUTH_CONTEXT_NOT_SUPPORTED = 0x9864, "authentication error, security context not supported"
    KEY_FRESHNESS_FAILURE = 0x9865, "key freshness failure"
    # The GSM class's own errors (TS 51.011 clause 9.4).
    GSM_NO_EF_SELECTED = 0x9400, "no EF selected (GSM)"
    GSM_OUT_OF_RANGE = 0x9402, "out of range, invalid address (GSM)"
    GSM_FILE_NOT_FOUND = 0x9404, "file ID not found (GSM)"
    GSM_FILE_INCONSISTENT = 0x9408, "file inconsistent with the command (GSM)"
    GSM_ACCESS_NOT_FULFILLED = 0x9804, "access condition not fulfilled (GSM)"


class SWFamily(Enum):
    """Status words whose low bits carry a number: ``base | n`` with ``n`` under ``mask``."""

    base: int
    mask: int
    text: str

    def __new__(cls, base: int, mask: int, text: str) -> SWFamily:
        member = object.__new__(cls)
        member._value_ = base
        member.base, member.mask, member.text = base, mask, text
        return member

    # ISO/IEC 7816-4 clause 5.1.3: T=0 procedure words.
    MORE_DATA = 0x6100, 0xFF, "{} response bytes still available"
    WRONG_LE = 0x6C00, 0xFF, "wrong Le, {} bytes available"
    # TS 102 221 table 10.7: a proactive command of n bytes waits for FETCH.
    PROACTIVE_PENDING = 0x9100, 0xFF, "normal ending, proactive command of {} bytes pending"
    # TS 51.011 clause 9.4.1 (GSM): 9Fxx is 61xx, 920x a success after x internal retries.
    GSM_MORE_DATA = 0x9F00, 0xFF, "{} response bytes available (GSM)"
    INTERNAL_RETRIES = 0x9200, 0x0F, "normal ending after {} internal retries"
    # TS 102 221 table 10.9: after VERIFY / UNBLOCK PIN, x attempts are left.
    RETRIES_LEFT = 0x63C0, 0x0F, "verification failed, {} retries left"

    def sw(self, n: int) -> int:
        """The family's status word carrying ``n``."""
        if not 0 <= n <= self.mask:
            raise ValueError(f"{self.name} carries 0 to {self.mask}, not {n}")
        return self.base | n

    def number(self, sw: int) -> int | None:
        """The number ``sw`` carries if it belongs to this family, else None."""
        return sw & self.mask if sw & ~self.mask == self.base else None


_MEANINGS: dict[int, str] = {int(member): member.meaning for member in SW}
_SW1_WRONG_PARAMETERS = 0x6A  # TS 102 221 table 10.14: any other 6Axx


def sw_meaning(sw: int) -> str:
    """One readable phrase for any status word (never raises)."""
    exact = _MEANINGS.get(sw)
    if exact is not None:
        return exact
    for family in SWFamily:
        n = family.number(sw)
        if n is not None:
            return family.text.format(n)
    if sw >> 8 == _SW1_WRONG_PARAMETERS:
        return "wrong parameters"
    return "unknown status word"
