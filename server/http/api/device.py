"""The device-facing endpoints, served by a plain WSGI layer in front of the Flask app.

``POST /v1/attestations`` and ``POST /v1/attestations/{id}/evidence`` are the checkout
hot path: every handset at every checkout calls both.  Measured in one process, Flask's
per-request machinery (request and response objects, contexts, routing, hooks) cost
more CPU than the service's database statements for them, so these two routes are
dispatched here and every other request goes on to Flask unchanged.  The rules are the
Flask API's own: the body and the path's challenge id through ``server.http.api.body``
and the models of ``server.http.api.request_models`` (413, 415, 400, 422), errors as
problem+json through ``server.http.api.problems``, one access-log line per request, the
latency histogram, and 429 with ``Retry-After`` from the rate limits (per IMEI and per
client address).  Their OpenAPI description is in ``server.http.api.attestations``.

The client address is the TCP peer's, unless the peer is one of the service's trusted
reverse proxies (``simattest serve --trusted-proxy``): then it is the right-most
address in ``X-Forwarded-For`` that is not itself a trusted proxy, the way nginx's
``real_ip_recursive`` reads it.  Anyone else's ``X-Forwarded-For`` is ignored, so a
handset cannot pick the address it is counted under.

With ``simattest serve --client-ca`` both endpoints also need the handset's device
certificate on the TLS connection (``server.http.tls``): a request without one, or with
one that is not the named handset's (``server.pool.devicecerts``), answers 403 before
anything is counted or stored, and the verdict records the certificate's SHA-256.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import orjson

from server.attestation.challenge import ChallengeRequest, create_challenge
from server.attestation.evidence import submit_evidence
from server.attestation.handset_keys import signature_bytes
from server.attestation.ratelimit import limits_for
from server.core.service import Service
from server.http.api.body import parameters, read_json, validated
from server.http.api.problems import (
    MEDIA_TYPE,
    Problem,
    body_too_large,
    for_exception,
    http_problem,
    too_many_requests,
)
from server.http.api.request_models import AttestationPath, EvidenceSubmission
from server.http.api.request_models import ChallengeRequest as ChallengeBody
from server.http.metrics import RATE_LIMITED, appraisal_timer, count_outcome, request_timer
from server.http.tls import peer_certificate
from server.pool.devicecerts import check_device_certificate
from server.store.rate_counters import RateLimited

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (path, method) of the routes served here, for the OpenAPI check.
ROUTES = {("/v1/attestations", "post"), ("/v1/attestations/{attestation_id}/evidence", "post")}
_CHALLENGE_PATH = "/v1/attestations"
_PREFIX, _SUFFIX = "/v1/attestations/", "/evidence"

access_log = logging.getLogger("simattest.access")


def _too_many(exc: RateLimited) -> Problem:
    RATE_LIMITED.labels(scope=exc.scope).inc()
    return too_many_requests(exc.scope, exc.retry_after)


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: str | None,
                   proxies: tuple[IPNetwork, ...]) -> str:
    """The address a request is counted under (see the module docstring)."""
    if not forwarded_for or not proxies:
        return peer
    address = _address(peer)
    if address is None or not any(address in net for net in proxies):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        forwarded = _address(hop)
        if forwarded is None:
            break  # a malformed hop: trust nothing left of it
        if not any(forwarded in net for net in proxies):
            return str(forwarded)
        peer = str(forwarded)
    return peer


class DeviceEndpoints:
    """WSGI: the two device-facing routes here, everything else to ``app``."""

    def __init__(self, app: WsgiApp, svc: Service) -> None:
        self.app = app
        self.svc = svc
        self.proxies = tuple(ipaddress.ip_network(p, strict=False)
                             for p in svc.config.trusted_proxies)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path == _CHALLENGE_PATH and method != "GET":  # GET lists them (desk, in Flask)
            attestation_id = None
        elif path.startswith(_PREFIX) and path.endswith(_SUFFIX) \
                and "/" not in path[len(_PREFIX):-len(_SUFFIX)] \
                and len(path) > len(_PREFIX) + len(_SUFFIX):
            attestation_id = path[len(_PREFIX):-len(_SUFFIX)]
        else:
            return self.app(environ, start_response)
        started = time.perf_counter()
        client = client_address(environ.get("REMOTE_ADDR") or "",
                                environ.get("HTTP_X_FORWARDED_FOR"), self.proxies)
        headers: dict[str, str] = {}
        try:
            if method != "POST":
                problem = http_problem(405, "this endpoint accepts POST only")
                problem.headers["Allow"] = "POST" if attestation_id else "GET, POST"
                raise problem
            endpoint = "challenge" if attestation_id is None else "evidence"
            with request_timer(endpoint):
                status, payload = self._handle(environ, attestation_id, client)
            media_type = "application/json"
        except RateLimited as exc:
            problem = _too_many(exc)
            status, payload, headers, media_type = 429, problem.to_json(), problem.headers, \
                MEDIA_TYPE
        except Exception as exc:  # every failure answers problem+json, as in Flask
            problem = for_exception(exc)
            status, payload, headers = problem.status, problem.to_json(), problem.headers
            media_type = MEDIA_TYPE
        body = orjson.dumps(payload)
        start_response(f"{status} {HTTPStatus(status).phrase}", [
            ("Content-Type", media_type), ("Content-Length", str(len(body))),
            *headers.items()])
        access_log.info("request", extra={
            "method": method, "path": path, "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "client": client or None})
        return [body]

    def _read(self, environ: dict[str, Any]) -> Any:
        """The body as decoded JSON; at most ``max_body_bytes`` are read, with or without
        a Content-Length (a chunked body is cut off one byte past the limit)."""
        limit = self.svc.config.max_body_bytes
        length = environ.get("CONTENT_LENGTH") or ""
        given = length.isascii() and length.isdigit()
        if given and int(length) > limit:
            raise body_too_large(limit)
        raw = environ["wsgi.input"].read(int(length) if given else limit + 1)
        if len(raw) > limit:
            raise body_too_large(limit)
        return read_json(environ.get("CONTENT_TYPE", ""), raw)

    def _device_certificate(self, der: bytes | None, imei: object) -> str | None:
        """The SHA-256 of the request's device certificate ``der`` when the service asks
        for one (403 if it is missing or not handset ``imei``'s); None when it does not."""
        if not self.svc.config.device_certificates:
            return None
        return check_device_certificate(self.svc, der, imei)

    def _handle(self, environ: dict[str, Any], attestation_id: str | None, client: str
                ) -> tuple[int, dict[str, Any]]:
        der = peer_certificate(environ) if self.svc.config.device_certificates else None
        if self.svc.config.device_certificates and der is None:
            # No certificate at all: refused before the body is read or checked.
            self._device_certificate(None, None)
        if attestation_id is None:
            body = validated(ChallengeBody, self._read(environ))
            self._device_certificate(der, body.imei)
            request = ChallengeRequest(body.imei, body.signed_at, signature_bytes(body.signature))
            challenge = create_challenge(
                self.svc, request, client, limits_for(self.svc.config, body.imei, client))
            return 201, challenge.to_json()
        parameters(AttestationPath, {"attestation_id": attestation_id})
        data = self._read(environ)
        submission = validated(EvidenceSubmission, data)
        certificate = self._device_certificate(der, submission.evidence.imei)
        with appraisal_timer():
            # The evidence as the device signed it (its canonical JSON is what is verified).
            outcome = submit_evidence(
                self.svc, attestation_id, data["evidence"], submission.signature, client,
                limits_for(self.svc.config, submission.evidence.imei, client),
                device_certificate=certificate)
        count_outcome(outcome.status, outcome.reasons)
        return 200, outcome.to_json()
