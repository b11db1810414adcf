"""AUTHENTICATE (INS 88) on ADF.USIM and ADF.ISIM, with its outcomes as values.

3GPP TS 31.102 clause 7.1.2 (USIM: 3G context P2 81, GSM context P2 80) and TS 31.103
clause 7.1.2 (ISIM: IMS AKA, P2 81). A MAC failure, an unsupported context and a PIN
still to be verified are answers the caller acts on, so they are outcome values; only a
malformed answer or an unexpected status word raises :class:`CardError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from attest.errors import CardError, InputError
from hw import apdu
from hw.sw import SW
from hw.transport.base import Channel, Transport
from hw.uicc.ts_102_221 import Uicc

RAND_LEN = 16
# AUTN = SQN^AK (6) || AMF (2) || MAC-A, and AUTS = SQN_MS^AK* (6) || MAC-S: 16 and 14 bytes
# with Milenage's 64-bit MACs; TUAK (TS 35.231) also allows 128- and 256-bit MACs.
AUTN_LENS = (16, 24, 40)
AUTS_LENS = (14, 22, 38)
KC_LEN = 8
SRES_LEN = 4

_TAG_SUCCESS = 0xDB  # "successful 3G/IMS authentication"
_TAG_SYNC_FAILURE = 0xDC  # "synchronisation failure", followed by AUTS


class AuthContext(Enum):
    """The P2 of AUTHENTICATE: which security context runs."""

    UMTS = 0x81  # 3G context on ADF.USIM, IMS AKA on ADF.ISIM
    GSM = 0x80  # GSM context on ADF.USIM (needs UST service 27)


@dataclass(frozen=True)
class AuthSuccess:
    """``DB L RES L CK L IK [L Kc]``; Kc only when the card runs GSM access (UST 27)."""

    res: bytes
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    kc: bytes | None = field(repr=False)


@dataclass(frozen=True)
class AuthGsmSuccess:
    """GSM context answer ``04 SRES 08 Kc``."""

    sres: bytes
    kc: bytes = field(repr=False)


@dataclass(frozen=True)
class AuthSyncFailure:
    """``DC 0E AUTS``: the SQN in AUTN was not acceptable; AUTS carries SQN_MS."""

    auts: bytes


@dataclass(frozen=True)
class AuthMacFailure:
    """SW 9862: the card rejected MAC-A, so it does not hold the K/OPc that made AUTN."""


@dataclass(frozen=True)
class AuthContextNotSupported:
    """SW 9864: the application does not support this security context."""


@dataclass(frozen=True)
class AuthPinNeeded:
    """SW 6982: the PIN must be verified before AUTHENTICATE."""


AuthOutcome = (
    AuthSuccess
    | AuthGsmSuccess
    | AuthSyncFailure
    | AuthMacFailure
    | AuthContextNotSupported
    | AuthPinNeeded
)

_SW_OUTCOMES: dict[int, AuthOutcome] = {
    SW.AUTH_MAC_FAILURE: AuthMacFailure(),
    SW.AUTH_CONTEXT_NOT_SUPPORTED: AuthContextNotSupported(),
    SW.SECURITY_NOT_SATISFIED: AuthPinNeeded(),
}


def build_command(rand: bytes, autn: bytes | None, context: AuthContext) -> bytes:
    """The AUTHENTICATE APDU; RAND/AUTN sizes are checked before anything is sent."""
    if len(rand) != RAND_LEN:
        raise InputError(f"RAND must be {RAND_LEN} bytes, got {len(rand)}")
    if context is AuthContext.GSM:
        if autn:
            raise InputError("the GSM context takes RAND only, no AUTN")
        data = bytes((RAND_LEN,)) + rand
    else:
        if autn is None or len(autn) not in AUTN_LENS:
            raise InputError(
                "AUTN must be 16 bytes (24 or 40 with TUAK's longer MAC), "
                f"got {0 if autn is None else len(autn)}"
            )
        data = bytes((RAND_LEN,)) + rand + bytes((len(autn),)) + autn
    return apdu.build(0x00, 0x88, 0x00, context.value, data, le=0x00)


def authenticate(
    channel: Channel,
    rand: bytes,
    autn: bytes | None = None,
    context: AuthContext = AuthContext.UMTS,
) -> AuthOutcome:
    """Run AUTHENTICATE on ``channel``, where the application is already selected.

    One APDU under T=1 (two under T=0: the answer comes by GET RESPONSE).
    """
    command = build_command(rand, autn, context)
    resp = channel.transmit(command)
    where = f"{channel.transport.uri}: AUTHENTICATE"
    if resp.sw in _SW_OUTCOMES:
        return _SW_OUTCOMES[resp.sw]
    if not resp.ok:
        raise CardError(f"{where}: {resp.describe()}")
    if context is AuthContext.GSM:
        return parse_gsm_response(resp.data, where)
    return parse_response(resp.data, where)


def parse_response(data: bytes, where: str = "AUTHENTICATE") -> AuthSuccess | AuthSyncFailure:
    """Parse the 3G/IMS answer strictly; a wrong length names the field and its byte."""
    if not data:
        raise CardError(f"{where}: answer is empty, expected tag DB or DC")
    reader = _Fields(data, where)
    tag = reader.byte("tag")
    if tag == _TAG_SYNC_FAILURE:
        auts = reader.field("AUTS", AUTS_LENS)
        reader.end()
        return AuthSyncFailure(auts)
    if tag != _TAG_SUCCESS:
        raise CardError(
            f"{where}: byte 0 is {tag:02X}, expected tag DB (success) or DC (sync failure)"
        )
    # RES is 4-16 bytes for Milenage, up to 32 for TUAK (TS 35.231); CK/IK 16 or 32 bytes.
    res = reader.field("RES", tuple(range(4, 33)))
    ck = reader.field("CK", (16, 32))
    ik = reader.field("IK", (16, 32))
    kc = reader.field("Kc", (KC_LEN,)) if reader.remaining() else None
    reader.end()
    return AuthSuccess(res, ck, ik, kc)


def parse_gsm_response(data: bytes, where: str = "AUTHENTICATE") -> AuthGsmSuccess:
    """Parse the GSM context answer ``04 SRES 08 Kc`` strictly."""
    reader = _Fields(data, where)
    sres = reader.field("SRES", (SRES_LEN,))
    kc = reader.field("Kc", (KC_LEN,))
    reader.end()
    return AuthGsmSuccess(sres, kc)


class _Fields:
    """Length-prefixed fields read one after another, with errors naming field and byte."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.where = where
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def byte(self, name: str) -> int:
        if self.pos >= len(self.data):
            raise CardError(f"{self.where}: answer ends before the {name} at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def field(self, name: str, sizes: tuple[int, ...]) -> bytes:
        at = self.pos
        length = self.byte(f"length of {name}")
        if length not in sizes:
            allowed = ", ".join(map(str, sizes)) if len(sizes) <= 3 else f"{sizes[0]}-{sizes[-1]}"
            raise CardError(
                f"{self.where}: length of {name} at byte {at} is {length}, expected {allowed}"
            )
        if self.remaining() < length:
            raise CardError(
                f"{self.where}: {name} at byte {self.pos} needs {length} bytes, "
                f"only {self.remaining()} remain"
            )
        value = self.data[self.pos : self.pos + length]
        self.pos += length
        return value

    def end(self) -> None:
        if self.remaining():
            raise CardError(
                f"{self.where}: {self.remaining()} unexpected byte(s) from byte {self.pos}"
            )


def authenticate_app(
    transport: Transport,
    app: str,
    rand: bytes,
    autn: bytes | None = None,
    context: AuthContext = AuthContext.UMTS,
    pin: str | None = None,
    force: bool = False,
) -> AuthOutcome:
    """Find ``app`` ("usim"/"isim") in EF.DIR, select it, verify ``pin`` if given, and run
    AUTHENTICATE. Sizes are checked before any APDU goes to the card.
    """
    build_command(rand, autn, context)
    uicc = Uicc(transport)
    aid = uicc.find_application(app)
    with uicc.application(aid) as channel:
        if pin is not None:
            uicc.verify_pin(pin, channel=channel, force=force)
        return authenticate(channel, rand, autn, context)
