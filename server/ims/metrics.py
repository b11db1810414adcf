"""Prometheus counters of the Cx peer: requests by command and result code (MAR, SAR,
and the RTRs it sends), scraped from ``simattest cx serve --metrics-bind``."""

from __future__ import annotations

from prometheus_client import Counter

CX_REQUESTS = Counter(
    "simattest_cx_requests", "Cx requests answered (MAR, SAR) or sent (RTR), by result code",
    ["command", "result"])


def count_request(command: str, result: int) -> None:
    CX_REQUESTS.labels(command, str(result)).inc()
