"""Prometheus metrics of the Cx peer: requests by command and result code (MAR, SAR,
UAR, LIR, and the RTRs it sends), and which configured peers are connected, scraped from
``simattest cx serve --status-bind``.  With ``--processes N`` the peer processes share
a ``PROMETHEUS_MULTIPROC_DIR`` (``server.core.prometheus``): counts are added up over
every process, dead ones included, and a peer is connected when a live process holds
its connection."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from server.core.prometheus import registry

CX_REQUESTS = Counter(
    "simattest_cx_requests", "Cx requests answered (MAR, SAR) or sent (RTR), by result code",
    ["command", "result"])
CX_PEER_CONNECTED = Gauge(
    "simattest_cx_peer_connected",
    "Connections of the configured peer (Origin-Host) to the Cx peer processes now",
    ["peer"], multiprocess_mode="livesum")


def count_request(command: str, result: int) -> None:
    CX_REQUESTS.labels(command, str(result)).inc()


def set_connected(peer: str, connected: bool) -> None:
    """Record whether this process holds a connection of ``peer`` now."""
    CX_PEER_CONNECTED.labels(peer).set(1 if connected else 0)


def exposition() -> tuple[bytes, str]:
    """The text exposition format for ``/metrics`` (every process's samples)."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def request_counts() -> list[dict[str, object]]:
    """The request counts now (every process's), for ``/status``."""
    return [{"command": sample.labels["command"], "result": sample.labels["result"],
             "count": int(sample.value)}
            for metric in registry().collect() if metric.name == "simattest_cx_requests"
            for sample in metric.samples if sample.name.endswith("_total")]


def connections() -> dict[str, int]:
    """Connections now per peer (Origin-Host), over every live process, for
    ``/status``."""
    return {sample.labels["peer"]: int(sample.value)
            for metric in registry().collect() if metric.name == "simattest_cx_peer_connected"
            for sample in metric.samples}
