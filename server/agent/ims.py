"""``simattest ims register``: the handset's IMS registration with its MCPTT-specific
identities IMPI2/IMPU2 (TS 24.229 clause 5.1.1, TS 33.203 clause 6.1).

REGISTER goes over UDP or TCP to the P-CSCF/S-CSCF; on the 401 the card's ISIM (IMS AKA
context; the USIM's 3G context when the card has no ISIM) answers RAND‖AUTN from the
nonce on any reader URI.  A synchronisation failure is answered once with ``auts``; a MAC
failure ends the registration (the network does not hold this card's keys), never retried.

``+sip.instance`` is a per-checkout ``urn:uuid:`` (never the IMEI URN of RFC 7254, which
would tell the IMS core which handset this is): the instance id the IdM allocated with
IMPI2 (``register_from_idms``), or, when the identities are given by hand, a name-based
UUID of IMPI2, which is itself per checkout and which only the IdM maps to the IMEI.

``register_from_idms`` reads IMPI2, IMPU2, the aliases, the instance id, the home domain
and the registrar from the IdMS's identities endpoint with the sign-in's access token,
over mutual TLS with the device certificate the token is bound to (RFC 8705).
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
from server.agent.mcclient import fetch_identities
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
# RFC 3261 clause 19.1.2: the default port of SIP over UDP and TCP.
_SIP_PORT = 5060


def default_instance(impi: str) -> str:
    """The per-checkout instance id: a name-based UUID of IMPI2 (RFC 4122 clause 4.3)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'simattest:impi:' + impi)}"


def parse_registrar(text: str, default_port: int | None = None) -> tuple[str, int]:
    """HOST:PORT (``[v6]:PORT`` too); HOST alone when ``default_port`` is given."""
    host, sep, port = text.rpartition(":")
    if (not sep or "]" in port) and default_port is not None and text:
        return text.strip("[]"), default_port
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def check_instance(text: str) -> str:
    """``text`` if it is a ``urn:uuid:`` (RFC 4122 clause 3), never an IMEI URN."""
    try:
        if not text.startswith("urn:uuid:"):
            raise ValueError
        uuid.UUID(text[len("urn:uuid:"):])
    except ValueError:
        raise InputError(f"instance id: expected urn:uuid:<UUID> (never an IMEI URN), got "
                         f"{text!r}") from None
    return text


@dataclass(frozen=True)
class ImsIdentities:
    """What the handset registers with, as the IdMS handed it over at sign-in."""

    impi: str  # IMPI2
    impu: str  # IMPU2
    aliases: tuple[str, ...]
    instance: str  # the per-checkout urn:uuid:
    domain: str  # the home network domain (the Request-URI)
    registrar: tuple[str, int]


def identities_from_idms(idms: str, access_token: str, *, cert: tuple[str, str],
                         ca: str | bool) -> ImsIdentities:
    """The signed-in handset's identities from the IdMS at ``idms`` (module docstring)."""
    found = fetch_identities(idms, access_token, cert=cert, ca=ca)
    where = f"IdMS {idms} identities"
    fields = {name: found.get(name) for name in
              ("impi", "impu", "instance_id", "home_domain", "registrar")}
    missing = [name for name, value in fields.items() if not isinstance(value, str)
               or not value]
    aliases = found.get("aliases", [])
    if missing or not isinstance(aliases, list) \
            or not all(isinstance(a, str) for a in aliases):
        raise InputError(f"{where}: missing or malformed {', '.join(missing) or 'aliases'}")
    try:
        instance = check_instance(str(fields["instance_id"]))
        registrar = parse_registrar(str(fields["registrar"]), _SIP_PORT)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return ImsIdentities(str(fields["impi"]), str(fields["impu"]), tuple(aliases), instance,
                         str(fields["home_domain"]), registrar)


def register_from_idms(*, reader: str, idms: str, access_token: str,
                       cert: tuple[str, str], ca: str | bool,
                       registrar: tuple[str, int] | None = None, transport: str = "udp",
                       expires: int = 600, timeout: float = 10.0, local_port: int = 0
                       ) -> tuple[ImsIdentities, Outcome]:
    """``register`` with the identities the IdMS gives the signed-in handset (its
    registrar unless ``registrar`` overrides it)."""
    found = identities_from_idms(idms, access_token, cert=cert, ca=ca)
    outcome = register(reader=reader, impi=found.impi, impu=found.impu, domain=found.domain,
                       registrar=registrar or found.registrar, transport=transport,
                       expires=expires, instance=found.instance, timeout=timeout,
                       local_port=local_port)
    return found, outcome


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
