"""Load generator for full checkout attestations: challenge → card answer → signed evidence.

Each client is one pooled handset with its own card: it asks for a challenge, answers it
as the USIM would (MAC-A check, RES with Milenage — the real algorithm, the card's K/OPc),
signs the evidence with its device key and submits it, in a loop, over one persistent
HTTP/1.1 connection on loopback (as a reverse proxy keeps its connections to gunicorn
open) — or, with ``per_attestation``, a connection per attestation kept alive between
its requests (as the device agent talking to gunicorn directly: ``simattest checkout``
runs once per checkout).  Latency is per full attestation (both requests, and the
connection's opening if any).  The
CPU time of the generator's own processes, from their start to their report, is summed
into ``Tally.cpu_seconds``: the benchmark reports it per attestation next to the server's.

The generator shares the cores with the server under test, so every millisecond it burns
is one the server does not get, and it is built to burn few.  Each process (two by
default, to spread the cryptography over the cores) runs its clients on one ``epoll``
loop of its own: a client's attestation is a generator that yields each request and is
sent back the decoded answer; an event reads one socket, and when the answer is whole,
the client computes and sends its next request there and then.  Measured in this
benchmark (32 clients, the server keeping both cores busy), a thread per client with
blocking sockets cost the most CPU per attestation (the GIL handed over, a wake-up per
``recv``), asyncio less (its handles, futures and task steps per event), this loop the
least (bench/journal/2026-11-22-1620-attestation-hot-path.md).  What remains is the
cryptography and the JSON, the Python that drives them, and the kernel's share of two
requests and about three wake-ups.

The HTTP client is minimal (request line, three headers, a ``Content-Length`` body; of
the answer, its status, ``Content-Length`` and ``Connection``): ``http.client`` parses
every response header with the ``email`` package.  Every answer is still read whole, its
status checked and its JSON decoded; after ``Connection: close`` or an error the next
request opens a new connection.  Only what changes is built per request: the challenge
request is the IMEI and the time signed with the device key (``signed_requests``; a
build from before signed requests takes fixed bytes per client), and the evidence body
embeds the ``canonical_json`` bytes the device key signed rather than serialising the
evidence a second time.  The challenge requests do not depend on the server's answers,
so ``run`` signs each client's before the clock starts (``PRESIGNED_PER_SECOND``, times a
millisecond apart): on a handset that is the handset's own work, here it would take the
server's cores, as the fixed requests of an earlier build take none.

With ``tls`` (``TlsOptions``) every connection is HTTPS, verifying the service against
the lab CA and presenting the handset's device certificate (mutual TLS, as ``simattest
serve --client-ca`` asks); no TLS session is resumed, so with ``per_attestation`` each
attestation pays a full handshake.  The handshake is done blocking when the connection
opens (on loopback it waits for the server's CPU only, which the loop would otherwise
leave to the server anyway); reads are non-blocking as without TLS.

A client whose ``ClientSpec.attested_device`` names a simulated attested handset
(``server.agent.attested``) adds to every evidence a fresh key attestation bound to the
challenge's nonce — a new EC P-256 key and its 4-certificate chain, as KeyMint makes it
on a handset — so its cost is in the generator's CPU time, not the server's.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import re
import select
import socket
import ssl
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from attest import b64url
from attest.aka.milenage import Milenage
from attest.aka.sqn import open_autn
from attest.devicekey import DeviceSigner, load_private_key
from attest.evidence import canonical_json, challenge_request_bytes
from server.agent.attested import AttestedHandset

PS_FACTS = {"mnc_length": 2,
            "ust": [10, 12, 19, 20, 21, 27, 33, 68, 85, 95, 101, 109], "prose": True}
IMS_DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
TIMEOUT = 30.0  # seconds for a connection or an answer before it counts as an error
# Connections are opened this long before the window: soon enough to be ready when the
# clock starts, late enough that gunicorn (keep-alive 2 s) has not dropped them as idle.
CONNECT_LEAD = 0.5
# Read from the lower-cased head of an answer, up to and including its last line's CRLF.
_STATUS = re.compile(rb"http/1\.1 ([0-9]{3})[ \r]")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)[ \t]*\r\n")
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close[ \t]*\r\n")
_HEAD = (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
         b"Content-Length: %d\r\n\r\n")
# Signed challenge requests made ready per client and second of the run (more than a
# client finishes on 2 cores); past them a client signs each request when it sends it.
PRESIGNED_PER_SECOND = 60
PRESIGNED_MAX_AGE_MS = 60_000


@dataclass(frozen=True)
class ClientSpec:
    """One simulated handset + card (picklable for the worker processes)."""

    imei: str
    iccid: str
    imsi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    device_key_pem: bytes = field(repr=False)
    # With TLS: the handset's device certificate and its key (the device key), as files.
    cert_file: str | None = None
    key_file: str | None = None
    # A simulated attested handset's directory (``server.agent.attested``: the TEST-ONLY
    # authority's keys in a 0600 file): the client sends a fresh key attestation bound to
    # the checkout nonce with every evidence, made in the generator's process.
    attested_device: str | None = None


@dataclass(frozen=True)
class TlsOptions:
    """HTTPS: the CA file that signed the service's certificate (for the host name the
    generator connects to)."""

    ca_file: str


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    cpu_seconds: float = 0.0  # the generator's own CPU time (all its processes)
    # Attestations each client finished: a server that serves some connections and
    # starves others shows here (the window counts finished attestations only).
    per_client: dict[str, int] = field(default_factory=dict)


class HttpError(Exception):
    """The server's answer was not a well-formed HTTP/1.1 response with a length."""


# One attestation as the client's generator: it yields each request (whole bytes on the
# wire) and is sent back the answer's (status, decoded JSON); it returns the verdict.
_Session = Generator[bytes, tuple[int, Any], str]


class _Card(Milenage):
    """The card's Milenage, computing f2..f5 once per RAND as a USIM does per AUTHENTICATE.

    ``open_autn`` takes AK from them and the answer then RES, from the same RAND: one
    Milenage computation (in Python big-int arithmetic) fewer per attestation.
    """

    __slots__ = ("_last",)

    def __init__(self, k: bytes, opc: bytes) -> None:
        super().__init__(k, opc=opc)
        self._last: tuple[bytes, tuple[bytes, bytes, bytes, bytes]] | None = None

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        if self._last is None or self._last[0] != rand:
            self._last = (rand, super().f2345(rand))
        return self._last[1]


class _Client:
    """One handset + card, its connection and the attestation it has in progress."""

    def __init__(self, host: str, port: int, spec: ClientSpec,
                 presigned: list[tuple[int, bytes]] | None,
                 tls: TlsOptions | None = None) -> None:
        self.address = (host, port)
        # Signed challenge requests (time, body), oldest last; None: unsigned ones.
        self.presigned = presigned
        self.signed_at = 0  # the last challenge request's time (ms): each is used once
        self.context: ssl.SSLContext | None = None
        if tls is not None:
            self.context = ssl.create_default_context(cafile=tls.ca_file)
            if spec.cert_file is not None:
                self.context.load_cert_chain(spec.cert_file, spec.key_file)
        self.host = f"{host}:{port}".encode()
        self.spec = spec
        self.alg = _Card(spec.k, spec.opc)
        self.signer = load_private_key(spec.device_key_pem)
        self.facts = {"iccid": spec.iccid, "imsi": spec.imsi, **PS_FACTS,
                      "isim": {"impi": f"{spec.imsi}@{IMS_DOMAIN}",
                               "impu": [f"sip:{spec.imsi}@{IMS_DOMAIN}"], "ist": [15]}}
        body = orjson.dumps({"imei": spec.imei})
        self.challenge_request = _HEAD % (b"/v1/attestations", self.host, len(body)) + body
        self.sock: socket.socket | None = None
        self.session: _Session | None = None
        self.started = 0.0  # time.perf_counter() when the session began
        self.sent = 0.0  # time.monotonic() when its outstanding request went out
        # The answer being read: what has arrived, and once its head is in, its status,
        # its Content-Length (-1 until then) and whether the server closes afterwards.
        self.buffer = b""
        self.status, self.length, self.close_after = 0, -1, False
        # A handset that sends a fresh key attestation for the challenge's nonce
        # (docs/device-protocol.md): its chain, base64url DER (None: it sends none).
        self.fresh_attestation: Callable[[str], list[str]] | None = None
        if spec.attested_device is not None:
            handset = AttestedHandset.load(Path(spec.attested_device))
            self.fresh_attestation = handset.fresh_attestation

    def _challenge_request(self) -> bytes:
        if self.presigned is None:
            return self.challenge_request
        now = time.time_ns() // 1_000_000
        while self.presigned and self.presigned[-1][0] < now - PRESIGNED_MAX_AGE_MS:
            self.presigned.pop()  # well inside the service's clock skew, no older
        if self.presigned:
            self.signed_at, body = self.presigned.pop()
        else:
            self.signed_at = max(now, self.signed_at + 1)
            body = signed_challenge_request(self.signer, self.spec.imei, self.signed_at)
        return _HEAD % (b"/v1/attestations", self.host, len(body)) + body

    def attest(self) -> _Session:
        status, challenge = yield self._challenge_request()
        if status != 201:
            return f"http-{status}"
        rand, autn = bytes.fromhex(challenge["rand"]), bytes.fromhex(challenge["autn"])
        _sqn, mac_ok = open_autn(self.alg, rand, autn)
        outcome: dict[str, str] = {"outcome": "mac_failure"}
        if mac_ok:
            outcome = {"outcome": "success", "res": self.alg.f2345(rand)[0].hex()}
        evidence = {"attestation_id": challenge["id"], "nonce": challenge["nonce"],
                    "imei": self.spec.imei, "imeisv": None, **self.facts, "outcome": outcome}
        if self.fresh_attestation is not None:
            evidence["attestation"] = self.fresh_attestation(challenge["nonce"])
        signed = canonical_json(evidence)
        signature = b64url.encode(self.signer.sign(signed)).encode()
        body = b'{"evidence":%s,"signature":"%s"}' % (signed, signature)
        path = f"/v1/attestations/{challenge['id']}/evidence".encode()
        status, verdict = yield _HEAD % (path, self.host, len(body)) + body
        return str(verdict.get("status")) if status == 200 else f"http-{status}"

    def _drain(self) -> bytes:
        """TLS: what OpenSSL has already taken from the kernel beyond the record just
        read (one ``recv`` returns one record's data) raises no event of its own: read
        until it has nothing more."""
        assert isinstance(self.sock, ssl.SSLSocket)
        data = b""
        while True:
            try:
                more = self.sock.recv(65536)
            except ssl.SSLWantReadError:
                return data
            if not more:
                return data
            data += more

    def receive(self) -> tuple[int, bytes] | None:
        """Read what has arrived; (status, body) once the answer is whole, else None."""
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
            if isinstance(self.sock, ssl.SSLSocket):
                data += self._drain()
        except (BlockingIOError, ssl.SSLWantReadError):
            # An event for an earlier socket with the same number, or (TLS) a record with
            # no data for us, such as a TLS 1.3 session ticket.
            return None
        if not data:
            raise HttpError("connection closed by the server")
        self.buffer += data
        if self.length < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            head, self.buffer = self.buffer[:end + 2].lower(), self.buffer[end + 4:]
            status = _STATUS.match(head)
            length = _CONTENT_LENGTH.search(head)
            if status is None or length is None:
                raise HttpError(f"not an answer with a Content-Length: {head[:40]!r}")
            self.status, self.length = int(status[1]), int(length[1])
            self.close_after = _CONNECTION_CLOSE.search(head) is not None
        if len(self.buffer) < self.length:
            return None
        body, self.buffer = self.buffer[:self.length], self.buffer[self.length:]
        self.length = -1
        return self.status, body


class _Loop:
    """One process's clients on one ``epoll``: each event reads, and answers, one socket."""

    def __init__(self, clients: list[_Client], stop: float, per_attestation: bool) -> None:
        self.clients, self.stop, self.per_attestation = clients, stop, per_attestation
        self.poller = select.epoll()
        self.by_fd: dict[int, _Client] = {}
        self.tally = Tally()
        self.running = 0  # clients with a session in progress
        self.retry: list[_Client] = []  # failed before ``stop``: start again next turn

    def connect(self, client: _Client) -> socket.socket:
        """Open the client's connection (blocking, on loopback), then watch it."""
        sock = socket.create_connection(client.address, timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if client.context is not None:  # the handshake, blocking (module docstring)
            sock = client.context.wrap_socket(sock, server_hostname=client.address[0])
        # Never blocks: a request is sent only when the previous answer has been read,
        # so it always fits in the send buffer, and a read only follows an event.
        sock.setblocking(False)
        client.sock, client.buffer, client.length = sock, b"", -1
        self.by_fd[sock.fileno()] = client
        self.poller.register(sock, select.EPOLLIN)
        return sock

    def disconnect(self, client: _Client) -> None:
        if client.sock is not None:
            del self.by_fd[client.sock.fileno()]
            client.sock.close()  # which also takes it out of the epoll set
            client.sock = None

    def send(self, client: _Client, request: bytes) -> None:
        # No connection: never opened, closed by the server, or dropped after an error.
        (client.sock or self.connect(client)).sendall(request)
        client.sent = time.monotonic()

    def start(self, client: _Client) -> None:
        client.session = client.attest()
        client.started = time.perf_counter()
        self.running += 1
        self.step(client, None)

    def step(self, client: _Client, answer: tuple[int, bytes] | None) -> None:
        """Give the session its answer (None to begin); send its next request, or tally."""
        assert client.session is not None
        try:
            if answer is None:
                request = next(client.session)
            else:
                request = client.session.send((answer[0], orjson.loads(answer[1])))
            self.send(client, request)
            return
        except StopIteration as done:
            verdict: str = done.value
        except (OSError, HttpError, ValueError):
            self.fail(client)
            return
        except Exception:  # a bug: report it and retire the client, as a thread would die
            traceback.print_exc()
            self.end(client)
            return
        if time.time() > self.stop:
            self.end(client)  # finished after the window closed: not counted
            return
        self.tally.latencies.append(time.perf_counter() - client.started)
        self.tally.statuses[verdict] = self.tally.statuses.get(verdict, 0) + 1
        imei = client.spec.imei
        self.tally.per_client[imei] = self.tally.per_client.get(imei, 0) + 1
        client.session = None
        self.running -= 1
        if self.per_attestation:
            self.disconnect(client)  # the next attestation opens its own connection
        self.start(client)

    def end(self, client: _Client) -> None:
        """The client's session is over and no other follows: close its connection too."""
        self.disconnect(client)
        client.session = None
        self.running -= 1

    def fail(self, client: _Client) -> None:
        """Count the session as an error, drop the connection, and start again next turn."""
        self.tally.errors += 1
        self.end(client)
        self.retry.append(client)

    def run(self) -> Tally:
        """Attest until ``stop``, then let the sessions in progress end (uncounted)."""
        for client in self.clients:
            self.start(client)
        sweep = time.monotonic() + 1.0
        while self.running or self.retry:
            for fd, _events in self.poller.poll(0 if self.retry else 1.0):
                owner = self.by_fd.get(fd)
                if owner is None:
                    continue  # closed while handling an earlier event of this batch
                try:
                    answer = owner.receive()
                except (OSError, HttpError):
                    self.fail(owner)
                    continue
                if answer is not None:
                    if owner.close_after:
                        self.disconnect(owner)
                    self.step(owner, answer)
            retry, self.retry = self.retry, []
            if time.time() < self.stop:
                for client in retry:
                    self.start(client)
            now = time.monotonic()
            if now >= sweep:  # once a second: an answer more than TIMEOUT late is an error
                sweep = now + 1.0
                for client in self.clients:
                    if client.session is not None and now - client.sent > TIMEOUT:
                        self.fail(client)
        for client in self.clients:
            self.disconnect(client)
        return self.tally


def signed_challenge_request(signer: DeviceSigner, imei: str, signed_at: int) -> bytes:
    """The body of a challenge request for ``imei`` signed at ``signed_at`` (ms)."""
    signature = b64url.encode(signer.sign(challenge_request_bytes(imei, signed_at)))
    return b'{"imei":"%s","signed_at":%d,"signature":"%s"}' % (
        imei.encode(), signed_at, signature.encode())


def _presign(spec: ClientSpec, count: int) -> list[tuple[int, bytes]]:
    """``count`` signed challenge requests of ``spec``'s handset, from now on a
    millisecond apart, the first to be used last in the list."""
    signer = load_private_key(spec.device_key_pem)
    first = time.time_ns() // 1_000_000
    return [(t, signed_challenge_request(signer, spec.imei, t))
            for t in range(first + count - 1, first - 1, -1)]


def _process(host: str, port: int, specs: list[ClientSpec], start: float, stop: float,
             per_attestation: bool, presigned: dict[str, list[tuple[int, bytes]]] | None,
             tls: TlsOptions | None, out: Any) -> None:
    cpu_start = time.process_time()
    gc.freeze()  # the fork inherited the caller's whole heap: keep the collector off it
    loop = _Loop([_Client(host, port, s, None if presigned is None else presigned[s.imei], tls)
                  for s in specs], stop, per_attestation)
    time.sleep(max(0.0, start - CONNECT_LEAD - time.time()))
    # Not with TLS: gunicorn's gthread worker handshakes in one of its threads and that
    # thread then waits for the first request (up to server.http.tls.HANDSHAKE_SECONDS),
    # so idle TLS connections would hold every thread and stall the others' handshakes.
    for client in loop.clients if tls is None else ():
        with contextlib.suppress(OSError):  # else the first request connects (or fails)
            loop.connect(client)
    time.sleep(max(0.0, start - time.time()))
    tally = loop.run()
    out.put((tally.latencies, tally.statuses, tally.errors, time.process_time() - cpu_start,
             {c.spec.imei: tally.per_client.get(c.spec.imei, 0) for c in loop.clients}))


def run(host: str, port: int, specs: list[ClientSpec], seconds: float, processes: int = 2,
        per_attestation: bool = False, signed_requests: bool = True,
        tls: TlsOptions | None = None) -> tuple[Tally, float]:
    """Run every client for ``seconds``; returns the merged tally and the measured window.
    ``signed_requests=False``: challenge requests of a build from before they were signed
    (the IMEI alone)."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    presigned = None if not signed_requests else {
        spec.imei: _presign(spec, int(min(seconds, PRESIGNED_MAX_AGE_MS / 1000)
                                      * PRESIGNED_PER_SECOND) + 50)
        for spec in specs}
    start = time.time() + 2.0  # every process and connection set up before the clock runs
    stop = start + seconds
    groups = [specs[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=_process, args=(host, port, g, start, stop, per_attestation,
                                                   presigned, tls, out))
             for g in groups if g]
    for p in procs:
        p.start()
    tally = Tally()
    for _ in procs:
        latencies, statuses, errors, cpu, per_client = out.get(timeout=seconds + 120)
        tally.per_client.update(per_client)
        tally.latencies += latencies
        tally.errors += errors
        tally.cpu_seconds += cpu
        for k, v in statuses.items():
            tally.statuses[k] = tally.statuses.get(k, 0) + v
    for p in procs:
        p.join(timeout=30)
    return tally, seconds
