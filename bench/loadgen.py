"""Load generator for full checkout attestations: challenge → card answer → signed evidence.

Each client is one pooled handset with its own card: it asks for a challenge, answers it
as the USIM would (MAC-A check, RES with Milenage — the real algorithm, the card's K/OPc),
signs the evidence with its device key and submits it, in a loop, over one persistent
HTTP/1.1 connection on loopback.  Clients run as threads spread over a few processes so
the generator is not limited to one core by the GIL.  Latency is per full attestation
(both requests).

The HTTP client is a minimal one on a plain socket (request line, three headers, a
``Content-Length`` body; the answer's status, ``Content-Length`` and ``Connection``):
``http.client`` parses every response header with the ``email`` package, which cost
the generator more CPU than the card's and the handset's cryptography together, CPU the
server under test then did not get.  Every response is still read whole, its status
checked and its JSON decoded.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from attest.aka.milenage import Milenage
from attest.aka.sqn import open_autn
from attest.devicekey import load_private_key
from attest.evidence import canonical_json

PS_FACTS = {"mnc_length": 2,
            "ust": [10, 12, 19, 20, 21, 27, 33, 68, 85, 95, 101, 109], "prose": True}
IMS_DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"


@dataclass(frozen=True)
class ClientSpec:
    """One simulated handset + card (picklable for the worker processes)."""

    imei: str
    iccid: str
    imsi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    device_key_pem: bytes = field(repr=False)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    cpu_seconds: float = 0.0  # the generator's own CPU time (all its processes)


class HttpError(Exception):
    """The server's answer was not a well-formed HTTP/1.1 response with a length."""


class _Connection:
    """One persistent HTTP/1.1 connection: POST JSON, read the whole answer."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.host = f"{host}:{port}".encode()
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _recv(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise HttpError("connection closed by the server")
        self.buffer += chunk

    def post(self, path: str, payload: bytes) -> tuple[int, bytes]:
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.sendall(
                b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self.host, len(payload),
                                                       payload))
            while b"\r\n\r\n" not in self.buffer:
                self._recv()
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            status_line, *lines = head.split(b"\r\n")
            version, status, *_reason = status_line.split(b" ", 2)
            if version != b"HTTP/1.1" or not status.isdigit():
                raise HttpError(f"bad status line {status_line[:40]!r}")
            headers = dict(line.lower().split(b":", 1) for line in lines)
            if b"content-length" not in headers:
                raise HttpError("answer without Content-Length")
            length = int(headers[b"content-length"])
            while len(self.buffer) < length:
                self._recv()
            body, self.buffer = self.buffer[:length], self.buffer[length:]
        except (OSError, ValueError, HttpError):
            self.close()  # reconnect on the next request
            raise
        if headers.get(b"connection", b"").strip() == b"close":
            self.close()
        return int(status), body


class _Client:
    def __init__(self, host: str, port: int, spec: ClientSpec) -> None:
        self.conn = _Connection(host, port)
        self.spec = spec
        self.alg = Milenage(spec.k, opc=spec.opc)
        self.signer = load_private_key(spec.device_key_pem)
        self.facts = {"iccid": spec.iccid, "imsi": spec.imsi, **PS_FACTS,
                      "isim": {"impi": f"{spec.imsi}@{IMS_DOMAIN}",
                               "impu": [f"sip:{spec.imsi}@{IMS_DOMAIN}"], "ist": [15]}}

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, data = self.conn.post(path, json.dumps(body).encode())
        return status, json.loads(data)

    def attest(self) -> str:
        status, challenge = self._post("/v1/attestations", {"imei": self.spec.imei})
        if status != 201:
            return f"http-{status}"
        rand, autn = bytes.fromhex(challenge["rand"]), bytes.fromhex(challenge["autn"])
        _sqn, mac_ok = open_autn(self.alg, rand, autn)
        outcome: dict[str, str] = {"outcome": "mac_failure"}
        if mac_ok:
            outcome = {"outcome": "success", "res": self.alg.f2345(rand)[0].hex()}
        evidence = {"attestation_id": challenge["id"], "nonce": challenge["nonce"],
                    "imei": self.spec.imei, "imeisv": None, **self.facts, "outcome": outcome}
        signature = base64.urlsafe_b64encode(self.signer.sign(canonical_json(evidence)))
        status, verdict = self._post(f"/v1/attestations/{challenge['id']}/evidence",
                                     {"evidence": evidence,
                                      "signature": signature.rstrip(b"=").decode()})
        return str(verdict.get("status")) if status == 200 else f"http-{status}"


def _thread(host: str, port: int, spec: ClientSpec, start: float, stop: float,
            tally: Tally, lock: threading.Lock) -> None:
    client = _Client(host, port, spec)
    while time.time() < start:
        time.sleep(0.001)
    local = Tally()
    while time.time() < stop:
        t0 = time.perf_counter()
        try:
            status = client.attest()
        except (OSError, HttpError, ValueError):
            local.errors += 1
            continue
        if time.time() > stop:
            break  # finished after the window closed: not counted
        local.latencies.append(time.perf_counter() - t0)
        local.statuses[status] = local.statuses.get(status, 0) + 1
    with lock:
        tally.latencies += local.latencies
        tally.errors += local.errors
        for k, v in local.statuses.items():
            tally.statuses[k] = tally.statuses.get(k, 0) + v


def _process(host: str, port: int, specs: list[ClientSpec], start: float, stop: float,
             out: Any) -> None:
    cpu_start = time.process_time()
    tally, lock = Tally(), threading.Lock()
    threads = [threading.Thread(target=_thread, args=(host, port, s, start, stop, tally, lock))
               for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((tally.latencies, tally.statuses, tally.errors, time.process_time() - cpu_start))


def run(host: str, port: int, specs: list[ClientSpec], seconds: float, processes: int = 2
        ) -> tuple[Tally, float]:
    """Run every client for ``seconds``; returns the merged tally and the measured window."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start = time.time() + 2.0  # every process and connection set up before the clock runs
    stop = start + seconds
    groups = [specs[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=_process, args=(host, port, g, start, stop, out))
             for g in groups if g]
    for p in procs:
        p.start()
    tally = Tally()
    for _ in procs:
        latencies, statuses, errors, cpu = out.get(timeout=seconds + 120)
        tally.latencies += latencies
        tally.errors += errors
        tally.cpu_seconds += cpu
        for k, v in statuses.items():
            tally.statuses[k] = tally.statuses.get(k, 0) + v
    for p in procs:
        p.join(timeout=30)
    return tally, seconds
