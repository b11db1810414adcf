"""Full checkout attestations per second against gunicorn, on PostgreSQL and on SQLite.

One attestation = ``POST /v1/attestations`` (SQN reserved, AKA vector, challenge stored)
+ ``POST /v1/attestations/{id}/evidence`` (challenge consumed, device signature verified,
appraisal, ES256-signed EAR, verdict stored, hash-chained audit entry, rate-limit
counters), with the load generator (``bench/loadgen.py``) on the same machine over
loopback: 32 concurrent clients by default, each a pooled handset with its own card.

PostgreSQL runs durable (``fsync=on``, ``synchronous_commit=on``: a verdict is on disk
when it is answered); the ``--pg-async-commit`` variant shows what group commit without
waiting for the WAL flush buys.  Also measured, in one process: the cryptography alone
per attestation (K/OPc decryption and Milenage for the vector, again for XRES at the
evidence — which only evidence read back from the database needs, ``server.attestation.copies`` —
Ed25519 verification, ES256 EAR signature, audit SHA-256) and the ratio of the two.

    .venv/bin/python bench/bench_attestation.py --seconds 20 [--write-results]

Before and after a change, on durable PostgreSQL: ``--baseline-tree DIR`` (a checkout of
the earlier commit, ``git worktree add DIR <commit>``) runs ``--pairs N`` pairs of
windows, the server of each window freshly started from DIR (before), then from this
tree (after), all on one provisioned database, so that the machine's drift hits both
sides; it prints every window, the median of each side and the ratio after/before.
Both trees' servers run on this interpreter (``python -m server.cli.main serve`` with
the tree as working directory and ``PYTHONPATH``) and must share the schema's migrations.

    git worktree add /tmp/simattest-before 0bbcd16
    .venv/bin/python bench/bench_attestation.py --baseline-tree /tmp/simattest-before \\
        --pairs 5 --seconds 20 [--write-results]

The cost of TLS (``--tls``): on one durable PostgreSQL database, rounds of four windows —
plain HTTP and HTTPS with mutual TLS (``serve --tls-cert --tls-key --client-ca``, a lab
CA from ``server.core.labca``, each handset presenting its device certificate), each
kept-alive and with a connection (for HTTPS a full handshake) per attestation — the
median of each over ``--pairs N`` rounds, and each against plain HTTP kept-alive.

    .venv/bin/python bench/bench_attestation.py --tls --pairs 3 --seconds 20 [--write-results]

Android key attestation (issue 20, ``--handsets``): ``attested`` registers the handsets
from key attestations of the TEST-ONLY authority (``server.agent.attested``'s simulated
handsets, EC P-256 device keys; ``serve --attestation-roots`` trusts its root), ``fresh``
also has every evidence carry a fresh 4-certificate attestation bound to the checkout
nonce, which the load generator's handsets make (the authority's keys in a 0600 file
per handset, in the run's temporary directory): that cost is in the load generator's
CPU column, not the service's.  Its figures go to their own section of RESULTS.md.

    .venv/bin/python bench/bench_attestation.py --db postgresql --handsets fresh \\
        --repeat 3 --seconds 20 [--write-results]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import requests
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from attest import appraisal, b64url, devicekey, ear  # noqa: E402
from attest.aka.milenage import Milenage  # noqa: E402
from attest.android.testauthority import TestAttestationAuthority  # noqa: E402
from attest.evidence import canonical_json  # noqa: E402
from bench import machine, results  # noqa: E402
from bench.loadgen import ClientSpec, TlsOptions, run  # noqa: E402
from server.agent import attested as agent_attested  # noqa: E402
from server.agent.attested import AttestedHandset, SimProperties  # noqa: E402
from server.core.config import ServiceConfig  # noqa: E402
from server.core.datadir import write_secret_file  # noqa: E402
from server.core.identifiers import luhn_digit  # noqa: E402
from server.core.labca import CA_CERT, SERVER_CERT, SERVER_KEY, LabCA  # noqa: E402
from server.core.service import Service  # noqa: E402
from server.demo.batchgen import csv_text, synth_cards  # noqa: E402
from server.pool import attested, provisioning, registry  # noqa: E402
from server.store.models import utcnow  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# Limits far above the load, so every request still pays for the counters.
BENCH_LIMIT = 10**9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres(root: Path, async_commit: bool) -> Any:
    """A throw-away PostgreSQL 15 cluster on loopback, durable unless ``async_commit``."""
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    data, port = root / "pg", _free_port()
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                    "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    settings = ["-c", "max_connections=300", "-c", "shared_buffers=256MB"]
    if async_commit:
        settings += ["-c", "synchronous_commit=off"]
    log = (root / "postgres.log").open("ab")
    proc = subprocess.Popen([*as_pg, str(PG_BIN / "postgres"), "-D", str(data), "-h",
                             "127.0.0.1", "-p", str(port), "-k", str(root), *settings],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("PostgreSQL did not start") from None
            time.sleep(0.1)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, signal.SIGINT)
        proc.wait(timeout=60)
        log.close()


def provision(data_dir: Path, db_url: str | None, clients: int) -> list[ClientSpec]:
    """A pool of ``clients`` public-safety cards, handsets with Ed25519 keys, paired 1:1."""
    cards = synth_cards(clients, iccid_prefix="8900101", imsi_prefix="00101", start=1)
    specs = []
    with Service.open(data_dir, db_url) as svc:
        provisioning.import_batch(svc, csv_text(cards), "bench.csv", actor="bench")
        for n, card in enumerate(cards, start=1):
            body = f"35693803{n:06d}"
            imei = body + luhn_digit(body)
            key = devicekey.generate("ed25519")
            registry.add_handset(svc, imei, key.public_pem().decode(), actor="bench")
            registry.pair(svc, imei, card.iccid, actor="bench")
            specs.append(ClientSpec(imei, card.iccid, card.imsi, card.k, card.opc,
                                    key.private_pem()))
    return specs


def provision_attested(root: Path, db_url: str | None, clients: int, config: ServiceConfig,
                       *, fresh: bool) -> tuple[list[ClientSpec], ServiceConfig]:
    """``clients`` cards and simulated attested handsets (``server.agent.attested``: the
    TEST-ONLY authority, EC P-256 device keys) in ``root / "handsets"``, each registered
    from its key attestation with a registration nonce and paired 1:1, in ``root / "data"``;
    the specs, and ``config`` trusting the authority (``--attestation-roots``).  ``fresh``:
    each spec names its handset's directory (the authority's keys in a 0600 file there),
    so that its client sends a fresh attestation with every evidence."""
    now = utcnow()
    authority = TestAttestationAuthority.create(now)
    cards = synth_cards(clients, iccid_prefix="8900101", imsi_prefix="00101", start=1)
    imeis = [body + luhn_digit(body) for body in (f"35693803{n:06d}"
                                                 for n in range(1, clients + 1))]
    roots = [agent_attested.create(root / "handsets" / imei, SimProperties(imei), now,
                                   authority) for imei in imeis]
    config = dataclasses.replace(config, attestation_roots=roots[0])  # one authority
    specs = []
    with Service.open(root / "data", db_url, config) as svc:
        provisioning.import_batch(svc, csv_text(cards), "bench.csv", actor="bench")
        for imei, card in zip(imeis, cards, strict=True):
            handset = AttestedHandset.load(root / "handsets" / imei)
            nonce = attested.issue_registration_nonce(svc, imei, actor="bench").nonce
            key, chain = handset.attest_new_key(b64url.decode(nonce))
            attested.add_attested_handset(svc, imei, chain.decode(), nonce, actor="bench")
            registry.pair(svc, imei, card.iccid, actor="bench")
            specs.append(ClientSpec(imei, card.iccid, card.imsi, card.k, card.opc,
                                    key.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()),
                                    attested_device=str(handset.path) if fresh else None))
    return specs, config


@dataclass
class Figures:
    label: str
    rate: float
    p50_ms: float
    p99_ms: float
    count: int
    statuses: dict[str, int]
    errors: int
    cpu_ms: dict[str, float]  # CPU time per attestation: service, database, load generator
    per_client: tuple[int, int]  # fewest and most attestations one client finished
    load: tuple[float, float]  # 1-minute load average before and after the window


def _cpu_seconds(parent: int) -> float:
    """User + system CPU time of ``parent``'s child processes (from /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def _postmaster(pg_data: Path) -> int | None:
    """The PID of the PostgreSQL server on ``pg_data`` (its backends are its children)."""
    try:
        return int((pg_data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def signs_challenge_requests(tree: Path) -> bool:
    """Whether the build in ``tree`` takes signed challenge requests (issue 17) — an
    earlier one refuses their fields, and gets the IMEI alone."""
    evidence = tree / "attest" / "evidence.py"
    return "def challenge_request_bytes(" in evidence.read_text(encoding="utf-8")


def serve_and_load(label: str, data_dir: Path, db_url: str | None, specs: list[ClientSpec],
                   seconds: float, workers: int, threads: int, warmup: float,
                   per_attestation: bool, pin_workers: bool = False,
                   tree: Path = REPO, tls: Path | None = None,
                   attestation_roots: Path | None = None) -> Figures:
    """One window: start ``simattest serve`` from the checkout ``tree`` (this one, or an
    earlier commit's to compare with), warm it up, load it for ``seconds``, stop it.
    ``tls``: the lab CA directory (``tls_lab``) to serve HTTPS with mutual TLS from;
    ``attestation_roots``: the TEST-ONLY authority's root, for attested handsets."""
    port = _free_port()
    tls_options = [] if tls is None else [
        "--tls-cert", str(tls / SERVER_CERT), "--tls-key", str(tls / SERVER_KEY),
        "--client-ca", str(tls / CA_CERT)]
    client_tls = None if tls is None else TlsOptions(str(tls / CA_CERT))
    scheme = "http" if tls is None else "https"
    signed = signs_challenge_requests(tree)
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve makes its own
    log = (data_dir.parent / f"serve-{label.split()[0]}.log").open("ab")
    # The product as deployed: `simattest serve` (gunicorn, JSON logs, multi-process
    # metrics), with rate limits far above the load so the counters are still paid for.
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "serve", "--data", str(data_dir),
         *(["--db", db_url] if db_url else []), "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads),
         *(["--pin-workers"] if pin_workers else []),
         "--rate-limit-per-imei", str(BENCH_LIMIT), "--rate-limit-per-client", str(BENCH_LIMIT),
         *tls_options,
         *([] if attestation_roots is None else ["--attestation-roots", str(attestation_roots)])],
        cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{scheme}://127.0.0.1:{port}/healthz", timeout=2,
                                verify=True if tls is None else str(tls / CA_CERT)).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                log.flush()
                tail = Path(log.name).read_text(errors="replace")[-2000:]
                raise SystemExit(f"simattest serve (from {tree}) did not start:\n{tail}")
            time.sleep(0.2)
        if warmup:
            run("127.0.0.1", port, specs, warmup, per_attestation=per_attestation,
                tls=client_tls, signed_requests=signed)
        postmaster = _postmaster(data_dir.parent / "pg") if db_url else None
        load_before = os.getloadavg()[0]
        before = (_cpu_seconds(proc.pid), _cpu_seconds(postmaster) if postmaster else 0.0)
        tally, window = run("127.0.0.1", port, specs, seconds,
                            per_attestation=per_attestation, tls=client_tls,
                            signed_requests=signed)
        after = (_cpu_seconds(proc.pid), _cpu_seconds(postmaster) if postmaster else 0.0)
        load_after = os.getloadavg()[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    lat = sorted(tally.latencies)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    n = max(1, len(lat))
    cpu = {"service": (after[0] - before[0]) / n * 1000,
           "database": (after[1] - before[1]) / n * 1000,
           "load generator": tally.cpu_seconds / n * 1000}
    return Figures(label, len(lat) / window, statistics.median(lat) * 1000 if lat else 0,
                   p99 * 1000, len(lat), tally.statuses, tally.errors, cpu,
                   (min(tally.per_client.values(), default=0),
                    max(tally.per_client.values(), default=0)),
                   (load_before, load_after))


def crypto_only(seconds: float = 3.0) -> float:
    """Seconds of cryptography per attestation, one process (the server's share)."""
    with tempfile.TemporaryDirectory() as tmp, Service.open(Path(tmp) / "d") as svc:
        k, opc = os.urandom(16), os.urandom(16)
        iccid = "89001010000000000018"
        k_enc, opc_enc = svc.keys.encrypt_secret(iccid, k), svc.keys.encrypt_secret(iccid, opc)
        device = devicekey.generate("ed25519")
        public = devicekey.load_public_key(device.public_pem())
        message = canonical_json({"evidence": "x" * 600})
        signature = device.sign(message)
        verdict = appraisal.stale("reused")
        verifier = ear.VerifierId("bench", "bench")
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            # challenge: the vector; evidence: XRES again from the card's keys (the
            # read-back path's: an upper bound, and the same work in every run)
            rand = os.urandom(16)
            alg = Milenage(svc.keys.decrypt_secret(iccid, k_enc),
                           opc=svc.keys.decrypt_secret(iccid, opc_enc))
            alg.vector(rand, bytes(6), b"\x80\x00")
            alg = Milenage(svc.keys.decrypt_secret(iccid, k_enc),
                           opc=svc.keys.decrypt_secret(iccid, opc_enc))
            alg.f2345(rand)
            assert public.verify(message, signature)
            claims = ear.claims(verdict, nonce="n" * 43, verifier=verifier, iat=0, ttl=300)
            ear.sign(claims, svc.signer.private_key, svc.signer.kid)
            import hashlib
            hashlib.sha256(message).digest()
            done += 1
        return (time.perf_counter() - start) / done


TABLE_HEAD = [
    "| database | attestations/s | p50 | p99 | per client (fewest–most) | verdicts | errors | "
    "CPU per attestation (service / database / load generator) | crypto share | "
    "load average before → after |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]


def table_row(r: Figures, per_attestation: float) -> str:
    """One window's line of the table (``per_attestation``: the crypto alone, seconds)."""
    crypto_rate = 1 / per_attestation
    return (f"| {r.label} | {r.rate:,.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | "
            f"{r.per_client[0]}–{r.per_client[1]} | {r.statuses} | {r.errors} | "
            f"{r.cpu_ms['service']:.1f} / "
            f"{r.cpu_ms['database']:.1f} / {r.cpu_ms['load generator']:.1f} ms | "
            f"{r.rate * per_attestation:.2f} core-s/s "
            f"(crypto/full = 1 : {crypto_rate / r.rate if r.rate else 0:.1f}) | "
            f"{r.load[0]:.2f} → {r.load[1]:.2f} |")


def median_rate(runs: list[Figures]) -> float:
    return statistics.median(r.rate for r in runs)


def median_line(label: str, runs: list[Figures]) -> str:
    rates = sorted(r.rate for r in runs)
    return (f"- {label}: median {median_rate(runs):,.0f} attestations/s over {len(rates)} "
            f"windows (lowest {rates[0]:,.0f}, highest {rates[-1]:,.0f})")


# bench/RESULTS.md: software-key handsets' figures, and attested handsets' beside them.
RESULTS_SECTIONS = ("Attestation throughput", "Attestation throughput, attested handsets")
HANDSETS = {"software": "software-key handsets",
            "attested": "handsets registered from key attestations",
            "fresh": "attested handsets, a fresh attestation per checkout"}


@contextmanager
def provisioned(db: str, async_commit: bool, clients: int, handsets: str = "software"
                ) -> Iterator[tuple[Path, str | None, list[ClientSpec], Path | None]]:
    """A data directory with a provisioned pool of ``handsets`` (a ``HANDSETS`` key) on a
    fresh database: the data directory, the database URL (None: SQLite in the data
    directory), the clients, and the attestation roots to serve with (None: Google's)."""
    root = Path(tempfile.mkdtemp(prefix="simattest-bench-"))
    try:
        with ExitStack() as stack:
            url = None if db == "sqlite" else stack.enter_context(postgres(root, async_commit))
            if handsets == "software":
                yield root / "data", url, provision(root / "data", url, clients), None
            else:
                specs, config = provision_attested(root, url, clients, ServiceConfig(),
                                                   fresh=handsets == "fresh")
                yield root / "data", url, specs, config.attestation_roots
    finally:
        shutil.rmtree(root, ignore_errors=True)


def tree_version(tree: Path) -> str:
    """The commit checked out in ``tree`` (``-dirty`` with uncommitted changes), or its
    path when it is not a git checkout."""
    described = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty"],
                               capture_output=True, text=True, check=False)
    return described.stdout.strip() if described.returncode == 0 else str(tree)


def alternate(args: argparse.Namespace, per_attestation: float) -> tuple[list[str], list[str]]:
    """``args.pairs`` pairs of windows on one durable PostgreSQL database, the server of
    each window started from the baseline tree (before), then from this one (after), so
    that the machine's drift from one minute to the next hits both sides.  Prints each
    window as it ends; returns the summary lines and the table."""
    trees = {"before": args.baseline_tree, "after": REPO}
    labels = {side: f"{side} ({tree_version(tree)})" for side, tree in trees.items()}
    runs: dict[str, list[Figures]] = {"before": [], "after": []}
    table = list(TABLE_HEAD)
    print("\n".join(table), flush=True)
    with provisioned("postgresql", False, args.clients) as (data_dir, url, specs, _roots):
        for _ in range(args.pairs):
            for side in ("before", "after"):
                figures = serve_and_load(labels[side], data_dir, url, specs, args.seconds,
                                         args.workers, args.threads, args.warmup,
                                         args.connection_per_attestation, args.pin_workers,
                                         tree=trees[side])
                runs[side].append(figures)
                table.append(table_row(figures, per_attestation))
                print(table[-1], flush=True)
    before, after = median_rate(runs["before"]), median_rate(runs["after"])
    lines = [median_line(f"postgresql (durable), {labels[side]}", runs[side])
             for side in ("before", "after")]
    lines.append(f"- after/before: {after / before if before else float('nan'):.3f} "
                 "(median after over median before)")
    return lines, table


def tls_lab(root: Path, specs: list[ClientSpec]) -> tuple[Path, list[ClientSpec]]:
    """A lab CA with a server certificate for 127.0.0.1 and a device certificate for each
    client's device key; the CA directory and the clients with their certificates."""
    lab = LabCA(root / "tls")
    now = utcnow()
    lab.init(["127.0.0.1"], now)
    with_certs = []
    for spec in specs:
        key = devicekey.load_private_key(spec.device_key_pem).key.public_key()
        cert = lab.issue_device_certificate(spec.imei, key, now)
        key_file = lab.path / f"device-{spec.imei}-key.pem"
        write_secret_file(key_file, spec.device_key_pem)
        with_certs.append(dataclasses.replace(spec, cert_file=str(cert),
                                              key_file=str(key_file)))
    return lab.path, with_certs


TLS_VARIANTS = (("http, kept-alive", False, False),
                ("https mTLS, kept-alive", True, False),
                ("http, connection per attestation", False, True),
                ("https mTLS, full handshake per attestation", True, True))


def tls_cost(args: argparse.Namespace, per_attestation: float
             ) -> tuple[list[str], list[str]]:
    """``args.pairs`` rounds of the ``TLS_VARIANTS`` windows on one durable PostgreSQL
    database; returns the summary lines and the table."""
    runs: dict[str, list[Figures]] = {label: [] for label, _tls, _per in TLS_VARIANTS}
    table = list(TABLE_HEAD)
    print("\n".join(table), flush=True)
    with provisioned("postgresql", False, args.clients) as (data_dir, url, specs, _roots):
        lab, tls_specs = tls_lab(data_dir.parent, specs)
        for _ in range(args.pairs):
            for label, tls, per in TLS_VARIANTS:
                figures = serve_and_load(label, data_dir, url, tls_specs if tls else specs,
                                         args.seconds, args.workers, args.threads,
                                         args.warmup, per, args.pin_workers,
                                         tls=lab if tls else None)
                runs[label].append(figures)
                table.append(table_row(figures, per_attestation))
                print(table[-1], flush=True)
    plain = median_rate(runs[TLS_VARIANTS[0][0]])
    lines = [median_line(f"postgresql (durable), {label}", runs[label])
             + (f"; {median_rate(runs[label]) / plain:.3f} of http kept-alive" if plain else "")
             for label, _tls, _per in TLS_VARIANTS]
    return lines, table


def compare_each(args: argparse.Namespace, per_attestation: float
                 ) -> tuple[list[str], list[str]]:
    """``args.repeat`` windows on each database asked for; returns the summary lines
    (medians, with more than one window) and the table."""
    windows: list[Figures] = []
    medians: list[str] = []
    variants: list[tuple[str, bool]] = []
    if args.db in ("postgresql", "both"):
        variants.append(("postgresql", False))
        if args.pg_async_commit:
            variants.append(("postgresql", True))
    if args.db in ("sqlite", "both"):
        variants.append(("sqlite", False))
    for db, async_commit in variants:
        label = db if db == "sqlite" else (
            "postgresql (synchronous_commit=off)" if async_commit else "postgresql (durable)")
        if args.handsets != "software":
            label += f", {HANDSETS[args.handsets]}"
        with provisioned(db, async_commit, args.clients, args.handsets) as (
                data_dir, url, specs, roots):
            runs = [serve_and_load(label, data_dir, url, specs, args.seconds,
                                   args.workers, args.threads, args.warmup,
                                   args.connection_per_attestation, args.pin_workers,
                                   attestation_roots=roots)
                    for _ in range(args.repeat)]
        windows.extend(runs)
        if args.repeat > 1:
            medians.append(median_line(label, runs))
    return medians, [*TABLE_HEAD, *(table_row(r, per_attestation) for r in windows)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2,
                        help="simattest serve --workers (default: serve's)")
    parser.add_argument("--threads", type=int, default=2,
                        help="simattest serve --threads (default 2: with pinned workers, "
                             "the most attestations/s on 2 cores; serve's own default is 4)")
    parser.add_argument("--pin-workers", action=argparse.BooleanOptionalAction, default=True,
                        help="simattest serve --pin-workers: each worker on one CPU (default: on)")
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default=None,
                        help="the databases to measure (default: both)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="windows per database, each against a freshly started service "
                             "(a shared VM's speed drifts from one minute to the next; "
                             "the median is the figure)")
    parser.add_argument("--baseline-tree", type=Path, metavar="DIR",
                        help="before/after: alternate windows of the code checked out in DIR "
                             "and of this tree on durable PostgreSQL (see above)")
    parser.add_argument("--pairs", type=int, default=None, metavar="N",
                        help="with --baseline-tree: before/after window pairs (default 5); "
                             "with --tls: rounds of its four windows (default 3)")
    parser.add_argument("--connection-per-attestation", action="store_true",
                        help="each client opens a connection per attestation, as the device "
                             "agent does (default: one per client for the whole window)")
    parser.add_argument("--tls", action="store_true",
                        help="the cost of TLS: plain HTTP against HTTPS with mutual TLS, "
                             "kept-alive and a connection per attestation (see above)")
    parser.add_argument("--handsets", choices=list(HANDSETS), default="software",
                        help="software: Ed25519 device keys registered as public keys "
                             "(default); attested: handsets registered from TEST-ONLY key "
                             "attestations (EC P-256 device keys); fresh: attested, and "
                             "every evidence carries a fresh attestation bound to the "
                             "checkout nonce, made by the load generator (see above)")
    parser.add_argument("--pg-async-commit", action="store_true",
                        help="also run PostgreSQL with synchronous_commit=off")
    parser.add_argument("--write-results", action="store_true",
                        help="replace the figures of the 'Attestation throughput' section "
                             "of bench/RESULTS.md ('Attestation throughput, attested "
                             "handsets' with --handsets attested|fresh; its head down to its "
                             "table; the notes after the table stay)")
    args = parser.parse_args()
    if args.handsets != "software" and (args.tls or args.baseline_tree is not None):
        parser.error(f"--handsets {args.handsets} runs plain windows (--db, --repeat); "
                     "drop --tls and --baseline-tree")
    if args.tls:
        if args.baseline_tree is not None or args.db not in (None, "postgresql") \
                or args.pg_async_commit or args.repeat != 1 \
                or args.connection_per_attestation:
            parser.error("--tls runs its own windows on durable PostgreSQL in --pairs of "
                         "rounds; drop the other window options")
        args.pairs = 3 if args.pairs is None else args.pairs
        if args.pairs < 1:
            parser.error("--pairs must be at least 1")
        return args
    if args.baseline_tree is None:
        if args.pairs is not None:
            parser.error("--pairs needs --baseline-tree DIR")
        args.db = args.db or "both"
        return args
    if not (args.baseline_tree / "server" / "cli" / "main.py").is_file():
        parser.error(f"--baseline-tree {args.baseline_tree}: not a simattest checkout "
                     "(no server/cli/main.py there)")
    if args.db not in (None, "postgresql") or args.pg_async_commit or args.repeat != 1:
        parser.error("--baseline-tree compares on durable PostgreSQL in --pairs of windows; "
                     "drop --db, --pg-async-commit and --repeat")
    args.baseline_tree = args.baseline_tree.resolve()
    args.pairs = 5 if args.pairs is None else args.pairs
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    return args


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, for bench/RESULTS.md."""
    options = [f"--seconds {args.seconds:g}", f"--workers {args.workers}",
               f"--threads {args.threads}",
               "--pin-workers" if args.pin_workers else "--no-pin-workers"]
    if args.tls:
        options.append(f"--tls --pairs {args.pairs}")
    elif args.baseline_tree is not None:
        options.append(f"--baseline-tree DIR --pairs {args.pairs}")
    else:
        options.append(f"--db {args.db} --repeat {args.repeat}")
    if args.pg_async_commit:
        options.append("--pg-async-commit")
    if args.connection_per_attestation:
        options.append("--connection-per-attestation")
    if args.handsets != "software":
        options.append(f"--handsets {args.handsets}")
    return f".venv/bin/python bench/bench_attestation.py {' '.join(options)} --write-results"


def main() -> int:
    args = parse_args()
    per_attestation = crypto_only()
    crypto = (f"- crypto alone: {per_attestation * 1e6:,.0f} µs per attestation "
              f"= {1 / per_attestation:,.0f} attestations/s on one core")
    if args.handsets != "software":
        crypto += (" (a software-key handset's: Ed25519 evidence signatures; an attested "
                   "handset's ES256 and a fresh chain's verification are not in it, see "
                   "*Android attestation: added cost per checkout*)")
    if args.tls:
        summary, table = tls_cost(args, per_attestation)
        print("\n".join(["", crypto, *summary]))
    elif args.baseline_tree is not None:
        summary, table = alternate(args, per_attestation)
        print("\n".join(["", crypto, *summary]))
    else:
        summary, table = compare_each(args, per_attestation)
        print("\n".join([crypto, *summary, "", *table]))
    if args.write_results and args.tls:
        results.replace_figures("TLS cost", [
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            f"- machine: {machine.describe()} (load average around each window in the table)",
            f"- command: `{command_line(args)}`",
            f"- {args.clients} concurrent clients against `simattest serve --workers "
            f"{args.workers} --threads {args.threads}"
            f"{' --pin-workers' if args.pin_workers else ''}` on durable PostgreSQL, "
            "plain or with `--tls-cert --tls-key --client-ca` (TLS 1.3, ECDSA P-256 server "
            "certificate, each handset presenting its Ed25519 device certificate, checked "
            "against the registry per request); rounds of the four windows alternated; "
            "load generator on the same 2 cores",
            crypto, *summary, "", *table,
        ])
    elif args.write_results:
        setup = [f"- command: `{command_line(args)}`"]
        if args.baseline_tree is not None:
            setup.append(f"- before: the server from a checkout of "
                         f"{tree_version(args.baseline_tree)} (`--baseline-tree`), after: "
                         f"from {tree_version(REPO)}, alternated window by window on one "
                         "durable PostgreSQL database")
        if args.handsets != "software":
            setup.append(f"- handsets: {HANDSETS[args.handsets]} (TEST-ONLY authority, EC "
                         "P-256 device keys, ES256 evidence signatures"
                         + ("; each evidence with a fresh 4-certificate attestation bound "
                            "to the checkout nonce, made by the load generator: its CPU "
                            "is in the load generator's column)" if args.handsets == "fresh"
                            else ")"))
        results.replace_figures(RESULTS_SECTIONS[args.handsets != "software"], [
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            f"- machine: {machine.describe()} (load average around each window in the table)",
            *setup,
            f"- {args.clients} concurrent clients ("
            + ("a connection per attestation" if args.connection_per_attestation
               else "each on one kept-alive connection")
            + f") against `simattest serve --workers {args.workers} --threads "
            f"{args.threads}{' --pin-workers' if args.pin_workers else ''}` (gunicorn "
            "gthread, JSON access log, multi-process metrics), "
            "load generator on the same 2 cores",
            crypto, *summary, "", *table,
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
