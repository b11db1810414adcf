"""The IMS registration storm: MAR→MAA with vectors per second from the Cx peer on
PostgreSQL, and full SIP registrations through Kamailio's S-CSCF per second.

An agency's whole shift re-registers after a core restart: every S-CSCF asks for
vectors at once.  Phase 1 starts a durable PostgreSQL, a pool of N signed-in handsets
(identities allocated through server.idms), the Cx peer (server.ims.cx) in this process,
and load generator processes of our own with several S-CSCF connections each, sending
MARs back to back for random IMPI2s (each MAR encoded once by python-diameter through
tests/cx_client.py, then only its Session-Id counter and identifiers patched; answers
decoded after the window, so the generator's CPU stays small on the shared machine).
It reports MAAs per second, p50/p99 latency at the client, that no SQN was handed out
twice (every AUTN is opened with its card's keys afterwards), the CPU per MAR of the Cx
peer, PostgreSQL and the generator with the rate the machine's cores allow at that cost,
and the Milenage share of the Cx peer's CPU time.  Phase 2 starts Kamailio
(deploy/kamailio/) and runs complete registrations (REGISTER, 401, AUTHENTICATE on a
simulated card, REGISTER, 200: one MAR and one SAR each) from several threads for a few
seconds.

    .venv/bin/python bench/bench_cx.py [--handsets 200] [--seconds 10]
        [--processes 2] [--connections 4] [--cx-processes 2] [--sip-threads 4]
        [--cx-only] [--write-results]

``--cx-processes N`` runs the Cx peer as N processes on one address (as ``simattest cx
serve --processes N``: SO_REUSEPORT), this one and N-1 more; its CPU per MAR is theirs
together.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from diameter.message import Message  # noqa: E402

from attest.aka.milenage import Milenage  # noqa: E402
from attest.aka.sqn import open_autn, split_sqn  # noqa: E402
from bench import machine, results  # noqa: E402
from bench.bench_attestation import _cpu_seconds, _postmaster, postgres  # noqa: E402
from server.attestation.challenge import create_challenge  # noqa: E402
from server.attestation.evidence import submit_evidence  # noqa: E402
from server.core.config import IdmsConfig, ServiceConfig  # noqa: E402
from server.core.service import Service  # noqa: E402
from server.idms import desk, identities, users  # noqa: E402
from server.ims.config import CxConfig, CxPeer  # noqa: E402
from server.ims.cx import CxServer  # noqa: E402
from server.store.models import McUser  # noqa: E402
from tests.cx_client import CxClient, result_of, vectors_of  # noqa: E402
from tests.fixtures_attestation import build_pool  # noqa: E402
from tests.fixtures_db import free_port  # noqa: E402
from tests.fixtures_ims import DOMAIN, cx_test_config  # noqa: E402

TITLE = "IMS registration storm (Cx MAR→MAA, SIP registrations through Kamailio)"
TARGET = 500


def sign_in_pool(svc: Service, size: int) -> list[tuple[str, str, bytes, bytes]]:
    """``size`` handsets checked out and signed in: (IMPI2, IMPU2, K, OPc) each."""
    pool = build_pool(svc, size=size)
    out = []
    for i, (handset, card) in enumerate(zip(pool.handsets, pool.cards, strict=True)):
        challenge = create_challenge(svc, handset.request(), "127.0.0.1").to_json()
        doc, sig = handset.evidence(challenge, card)
        attestation = submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1")
        mc_id = f"officer{i}"
        users.add_user(svc, mc_id=mc_id, mcptt_id=f"sip:{mc_id}@{DOMAIN}",
                       display_name=mc_id, password="correct horse battery", agency="P",
                       actor="bench")
        desk.start_checkout(svc, attestation.attestation_id, mc_id, "bench")
        with svc.db.session() as session:
            user = session.query(McUser).filter_by(mc_id=mc_id).one()
            checkout = identities.checkout_for_sign_in(session, handset.imei, user.id)
            mapped = identities.allocate_identities(session, svc.config.idms, checkout, user,
                                                    actor="bench")
        out.append((mapped.impi2, mapped.impu2, card.k, card.opc))
    return out


def _templates(client: CxClient, subscribers: list[tuple[str, str]]) -> list[tuple[bytes, int]]:
    """One MAR per subscriber, encoded once by python-diameter (tests/cx_client.py) with
    a Session-Id ending in a fixed-width counter: (bytes, offset of the counter).  The
    generator then patches only the counter and the Hop-by-Hop/End-to-End Identifiers,
    so its CPU per MAR stays small beside the Cx peer's on the same machine."""
    host = client.origin_host
    out = []
    for impi, impu in subscribers:
        mar = client.mar_message(impi, impu)
        mar.session_id = f"{host};{0:012d}"
        data = mar.as_bytes()
        out.append((data, data.index(f";{0:012d}".encode()) + 1))
    return out


def _load(port: int, hosts: list[str], subscribers: list[tuple[str, str]], seconds: float,
          start_at: float, queue: multiprocessing.Queue) -> None:
    """One load generator process: one thread per S-CSCF connection, one MAR at a time
    on each.  Answers are kept as bytes and decoded after the window."""
    lock = threading.Lock()
    latencies: list[float] = []
    answers: list[tuple[str, bytes]] = []

    def connection(host: str) -> None:
        client = CxClient(port, origin_host=host)
        sock = client.sock
        templates = _templates(client, subscribers)
        rng = random.Random(host)
        mine: list[float] = []
        got: list[tuple[str, bytes]] = []
        pending = b""
        n = 0
        while time.time() < start_at:
            time.sleep(0.001)
        stop = start_at + seconds
        while time.time() < stop:
            pick = rng.randrange(len(subscribers))
            data, at = templates[pick]
            n += 1
            ident = (n & 0xFFFFFFFF).to_bytes(4, "big")
            request = (data[:12] + ident + ident + data[20:at] + f"{n:012d}".encode()
                       + data[at + 12:])
            t0 = time.perf_counter()
            sock.sendall(request)
            while True:  # the answer to this request (a DWR from the peer is skipped)
                while len(pending) < 20 or len(pending) < int.from_bytes(pending[1:4], "big"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise EOFError("the Cx peer closed the connection")
                    pending += chunk
                length = int.from_bytes(pending[1:4], "big")
                answer, pending = pending[:length], pending[length:]
                if not answer[4] & 0x80:
                    break
            mine.append(time.perf_counter() - t0)
            got.append((subscribers[pick][0], answer))
        client.close()
        with lock:
            latencies.extend(mine)
            answers.extend(got)

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=connection, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    issued: list[tuple[str, bytes, bytes]] = []
    failures: dict[int, int] = defaultdict(int)
    for impi, raw in answers:
        answer = Message.from_bytes(raw)
        code = result_of(answer)
        if code != 2001:
            failures[code] += 1
            continue
        issued += [(impi, v.rand, v.autn) for v in vectors_of(answer)]
    queue.put((latencies, issued, dict(failures), cpu))


def milenage_seconds_per_vector() -> float:
    alg = Milenage(bytes(16), opc=bytes(16))
    rand, sqn, amf = bytes(16), bytes(6), b"\x80\x00"
    n = 20000
    t0 = time.process_time()
    for _ in range(n):
        alg.vector(rand, sqn, amf)
    return (time.process_time() - t0) / n


def _cx_peer(data: Path, url: str, config: ServiceConfig, cfg: CxConfig,
             stop: EventType) -> None:
    """One more Cx peer process on the same address (``cx serve --processes``)."""
    with Service.open(data, url, config) as svc:
        server = CxServer(svc, cfg, reuse_port=True)
        server.start()
        stop.wait()
        server.stop()


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cx_storm(svc: Service, url: str, subs: list[tuple[str, str, bytes, bytes]],
             seconds: float, processes: int, connections: int, cx_processes: int,
             pg_data: Path) -> dict[str, float | int | str]:
    hosts = [f"scscf{i}.{DOMAIN}" for i in range(processes * connections)]
    port = free_port()
    cfg = cx_test_config(port, termination_poll=1.0, peers=tuple(
        CxPeer(h, frozenset({"127.0.0.1"})) for h in hosts))
    server = CxServer(svc, cfg, reuse_port=cx_processes > 1)
    server.start()
    spawn = multiprocessing.get_context("spawn")
    stop_peers = spawn.Event()
    peers = [spawn.Process(target=_cx_peer, args=(
        svc.data_dir.path, url, svc.config, cfg, stop_peers)) for _ in range(cx_processes - 1)]
    for peer in peers:
        peer.start()
    time.sleep(0.5 + 3.0 * len(peers))  # the spawned peers import and listen
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 2.0
    pairs = [(impi, impu) for impi, impu, _k, _opc in subs]
    procs = [multiprocessing.Process(target=_load, args=(
        port, hosts[i * connections:(i + 1) * connections], pairs, seconds, start_at, queue))
        for i in range(processes)]
    for p in procs:
        p.start()
    postmaster = _postmaster(pg_data)
    while time.time() < start_at:
        time.sleep(0.01)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    peers0 = sum(_process_cpu(peer.pid or 0) for peer in peers)
    db0 = _cpu_seconds(postmaster) if postmaster else 0.0
    outputs = [queue.get() for _ in procs]
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    peers1 = sum(_process_cpu(peer.pid or 0) for peer in peers)
    db1 = _cpu_seconds(postmaster) if postmaster else 0.0
    for p in procs:
        p.join()
    stop_peers.set()
    for peer in peers:
        peer.join()
    server.stop()
    latencies = sorted(x for out in outputs for x in out[0])
    issued = [x for out in outputs for x in out[1]]
    failures: dict[int, int] = defaultdict(int)
    for out in outputs:
        for code, n in out[2].items():
            failures[code] += n
    keys = {impi: Milenage(k, opc=opc) for impi, _impu, k, opc in subs}
    seen: dict[str, set[int]] = defaultdict(set)
    reused = bad_mac = 0
    for impi, rand, autn in issued:
        sqn, ok = open_autn(keys[impi], rand, autn)
        seq = split_sqn(sqn)[0]
        bad_mac += not ok
        reused += seq in seen[impi]
        seen[impi].add(seq)
    server_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime) \
        + peers1 - peers0
    n = max(1, len(latencies))
    server_ms = 1000 * server_cpu / n
    database_ms = 1000 * (db1 - db0) / n
    generator_ms = 1000 * sum(out[3] for out in outputs) / n
    per_vector = milenage_seconds_per_vector()
    return {
        "maa_per_s": len(issued) / seconds, "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "vectors": len(issued), "reused": reused, "bad_mac": bad_mac,
        "failures": str(dict(failures) or "none"),
        "server_cpu_ms_per_mar": server_ms, "database_cpu_ms_per_mar": database_ms,
        "generator_cpu_ms_per_mar": generator_ms,
        # What those CPU costs allow with the machine's cores to this run alone (the
        # figure to compare with the target while other work shares the machine).
        "ceiling_per_s": (os.cpu_count() or 1) * 1000 / max(
            server_ms + database_ms + generator_ms, 1e-9),
        "milenage_share": per_vector * len(issued) / server_cpu if server_cpu else 0.0,
    }


def sip_storm(svc: Service, seconds: float, threads: int, workdir: Path) -> dict[str, float]:
    """Complete registrations through Kamailio, each on its own simulated card file
    (``sim:``: a fresh card per registration, as many handsets)."""
    from server.agent.ims import register
    from server.core.identifiers import luhn_digit
    from tests.fixtures_ims import Kamailio, card_file_with, sign_in

    # Not an ICCID/IMSI of the phase 1 pool (build_pool numbers from 1, as ps-001 does).
    iccid = "890010199999999999" + luhn_digit("890010199999999999")
    mapped = sign_in(svc, card_file_with(workdir, "sip-card.yaml", iccid=iccid,
                                         imsi="001019999999999"))
    card = workdir / "sip-card.yaml"
    port = free_port()
    server = CxServer(svc, cx_test_config(port))
    server.start()
    kamailio = Kamailio(workdir / "kamailio", port)
    kamailio.start()
    deadline = time.monotonic() + 20
    while not any(p["connected"] for p in server.peers()):
        if time.monotonic() > deadline:
            raise SystemExit("Kamailio did not connect:\n" + kamailio.tail())
        time.sleep(0.05)
    done: list[float] = []
    failed: list[str] = []
    stop = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                outcome = register(reader=f"sim:{card}", impi=mapped.impi2, impu=mapped.impu2,
                                   domain=DOMAIN, registrar=("127.0.0.1", kamailio.sip_port))
                if outcome.status != 200:
                    failed.append(str(outcome.status))
                    continue
            except Exception as exc:
                failed.append(type(exc).__name__)
                continue
            done.append(time.perf_counter() - t0)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    kamailio.stop()
    server.stop()
    return {"registrations_per_s": len(done) / seconds,
            "p50_ms": 1000 * statistics.median(done) if done else 0.0,
            "failed": float(len(failed))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handsets", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--cx-processes", type=int, default=1,
                        help="Cx peer processes on the one address (SO_REUSEPORT)")
    parser.add_argument("--sip-threads", type=int, default=4)
    parser.add_argument("--cx-only", action="store_true",
                        help="the MAR storm alone (no Kamailio phase, nothing written)")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cx-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # the postgres user reaches its cluster below it
        (root / "pg").mkdir()
        with postgres(root / "pg", async_commit=False) as url:
            config = ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN))
            with Service.open(root / "data", url, config) as svc:
                t0 = time.monotonic()
                subs = sign_in_pool(svc, args.handsets)
                print(f"{len(subs)} handsets signed in in {time.monotonic() - t0:.1f} s")
                cx = cx_storm(svc, url, subs, args.seconds, args.processes,
                              args.connections, args.cx_processes, root / "pg" / "pg")
                print(cx)
                if args.cx_only:
                    return
                sip = sip_storm(svc, args.seconds, args.sip_threads, root)
                print(sip)
    load = Path("/proc/loadavg").read_text().split()[:3]
    figures = [
        f"- date: {datetime.now(UTC):%Y-%m-%d}; machine: {machine.describe()}; load average "
        f"(1/5/15 min) at the end of the run {' '.join(load)}: the machine was shared with "
        "other work",
        f"- command: `.venv/bin/python bench/bench_cx.py --handsets {args.handsets} "
        f"--seconds {args.seconds:g} --processes {args.processes} --connections "
        f"{args.connections} --cx-processes {args.cx_processes} --sip-threads "
        f"{args.sip_threads}`",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| MAR→MAA with one vector, per second (target ≥ {TARGET}) | {cx['maa_per_s']:.0f} |",
        f"| latency at the S-CSCF side, p50 / p99 | {cx['p50_ms']:.1f} ms / "
        f"{cx['p99_ms']:.1f} ms |",
        f"| vectors issued; SQNs reused; MAC-A wrong | {cx['vectors']}; {cx['reused']}; "
        f"{cx['bad_mac']} |",
        f"| refusals | {cx['failures']} |",
        f"| Cx peer processes (SO_REUSEPORT) | {args.cx_processes} |",
        f"| CPU per MAR: Cx peer / PostgreSQL / load generator | "
        f"{cx['server_cpu_ms_per_mar']:.2f} / {cx['database_cpu_ms_per_mar']:.2f} / "
        f"{cx['generator_cpu_ms_per_mar']:.2f} ms |",
        f"| MAR/s the machine's {os.cpu_count()} cores allow at that CPU cost, all three "
        f"on it (nothing else running) | {cx['ceiling_per_s']:.0f} |",
        f"| Milenage share of the Cx peer's CPU | {100 * float(cx['milenage_share']):.1f} % |",
        f"| full SIP registrations through Kamailio per second ({args.sip_threads} threads) "
        f"| {sip['registrations_per_s']:.1f} (p50 {sip['p50_ms']:.0f} ms, "
        f"{sip['failed']:.0f} failed) |",
    ]
    print("\n".join(figures))
    if args.write_results:
        results.replace_figures(TITLE, figures)


if __name__ == "__main__":
    main()
