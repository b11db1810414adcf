"""``simattest ims register``: the handset's IMS registration with its MCPTT-specific
identities IMPI2/IMPU2 (TS 24.229 clause 5.1.1, TS 33.203 clause 6.1).

REGISTER goes over UDP or TCP to the P-CSCF/S-CSCF; on the 401 the card's ISIM (IMS AKA
context; the USIM's 3G context when the card has no ISIM) answers RAND‖AUTN from the
nonce on any reader URI.  A synchronisation failure is answered once with ``auts``; a MAC
failure ends the registration (the network does not hold this card's keys), never retried.

``+sip.instance`` is a per-checkout ``urn:uuid:`` (never the IMEI URN of RFC 7254, which
would tell the IMS core which handset this is): by default a name-based UUID of IMPI2,
which is itself per checkout and which only the IdM maps to the IMEI.
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass, field

from attest.errors import CardError, InputError, TransportError
from hw.transport.base import open_transport
from hw.uicc.authenticate import (
    AuthMacFailure,
    AuthOutcome,
    AuthSuccess,
    AuthSyncFailure,
    authenticate_app,
)
from hw.uicc.ts_102_221 import FileNotFoundOnCard
from server.agent.sip import (
    Challenge,
    Dialog,
    DigestAnswer,
    SipError,
    SipResponse,
    message_length,
    parse_challenge,
    parse_response,
    split_params,
)

# RFC 3261 clause 17.1.1.2: Timer T1; a UDP request is resent at T1, 2·T1, 4·T1 … until
# the overall timeout.
_T1 = 0.5


def default_instance(impi: str) -> str:
    """The per-checkout instance id: a name-based UUID of IMPI2 (RFC 4122 clause 4.3)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'simattest:impi:' + impi)}"


class Unregistered(CardError):
    """The registration was refused (by the network or by the card)."""


@dataclass
class Outcome:
    """The final answer to the REGISTER, as the CLI prints it."""

    status: int
    reason: str
    expires: int | None = None
    associated_uris: list[str] = field(default_factory=list)
    service_routes: list[str] = field(default_factory=list)
    pub_gruu: str | None = None
    temp_gruu: str | None = None
    resynchronised: bool = False
    application: str = "isim"


class _Link:
    """One UDP or TCP association with the registrar."""

    def __init__(self, host: str, port: int, transport: str, timeout: float,
                 local_port: int = 0) -> None:
        self.transport = transport
        self.timeout = timeout
        self.address = (host, port)
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        try:
            family = socket.getaddrinfo(host, port, type=kind)[0][0]
            self.sock = socket.socket(family, kind)
            self.sock.settimeout(timeout)
            if local_port:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.sock.bind(("", local_port))
            self.sock.connect(self.address)
        except OSError as exc:
            raise TransportError(f"registrar {host}:{port} ({transport}): "
                                 f"{exc.strerror or exc}") from None
        self.local = self.sock.getsockname()[:2]
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def exchange(self, request: bytes) -> SipResponse:
        """Send ``request`` and return its final response (1xx skipped)."""
        deadline = time.monotonic() + self.timeout
        interval = _T1
        self._send(request)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"registrar {self.address[0]}:{self.address[1]} "
                                     f"({self.transport}): no answer within "
                                     f"{self.timeout:g} s")
            wait = min(remaining, interval) if self.transport == "udp" else remaining
            data = self._receive(wait)
            if data is None:
                if self.transport == "udp":
                    self._send(request)
                    interval = min(interval * 2, 4.0)
                continue
            response = parse_response(data)
            if response.status >= 200:
                return response

    def _send(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except OSError as exc:
            raise TransportError(f"registrar {self.address[0]}:{self.address[1]}: "
                                 f"{exc.strerror or exc}") from None

    def _receive(self, wait: float) -> bytes | None:
        self.sock.settimeout(max(wait, 0.01))
        try:
            if self.transport == "udp":
                return self.sock.recv(65535)
            while (length := message_length(self._buffer)) is None:
                chunk = self.sock.recv(65535)
                if not chunk:
                    raise TransportError(f"registrar {self.address[0]}:"
                                         f"{self.address[1]} closed the connection")
                self._buffer += chunk
            data, self._buffer = self._buffer[:length], self._buffer[length:]
            return data
        except TimeoutError:
            return None
        except ConnectionRefusedError:
            return None  # UDP: ICMP port unreachable; keep waiting for the timeout
        except OSError as exc:
            raise TransportError(f"registrar {self.address[0]}:{self.address[1]}: "
                                 f"{exc.strerror or exc}") from None


def _card_answer(reader: str, challenge: Challenge) -> tuple[AuthOutcome, str]:
    """AUTHENTICATE on the ISIM (IMS AKA context), on the USIM when there is no ISIM."""
    with open_transport(reader) as transport:
        try:
            return authenticate_app(transport, "isim", challenge.rand, challenge.autn), "isim"
        except FileNotFoundOnCard:
            return authenticate_app(transport, "usim", challenge.rand, challenge.autn), "usim"


def _outcome(response: SipResponse, resynchronised: bool, application: str,
             instance: str) -> Outcome:
    outcome = Outcome(response.status, response.reason, resynchronised=resynchronised,
                      application=application)
    for value in response.values("P-Associated-URI"):
        outcome.associated_uris += [v.strip().strip("<>") for v in value.split(",")]
    for value in response.values("Service-Route"):
        outcome.service_routes += [v.strip() for v in value.split(",")]
    for value in response.values("Contact"):
        for contact in value.split(","):
            params_text = contact.partition(";")[2]
            params = split_params(params_text.replace(";", ","))
            if instance not in params.get("+sip.instance", "") and \
                    params.get("+sip.instance") is not None:
                continue
            if "expires" in params and params["expires"].isdigit():
                outcome.expires = int(params["expires"])
            outcome.pub_gruu = params.get("pub-gruu", outcome.pub_gruu)
            outcome.temp_gruu = params.get("temp-gruu", outcome.temp_gruu)
    if outcome.expires is None:
        expires = response.values("Expires")
        outcome.expires = int(expires[0]) if expires and expires[0].isdigit() else None
    return outcome


def register(*, reader: str, impi: str, impu: str, domain: str, registrar: tuple[str, int],
             transport: str = "udp", expires: int = 600, instance: str | None = None,
             timeout: float = 10.0, local_port: int = 0) -> Outcome:
    """Register (``expires`` > 0) or unregister (0) IMPU2 with IMPI2 through ``registrar``.

    The Contact is this host's address and ``local_port`` (0: any free port); a
    de-registration removes the binding with the same Contact, so a later run of the
    command that de-registers must use the ``local_port`` the registration used.

    Raises ``Unregistered`` when the card rejects the network (MAC failure: no retry) and
    ``SipError``/``TransportError`` for a registrar that misbehaves or does not answer.
    """
    if transport not in ("udp", "tcp"):
        raise InputError(f"--transport: expected udp or tcp, got {transport!r}")
    instance = instance or default_instance(impi)
    link = _Link(registrar[0], registrar[1], transport, timeout, local_port)
    try:
        dialog = Dialog(impu, impi, domain, link.local[0], link.local[1], transport, instance)
        response = link.exchange(dialog.register(expires))
        resynchronised = False
        application = "isim"
        # At most: challenge → (sync failure → new challenge) → answer.
        for _round in range(2):
            if response.status != 401:
                break
            headers = response.values("WWW-Authenticate")
            if not headers:
                raise SipError("401 without WWW-Authenticate")
            challenge = parse_challenge(headers[0])
            outcome, application = _card_answer(reader, challenge)
            answer = DigestAnswer(impi, dialog.request_uri, challenge)
            if isinstance(outcome, AuthSuccess):
                answer = DigestAnswer(impi, dialog.request_uri, challenge, res=outcome.res)
            elif isinstance(outcome, AuthSyncFailure) and not resynchronised:
                answer = DigestAnswer(impi, dialog.request_uri, challenge, auts=outcome.auts)
                resynchronised = True
            elif isinstance(outcome, AuthMacFailure):
                raise Unregistered(
                    f"{reader}: the card rejected the network's challenge (MAC failure): "
                    "the IMS core does not hold this card's keys; not retrying")
            else:
                raise Unregistered(f"{reader}: AUTHENTICATE answered "
                                   f"{type(outcome).__name__}; registration abandoned")
            response = link.exchange(dialog.register(expires, answer.header()))
            if not answer.auts:
                break
        return _outcome(response, resynchronised, application, instance)
    finally:
        link.close()
