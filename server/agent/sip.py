"""Just enough SIP (RFC 3261) for a UE's REGISTER with IMS AKA (TS 24.229 clause 5.1.1,
TS 33.203 clause 6.1, RFC 3310 Digest AKAv1-MD5): building the request, reading the
response, the challenge's nonce and the digest answer.

No maintained Python SIP library does Digest AKA (checked on PyPI: aiosip was last
released in 2017, aiosipua and sip-core have no AKA, pjsua2 needs PJSIP built with
Python bindings and its AKA needs a callback into the card anyway), so this is a small
implementation of its own, pure (bytes in, bytes out); ``server.agent.ims`` moves the
bytes and runs AUTHENTICATE on the card.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from attest.errors import InputError

AKAV1_MD5 = "AKAv1-MD5"
_RAND_AUTN = 32  # RAND (16) ‖ AUTN (16) at the start of the nonce (RFC 3310 clause 3.2)


class SipError(InputError):
    """A SIP message from the registrar that cannot be used (malformed, unexpected)."""


@dataclass(frozen=True)
class SipResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive; comma lists kept whole)."""
        wanted = _COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if _COMPACT.get(n.lower(), n.lower()) == wanted]


# RFC 3261 clause 7.3.3 compact forms of the headers read here.
_COMPACT = {"m": "contact", "i": "call-id", "v": "via", "l": "content-length",
            "f": "from", "t": "to"}


def parse_response(data: bytes) -> SipResponse:
    """A SIP response's status line and headers (folded lines joined, RFC 3261 7.3.1)."""
    head, _sep, _body = data.partition(b"\r\n\r\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError("SIP response: not UTF-8 text") from None
    lines = re.sub(r"\r\n[ \t]+", " ", text).split("\r\n")
    match = re.fullmatch(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if match is None:
        raise SipError(f"SIP response: bad status line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise SipError(f"SIP response: bad header line {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    return SipResponse(int(match.group(1)), match.group(2), tuple(headers))


def message_length(data: bytes) -> int | None:
    """The full length of the first message in ``data`` (stream transports), or None
    while its headers or body are incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    match = re.search(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)", data[:end], re.I)
    total = end + 4 + (int(match.group(1)) if match else 0)
    return total if len(data) >= total else None


def split_params(text: str) -> dict[str, str]:
    """``name=value`` or ``name="quoted"`` pairs separated by commas (RFC 2617 3.2.1)."""
    params = {}
    for match in re.finditer(r'\s*([\w.+-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*,?', text):
        value = match.group(3) if match.group(3) is not None else match.group(2)
        params[match.group(1).lower()] = value
    return params


@dataclass(frozen=True)
class Challenge:
    """A ``WWW-Authenticate: Digest`` challenge with RAND and AUTN from its nonce."""

    realm: str
    nonce: str
    rand: bytes
    autn: bytes
    qop: str | None
    opaque: str | None
    algorithm: str


def parse_challenge(value: str) -> Challenge:
    """The AKA challenge in a 401's ``WWW-Authenticate`` (RFC 3310 clause 3.2)."""
    scheme, _sep, rest = value.partition(" ")
    if scheme.lower() != "digest":
        raise SipError(f"401: authentication scheme {scheme!r}, expected Digest")
    params = split_params(rest)
    algorithm = params.get("algorithm", "MD5")
    if algorithm.lower() != AKAV1_MD5.lower():
        raise SipError(f"401: algorithm {algorithm!r} is not supported "
                       f"(this UE does {AKAV1_MD5})")
    if "nonce" not in params or "realm" not in params:
        raise SipError("401: the challenge has no nonce or no realm")
    try:
        raw = base64.b64decode(params["nonce"], validate=True)
    except (binascii.Error, ValueError):
        raise SipError("401: nonce is not base64 (RFC 3310 clause 3.2)") from None
    if len(raw) < _RAND_AUTN:
        raise SipError(f"401: nonce carries {len(raw)} bytes, expected at least "
                       f"{_RAND_AUTN} (RAND ‖ AUTN)")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in qops else None
    if qops and qop is None:
        raise SipError(f"401: qop {params['qop']!r} offers no 'auth'")
    return Challenge(params["realm"], params["nonce"], raw[:16], raw[16:_RAND_AUTN], qop,
                     params.get("opaque"), algorithm)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class DigestAnswer:
    """What goes into the ``Authorization`` header after a challenge."""

    username: str
    uri: str
    challenge: Challenge
    res: bytes = field(repr=False, default=b"")
    auts: bytes | None = None
    cnonce: str = field(default_factory=lambda: secrets.token_hex(8))

    def header(self, method: str = "REGISTER", nc: int = 1) -> str:
        """RFC 2617 clause 3.2.2 with RES (or, on a synchronisation failure, the empty
        password and ``auts``) as the password (RFC 3310 clauses 3.3 and 3.4)."""
        ch = self.challenge
        ha1 = _md5(f"{self.username}:{ch.realm}:".encode() + self.res)
        ha2 = _md5(f"{method}:{self.uri}".encode())
        nc_text = f"{nc:08x}"
        if ch.qop:
            response = _md5(f"{ha1}:{ch.nonce}:{nc_text}:{self.cnonce}:{ch.qop}:{ha2}".encode())
        else:
            response = _md5(f"{ha1}:{ch.nonce}:{ha2}".encode())
        parts = [f'username="{self.username}"', f'realm="{ch.realm}"', f'nonce="{ch.nonce}"',
                 f'uri="{self.uri}"', f'response="{response}"', f"algorithm={ch.algorithm}"]
        if ch.qop:
            parts += [f"qop={ch.qop}", f'cnonce="{self.cnonce}"', f"nc={nc_text}"]
        if ch.opaque is not None:
            parts.append(f'opaque="{ch.opaque}"')
        if self.auts is not None:
            parts.append(f'auts="{base64.b64encode(self.auts).decode()}"')
        return "Digest " + ", ".join(parts)


@dataclass
class Dialog:
    """The REGISTER "dialog" state of one UE: Call-ID, CSeq, From tag (RFC 3261 10.2)."""

    impu: str
    impi: str
    domain: str
    local_host: str
    local_port: int
    transport: str
    instance: str
    call_id: str = field(default_factory=lambda: secrets.token_hex(12))
    tag: str = field(default_factory=lambda: secrets.token_hex(6))
    cseq: int = 0

    @property
    def request_uri(self) -> str:
        return f"sip:{self.domain}"

    def register(self, expires: int, authorization: str | None = None) -> bytes:
        """The next REGISTER; without ``authorization``, the initial one with an empty
        response naming the IMPI (TS 24.229 clause 5.1.1.2.1)."""
        self.cseq += 1
        if authorization is None:
            authorization = (f'Digest username="{self.impi}", realm="{self.domain}", '
                             f'uri="{self.request_uri}", nonce="", response=""')
        via_transport = self.transport.upper()
        contact_uri = f"sip:{self.local_host}:{self.local_port};transport={self.transport}"
        contact = f'<{contact_uri}>;+sip.instance="<{self.instance}>";expires={expires}'
        lines = [
            f"REGISTER {self.request_uri} SIP/2.0",
            f"Via: SIP/2.0/{via_transport} {self.local_host}:{self.local_port};"
            f"branch=z9hG4bK{secrets.token_hex(10)};rport",
            "Max-Forwards: 70",
            f"From: <{self.impu}>;tag={self.tag}",
            f"To: <{self.impu}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: {contact}",
            "Supported: path, gruu",
            f"Expires: {expires}",
            f"Authorization: {authorization}",
            "User-Agent: simattest ims register",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()
