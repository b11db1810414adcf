"""JSON over HTTP to the simattest service, for the device agent and the CLI commands.

Failures map to the CLI's exit codes: the service unreachable or answering 5xx (or
something that is not JSON) → TransportError (3); a 4xx problem+json → InputError (2)
carrying the problem's ``detail``.  Errors say what happened in words; the request's
method, path and HTTP status are logged at INFO (``simattest -v``).
``--server``/``--token`` default to the environment variables ``SIMATTEST_SERVER`` and
``SIMATTEST_TOKEN``.

**TLS.**  An ``https://`` service's certificate is verified against ``--ca FILE``
(``SIMATTEST_CA``), else the system's trusted CAs, and its host name against the URL;
the device agent presents the handset's device certificate as its TLS client
certificate with ``--cert`` (``server.pool.devicecerts``).  Plain ``http://`` is refused
unless the host is loopback (a literal loopback address or ``localhost``, RFC 6761
clause 6.3; no name is looked up, so a DNS answer cannot make a remote host count as
local) or ``--insecure`` is given: tokens, IMEIs and evidence would cross the network
readable by any node on the way.  A refused handshake is one line naming the reason
OpenSSL gives (an unknown CA, an expired certificate, a host name the certificate does
not name, a client certificate the service refused).

A 503 from the service changed nothing (its database was unreachable,
``server.http.api.problems.database_unavailable``), so the request is sent again after the
``Retry-After`` it names — twice at most, waiting 30 s at most each time — and a
database restart or failover does not fail a checkout at the desk.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from attest.errors import InputError, TransportError

DEFAULT_TIMEOUT = 30.0
SERVER_ENV = "SIMATTEST_SERVER"
TOKEN_ENV = "SIMATTEST_TOKEN"  # noqa: S105 (the variable's name, not a token)
CA_ENV = "SIMATTEST_CA"
RETRIES_AFTER_503 = 2
MAX_RETRY_AFTER = 30  # seconds

log = logging.getLogger("simattest.client")


def service_url(text: str) -> str:
    """argparse ``type=`` for ``--server`` (and its environment default): an http(s) URL."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"--server: {text!r} is not an http:// or https:// URL "
            "(e.g. http://127.0.0.1:8080)")
    return text


def timeout_seconds(text: str) -> float:
    """argparse ``type=`` for ``--timeout``: seconds, more than zero."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    # requests refuses 0 and below only when it sends, with a traceback-worthy ValueError.
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(
            f"--timeout: expected a number of seconds greater than 0, got {text!r}")
    return seconds


def add_server_options(parser: argparse.ArgumentParser, *, token: bool) -> None:
    """``--server`` (and ``--token``) with their environment defaults, ``--ca`` and
    ``--insecure``."""
    parser.add_argument("--server", type=service_url, default=os.environ.get(SERVER_ENV),
                        metavar="URL", help=f"service base URL (default ${SERVER_ENV})")
    if token:
        parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), metavar="TOKEN",
                            help=f"operator API token (default ${TOKEN_ENV})")
    parser.add_argument("--timeout", type=timeout_seconds, default=DEFAULT_TIMEOUT,
                        metavar="S", help="HTTP timeout in seconds")
    parser.add_argument("--ca", default=os.environ.get(CA_ENV) or None, metavar="FILE",
                        help="verify an https:// service's certificate against this CA "
                             f"(PEM; default ${CA_ENV}, else the system's CAs)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow plain http:// to a host that is not loopback (anyone "
                             "on the network path can read and change the traffic)")


def client_from_args(args: argparse.Namespace,
                     cert: tuple[str, str] | None = None) -> ServiceClient:
    """The client the options name; ``cert``: the TLS client certificate and its key."""
    if not args.server:
        raise InputError(f"give --server URL (or set {SERVER_ENV})")
    token = getattr(args, "token", None)
    if hasattr(args, "token") and not token:
        raise InputError(f"give --token (or set {TOKEN_ENV})")
    refuse_plain_http(args.server, insecure=args.insecure)
    return ServiceClient(args.server, args.timeout, token, ca=args.ca, cert=cert)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_plain_http(url: str, *, insecure: bool) -> None:
    """InputError for an ``http://`` URL whose host is not loopback, unless ``insecure``
    (see the module docstring)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not insecure and not _is_loopback(parts.hostname or ""):
        raise InputError(
            f"--server {url}: plain HTTP to {parts.hostname}, which is not this machine; "
            "use https:// (simattest serve --tls-cert, docs/operations.md) or accept an "
            "unprotected connection with --insecure")


class ServiceRefused(InputError):
    """A 4xx answer; ``problem`` is its problem+json body (e.g. an import's rejected rows)."""

    def __init__(self, message: str, status: int, problem: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem

    @property
    def slug(self) -> str:
        return str(self.problem.get("type", "")).rpartition("/")[2]


@dataclass
class ServiceClient:
    """JSON over HTTP to the attestation service, errors mapped to exit codes."""

    base_url: str
    timeout: float = DEFAULT_TIMEOUT
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session)
    ca: str | None = None  # the CA to verify the service with (None: the system's)
    cert: tuple[str, str] | None = None  # TLS client certificate and key files

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        for retry in range(RETRIES_AFTER_503, -1, -1):
            resp = self._send(method, path, body)
            wait = _retry_after(resp) if resp.status_code == 503 and retry else None
            if wait is None:
                break
            log.warning("%s %s: the service's database is unavailable; trying again in %d s",
                        method, path, wait)
            time.sleep(wait)
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        detail = answer.get("detail") or answer.get("title") if isinstance(answer, dict) \
            else None
        # The method, path and status are for whoever debugs (-v); the error says it in words.
        log.info("%s %s: HTTP %d %s", method, path, resp.status_code, resp.reason)
        if resp.status_code >= 500 or (resp.status_code < 400 and not isinstance(answer, dict)):
            raise TransportError(
                f"{self.base_url}: the attestation service failed to answer"
                + (f" ({detail})" if detail else "; its log says why"))
        if resp.status_code >= 400:
            problem = answer if isinstance(answer, dict) else {}
            words = detail or _STATUS_WORDS.get(resp.status_code,
                                                "the service refused the request")
            # The field matters for a value the user typed wrong (422), not for a conflict.
            if resp.status_code == 422:
                words = _with_field(words, problem)
            raise ServiceRefused(words, resp.status_code, problem)
        assert isinstance(answer, dict)
        return answer

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> requests.Response:
        url = self.base_url.rstrip("/") + path
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        try:
            # verify per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a
            # session's own setting.
            return self.session.request(method, url, json=body, headers=headers,
                                        timeout=self.timeout, verify=self.ca or True,
                                        cert=self.cert)
        except requests.RequestException as exc:
            log.info("%s %s: %r", method, path, exc)
            refused = _tls_refusal(exc)
            if refused is not None:
                raise TransportError(f"{self.base_url}: TLS refused: {refused}") from None
            raise TransportError(f"cannot reach the attestation service at {self.base_url} "
                                 f"({_unreachable_reason(exc, self.timeout)})") from None


# Said when a 4xx answer carries no problem+json detail (a proxy's error page, say).
_STATUS_WORDS = {
    401: "the service does not know this token (--token / SIMATTEST_TOKEN)",
    403: "this token's role may not do that",
    404: "not found on the service (is --server the attestation service?)",
}


def _unreachable_reason(exc: requests.RequestException, timeout: float) -> str:
    """Why a request got no answer, in words (never the exception's class name)."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host unreachable; is `simattest serve` running there?"
    return "the request could not be sent"


def _with_field(detail: str, problem: dict[str, Any]) -> str:
    """``detail`` prefixed with the field the problem names ("user: expected …"), unless
    the detail already starts with it ("IMEI must be …" for field ``imei``)."""
    errors = problem.get("errors")
    fields = {e.get("field") for e in errors if isinstance(e, dict)} \
        if isinstance(errors, list) else set()
    field_name = problem.get("field") or (fields.pop() if len(fields) == 1 else None)
    if not isinstance(field_name, str) or not field_name \
            or detail.lower().startswith(field_name.lower()):
        return detail
    return f"{field_name}: {detail}"


def _retry_after(resp: requests.Response) -> int | None:
    """The seconds a 503 asks to wait (``Retry-After`` in seconds), if it asks reasonably."""
    value = resp.headers.get("Retry-After", "")
    return int(value) if value.isdigit() and int(value) <= MAX_RETRY_AFTER else None


def _tls_refusal(exc: BaseException) -> str | None:
    """The reason of the TLS failure behind a requests exception, if one is: OpenSSL's
    verification message for the service's certificate, else the alert the service
    ended the handshake with (e.g. it refused our client certificate)."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return (f"the service's certificate: {current.verify_message} "
                    "(--ca FILE names the CA that signed it)")
        if isinstance(current, ssl.SSLError):
            reason = str(current.reason or current).lower().replace("_", " ")
            if "alert" in reason:
                return (f"the service ended the handshake: {reason} (it checks the client "
                        "certificate --cert against its --client-ca, and its validity)")
            return reason
        pending.extend([current.__cause__, current.__context__, *current.args,
                        getattr(current, "reason", None)])
    return None
