"""Prometheus metrics: attestations by status and reason, appraisal latency.

``/metrics`` answers operators only: with an operator token on the service's address
(``server.http.api.metrics``), or without one on an address of its own
(``simattest serve --metrics-bind``, ``MetricsListener``), which serves nothing else.

Under gunicorn every worker is its own process.  When ``PROMETHEUS_MULTIPROC_DIR`` is
set (``simattest serve`` and the demo set it to a fresh directory before the workers
fork), prometheus_client writes each process's samples to files there and
``/metrics`` aggregates them with ``MultiProcessCollector``; without it, ``/metrics``
shows only the answering process's counts (fine for one process, e.g. tests).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from server.core.prometheus import registry

ATTESTATIONS = Counter(
    "simattest_attestations", "Appraised evidence by outcome status", ["status"]
)
REASONS = Counter(
    "simattest_attestation_reasons", "Reason codes in appraisal verdicts", ["reason"]
)
APPRAISAL_SECONDS = Histogram(
    "simattest_appraisal_seconds",
    "Time to consume a challenge, appraise, sign the EAR and audit (one transaction)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
REQUEST_SECONDS = Histogram(
    "simattest_device_request_seconds",
    "Latency of the device-facing endpoints",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
RATE_LIMITED = Counter(
    "simattest_rate_limited", "Device-facing requests refused with 429", ["scope"]
)


# The labelled series, looked up once per process and label value: ``labels()``
# validates and locks on every call, and the values are few (statuses, reason codes,
# the two device endpoints).
@functools.cache
def _by_status(status: str) -> Counter:
    return ATTESTATIONS.labels(status=status)


@functools.cache
def _by_reason(reason: str) -> Counter:
    return REASONS.labels(reason=reason)


@functools.cache
def _by_endpoint(endpoint: str) -> Histogram:
    return REQUEST_SECONDS.labels(endpoint=endpoint)


def count_outcome(status: str, reasons: list[str]) -> None:
    _by_status(status).inc()
    for reason in reasons:
        _by_reason(reason).inc()


@contextmanager
def appraisal_timer() -> Iterator[None]:
    with APPRAISAL_SECONDS.time():
        yield


@contextmanager
def request_timer(endpoint: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        _by_endpoint(endpoint).observe(time.perf_counter() - started)


def exposition() -> tuple[bytes, str]:
    """The text exposition format for ``/metrics`` (all workers when multi-process)."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


class MetricsListener:
    """WSGI: a request that came in on ``listener`` (numeric host, port: gunicorn's
    ``SERVER_NAME``/``SERVER_PORT`` name the socket it was accepted on, whatever the
    Host header says) gets ``GET /metrics`` without a token, or 404 — nothing else of
    the service answers there; every other request goes on to ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], listener: tuple[str, int]) -> None:
        self.app = app
        self.listener = (listener[0], str(listener[1]))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if (environ.get("SERVER_NAME"), environ.get("SERVER_PORT")) != self.listener:
            return self.app(environ, start_response)
        if environ.get("PATH_INFO") == "/metrics" and environ.get("REQUEST_METHOD") == "GET":
            body, content_type = exposition()
            status = "200 OK"
        else:
            body, content_type = b"only GET /metrics is served here\n", "text/plain"
            status = "404 Not Found"
        start_response(status, [("Content-Type", content_type),
                                ("Content-Length", str(len(body)))])
        return [body]
