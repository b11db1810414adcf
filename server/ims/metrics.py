"""Prometheus counters of the Cx peer: requests by command and result code (MAR, SAR,
and the RTRs it sends), scraped from ``simattest cx serve --metrics-bind``."""

from __future__ import annotations

from prometheus_client import Counter

CX_REQUESTS = Counter(
    "simattest_cx_requests", "Cx requests answered (MAR, SAR) or sent (RTR), by result code",
    ["command", "result"])


def count_request(command: str, result: int) -> None:
    CX_REQUESTS.labels(command, str(result)).inc()


def request_counts() -> list[dict[str, object]]:
    """The counter's current values, for ``/status``."""
    return [{"command": sample.labels["command"], "result": sample.labels["result"],
             "count": int(sample.value)}
            for metric in CX_REQUESTS.collect() for sample in metric.samples
            if sample.name.endswith("_total")]
