"""Command/response APDUs as bytes and T=0 response handling.

ISO/IEC 7816-4 clause 5 (command-response pairs); the status words are in :mod:`hw.sw`.
T=0 handling lives here once: ``61xx`` is answered with GET RESPONSE
(``00 C0 00 00 xx``, repeated while more data is pending) and ``6Cxx`` by resending the
command with Le = xx. ``9Fxx``, the GSM form of ``61xx`` (3GPP TS 51.011 clause 9.4.1)
that some cards still send, is fetched the same way. Every transport gets it through
:func:`exchange`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from attest.errors import CardError
from hw.sw import SW, SWFamily, sw_meaning


@dataclass(frozen=True)
class Response:
    """A response APDU: the data field and the final status word."""

    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        # 91xx and 92 0x are successful endings too (TS 102 221 clause 10.2.1.1).
        return (
            self.sw == SW.OK
            or SWFamily.PROACTIVE_PENDING.number(self.sw) is not None
            or SWFamily.INTERNAL_RETRIES.number(self.sw) is not None
        )

    @property
    def sw_hex(self) -> str:
        return f"{self.sw:04X}"

    def describe(self) -> str:
        return f"SW {self.sw_hex} ({sw_meaning(self.sw)})"

    @classmethod
    def from_bytes(cls, raw: bytes) -> Response:
        if len(raw) < 2:
            raise CardError(f"card answer of {len(raw)} byte(s) has no status word")
        return cls(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])


def build(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """Encode a short command APDU (ISO/IEC 7816-3 case 1-4). ``le=0`` means 256."""
    if len(data) > 255:
        raise ValueError("short APDU data field is at most 255 bytes")
    apdu = bytes((cla, ins, p1, p2))
    if data:
        apdu += bytes((len(data),)) + data
    if le is not None:
        apdu += bytes((le & 0xFF,))
    return apdu


# Commands whose data field carries a PIN or PUK: VERIFY, CHANGE, DISABLE, ENABLE PIN and
# UNBLOCK PIN (TS 102 221 clauses 11.1.9-11.1.13). Their data never reaches a log.
SECRET_INS = frozenset({0x20, 0x24, 0x26, 0x28, 0x2C})


def loggable(apdu: bytes) -> str:
    """A command APDU in hex for logs, with the data of PIN commands hidden."""
    if len(apdu) > 5 and apdu[1] in SECRET_INS:
        return f"{apdu[:4].hex().upper()} (data hidden)"
    return apdu.hex().upper()


def set_channel(apdu: bytes, channel: int) -> bytes:
    """Return ``apdu`` with the logical channel encoded in CLA (TS 102 221 clause 10.1.1).

    Channels 0-3 use the low two bits of a first-interindustry CLA, channels 4-19 use the
    further-interindustry form ``0x40 | (n - 4)``; the secure-messaging and command
    chaining bits are kept.
    """
    if not 0 <= channel <= 19:
        raise ValueError(f"logical channel {channel} is outside 0-19")
    cla = apdu[0]
    if cla & 0x40:
        chaining = cla & 0x10
        sm = 0x20 if cla & 0x20 else 0
    else:
        chaining = cla & 0x10
        sm = 0x08 if cla & 0x0C else 0
    base = cla & 0x80
    if channel <= 3:
        new = base | chaining | sm | channel
    else:
        new = base | 0x40 | chaining | (0x20 if sm else 0) | (channel - 4)
    return bytes((new,)) + apdu[1:]


def channel_of(cla: int) -> int:
    """The logical channel a CLA byte addresses (inverse of :func:`set_channel`)."""
    if cla & 0x40:
        return 4 + (cla & 0x0F)
    return cla & 0x03


# A raw exchange: one command APDU on the wire, the response bytes (data + SW) back.
RawExchange = Callable[[bytes], bytes]

_MAX_GET_RESPONSE = 64  # a card that keeps saying 61xx forever is broken, not patient
# "xx response bytes available": 61xx (ISO/IEC 7816-4), 9Fxx (TS 51.011 clause 9.4.1).
_MORE_DATA = (SWFamily.MORE_DATA, SWFamily.GSM_MORE_DATA)
_CLA_GSM = 0xA0


def exchange(raw: RawExchange, apdu: bytes) -> Response:
    """Send ``apdu`` and resolve T=0 procedure bytes (ISO/IEC 7816-3 clause 10.3.3,
    ETSI TS 102 221 clause 7.3.1.1.5).

    ``6Cxx`` resends the same command (CLA, INS, P1, P2 and data kept) once with Le = xx;
    ``61xx`` (or ``9Fxx``) fetches the pending bytes with GET RESPONSE on the same logical
    channel until the card stops asking, and a GET RESPONSE answered ``6Cxx`` is resent
    once with that Le. Data from every round is joined; the last status word is the
    answer's.
    """
    resp = _resend_on_6c(raw, apdu)
    data = resp.data
    rounds = 0
    while (pending := _pending_bytes(resp.sw)) is not None:
        rounds += 1
        if rounds > _MAX_GET_RESPONSE:
            raise CardError("card kept answering 61xx to GET RESPONSE; giving up")
        resp = _resend_on_6c(raw, _get_response(apdu[0], pending))
        data += resp.data
    return Response(data, resp.sw)


def _pending_bytes(sw: int) -> int | None:
    """The count a 61xx / 9Fxx announces, None for any other status word."""
    for family in _MORE_DATA:
        n = family.number(sw)
        if n is not None:
            return n
    return None


def _get_response(cla: int, le: int) -> bytes:
    """GET RESPONSE (TS 102 221 clause 11.1.15) in the class of the command it follows:
    the GSM class A0 after an A0 command (TS 51.011 clause 9.2.18), else CLA 00 on the
    command's logical channel."""
    if cla == _CLA_GSM:
        return bytes((_CLA_GSM, 0xC0, 0x00, 0x00, le))
    return set_channel(bytes((0x00, 0xC0, 0x00, 0x00, le)), channel_of(cla))


def _resend_on_6c(raw: RawExchange, apdu: bytes) -> Response:
    """One command; on ``6Cxx`` the same command once more with Le = xx."""
    resp = Response.from_bytes(raw(apdu))
    le = SWFamily.WRONG_LE.number(resp.sw)
    if le is not None:
        resp = Response.from_bytes(raw(_with_le(apdu, le)))
    return resp


def _with_le(apdu: bytes, le: int) -> bytes:
    """Replace (or append) the Le byte of a short APDU, keeping header and data.

    Case 1 (header only) gains an Le; case 2 (header + Le) has it replaced; case 3
    (header + Lc + data) gains one; case 4 (… + Le) has it replaced.
    """
    if len(apdu) < 4:
        raise ValueError("a command APDU has at least 4 bytes")
    if len(apdu) <= 5:
        return apdu[:4] + bytes((le,))
    body = apdu[: 5 + apdu[4]]
    return body + bytes((le,))
