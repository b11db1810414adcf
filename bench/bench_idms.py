"""MC user sign-ins at the IdMS, and access-token verification by a resource server.

**Sign-ins.**  ``simattest serve`` (gunicorn) on a durable PostgreSQL cluster, over TLS
asking for client certificates, identity management enabled.  A pool of handsets, each
attested (the real service functions, evidence signed with its device key), checked out
at the desk to its own MC user, with its device certificate from a lab CA.  The load
generator runs on the same machine: processes of threads, each thread one handset doing
complete sign-ins over one kept-alive mutual-TLS connection — the authorization request
(login form), the login POST (Argon2id at OWASP parameters), the token request (code +
PKCE S256; tokens bound to the device certificate) and the identities request with the
bound access token.  Reported: sign-ins per second, latency, CPU per sign-in of the
service, the database and the load generator, and the Argon2id share of the service's
CPU (one verification timed in this process, times the rate).

**Verification.**  A resource server's check of one access token — ES256 signature with
the JWKS key, type, issuer, expiry and the RFC 8705 binding to the TLS client
certificate — in one process on one core (``server.idms.tokens.verify_access_token``).

Run: ``.venv/bin/python bench/bench_idms.py [--seconds 20] [--write-results]``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import multiprocessing
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import machine, results  # noqa: E402
from bench.bench_attestation import _cpu_seconds, _free_port, _postmaster, postgres  # noqa: E402
from server.attestation.challenge import create_challenge  # noqa: E402
from server.attestation.evidence import submit_evidence  # noqa: E402
from server.core.config import IdmsConfig, ServiceConfig  # noqa: E402
from server.core.labca import CA_CERT, SERVER_CERT, SERVER_KEY, LabCA  # noqa: E402
from server.core.service import Service  # noqa: E402
from server.idms import credentials, desk, oidc, tokens, users  # noqa: E402
from server.pool.devicecerts import issue_device_certificate  # noqa: E402
from tests.fixtures_attestation import build_pool  # noqa: E402

TITLE = "IdMS sign-ins and access-token verification"
CLIENT_ID = "org.example.mcptt"
REDIRECT_URI = "org.example.mcptt:/cb"
SCOPE = "openid 3gpp:mc:ptt_service"
PASSWORD = "bench password, long enough"
CONFIG = ServiceConfig(idms=IdmsConfig(enabled=True))


@dataclass(frozen=True)
class Handset:
    mc_id: str
    cert: str
    key: str


def provision(data: Path, db_url: str, ca: LabCA, count: int) -> list[Handset]:
    """``count`` handsets attested, checked out to their own MC users, with their
    device certificates; the native client registered."""
    now = dt.datetime.now(dt.UTC)
    found = []
    with Service.open(data, db_url, CONFIG) as svc:
        pool = build_pool(svc, size=count)
        oidc.add_client(svc, CLIENT_ID, "native", "bench", [REDIRECT_URI], SCOPE.split(),
                        actor="bench")
        for n, (handset, card) in enumerate(zip(pool.handsets, pool.cards, strict=True)):
            challenge = create_challenge(svc, handset.request(), client="127.0.0.1")
            evidence, signature = handset.evidence(challenge.to_json(), card)
            outcome = submit_evidence(svc, challenge.id, evidence, signature,
                                      client="127.0.0.1")
            mc_id = f"officer{n:04d}"
            users.add_user(svc, mc_id=mc_id, mcptt_id=f"sip:{mc_id}@mcptt.example.org",
                           display_name=mc_id, password=PASSWORD, actor="bench")
            desk.start_checkout(svc, outcome.attestation_id, mc_id, actor="bench")
            cert = issue_device_certificate(svc, ca, handset.imei,
                                            handset.key.public_pem().decode(), now)
            key = data.parent / f"device-{n}.pem"
            key.write_bytes(handset.key.private_pem())
            found.append(Handset(mc_id, str(cert), str(key)))
    return found


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_in(session: requests.Session, base: str, handset: Handset) -> None:
    """One complete sign-in (module docstring); AssertionError on any other answer."""
    verifier = secrets.token_urlsafe(48)
    query = urlencode({"response_type": "code", "client_id": CLIENT_ID,
                       "redirect_uri": REDIRECT_URI, "scope": SCOPE,
                       "state": secrets.token_urlsafe(16),
                       "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
                       "code_challenge_method": "S256"})
    url = f"{base}/idms/authorize?{query}"
    form = session.get(url, timeout=60)
    assert form.status_code == 200, form.status_code
    login = session.post(url, data={"username": handset.mc_id, "password": PASSWORD},
                         allow_redirects=False, timeout=60)
    assert login.status_code == 302, (login.status_code, login.text[:200])
    code = parse_qs(urlsplit(login.headers["Location"]).query)["code"][0]
    token = session.post(f"{base}/idms/token", timeout=60, data={
        "grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert token.status_code == 200, (token.status_code, token.text[:200])
    found = session.get(f"{base}/idms/identities", timeout=60, headers={
        "Authorization": f"Bearer {token.json()['access_token']}"})
    assert found.status_code == 200, (found.status_code, found.text[:200])


def _load_process(base: str, ca: str, handsets: list[Handset], start: float, stop: float,
                  out: Any) -> None:
    latencies: list[float] = []
    errors: list[str] = []

    def loop(handset: Handset) -> None:
        with requests.Session() as session:
            session.trust_env = False
            session.verify = ca
            session.cert = (handset.cert, handset.key)
            while time.time() < start:
                time.sleep(0.01)
            while time.time() < stop:
                began = time.perf_counter()
                try:
                    sign_in(session, base, handset)
                except (AssertionError, requests.RequestException) as exc:
                    errors.append(repr(exc)[:200])
                    continue
                latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=loop, args=(h,)) for h in handsets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = os.times()
    out.put((latencies, errors, usage.user + usage.system))


def load(base: str, ca: str, handsets: list[Handset], seconds: float, processes: int
         ) -> tuple[list[float], list[str], float, float]:
    """Sign-ins for ``seconds``: (latencies, errors, the generator's CPU seconds, the
    window's length)."""
    start = time.time() + 2.0
    stop = start + seconds
    queue: Any = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_load_process, args=(
        base, ca, handsets[i::processes], start, stop, queue)) for i in range(processes)]
    for proc in procs:
        proc.start()
    gathered = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return ([x for g in gathered for x in g[0]], [x for g in gathered for x in g[1]],
            sum(g[2] for g in gathered), seconds)


def argon2_seconds(rounds: int = 20) -> float:
    """One Argon2id verification at the service's parameters, in this process."""
    stored = credentials.hash_password(PASSWORD)
    began = time.process_time()
    for _ in range(rounds):
        credentials._password_matches(stored, PASSWORD)
    return (time.process_time() - began) / rounds


def verification_rate(seconds: float = 3.0) -> float:
    """Access tokens verified per second on one core, binding check included."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from attest import certificates
    from server.core.keystore import KeyStore

    keys = KeyStore(secrets.token_bytes(32))
    signer = tokens.signer(keys)
    ca = certificates.make_ca("bench", certificates.new_key(), dt.datetime.now(dt.UTC))
    cert = certificates.make_device_certificate(
        ca, "356938035643809", ec.generate_private_key(ec.SECP256R1()).public_key(),
        dt.datetime.now(dt.UTC))
    der = cert.public_bytes(serialization.Encoding.DER)
    import jwt

    now = int(time.time())
    token = jwt.encode({"iss": "https://idms.example", "sub": "officer", "iat": now,
                        "exp": now + 300, "sid": 1, "scope": SCOPE, "client_id": CLIENT_ID,
                        "cnf": {"x5t#S256": tokens.certificate_thumbprint(der)},
                        "mcptt_id": "sip:officer@mcptt.example.org"},
                       signer.private_key, algorithm="ES256",
                       headers={"typ": "at+jwt", "kid": signer.kid})
    public = signer.private_key.public_key()
    count, began = 0, time.process_time()
    while time.process_time() - began < seconds:
        tokens.verify_access_token(token, public, "https://idms.example", der)
        count += 1
    return count / (time.process_time() - began)


def run(args: argparse.Namespace) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bench-idms-") as tmp:
        root = Path(tmp)
        with postgres(root, async_commit=False) as db_url:
            ca = LabCA(root / "ca")
            ca.init(["localhost"], dt.datetime.now(dt.UTC))
            data = root / "data"
            handsets = provision(data, db_url, ca, args.handsets)
            config = root / "simattest.toml"
            config.write_text("[idms]\nenabled = true\n")
            port = _free_port()
            base = f"https://localhost:{port}"
            cafile = str(ca.path / CA_CERT)
            log = (root / "serve.log").open("ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli.main", "serve", "--data", str(data),
                 "--db", db_url, "--bind", f"127.0.0.1:{port}", "--workers",
                 str(args.workers), "--threads", str(args.threads),
                 "--tls-cert", str(ca.path / SERVER_CERT), "--tls-key",
                 str(ca.path / SERVER_KEY), "--client-ca", cafile],
                cwd=REPO, env=dict(os.environ, SIMATTEST_CONFIG=str(config)), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if requests.get(f"{base}/healthz", verify=cafile, timeout=2).ok:
                            break
                    except requests.RequestException:
                        pass
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("simattest serve did not start")
                    time.sleep(0.2)
                load(base, cafile, handsets, args.warmup, args.processes)  # warm-up
                postmaster = _postmaster(root / "pg")
                load_before = os.getloadavg()[0]
                before = (_cpu_seconds(proc.pid), _cpu_seconds(postmaster) if postmaster
                          else 0.0)
                lat, errors, generator_cpu, window = load(base, cafile, handsets,
                                                          args.seconds, args.processes)
                after = (_cpu_seconds(proc.pid), _cpu_seconds(postmaster) if postmaster
                         else 0.0)
                load_after = os.getloadavg()[0]
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
                log.close()
    n = max(1, len(lat))
    rate = len(lat) / window
    service_ms = (after[0] - before[0]) / n * 1000
    database_ms = (after[1] - before[1]) / n * 1000
    generator_ms = generator_cpu / n * 1000
    # What the CPU these cost allows with the machine's cores to this run alone: the
    # figure to compare with the target when other work shares the machine.
    ceiling = (os.cpu_count() or 1) * 1000 / max(service_ms + database_ms + generator_ms,
                                                 1e-9)
    argon2_ms = argon2_seconds() * 1000
    verify_rate = verification_rate()
    lat.sort()
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0
    return [
        f"- date: {dt.date.today().isoformat()}; machine: {machine.describe()}; load "
        f"average {load_before:.1f} before, {load_after:.1f} after the window (other "
        "work on the machine)",
        f"- command: `.venv/bin/python bench/bench_idms.py --seconds {args.seconds:g} "
        f"--handsets {args.handsets} --workers {args.workers} --threads {args.threads} "
        f"--processes {args.processes}`; PostgreSQL 15 durable, TLS 1.3 with client "
        f"certificates, {len(lat)} sign-ins, {len(errors)} errors"
        + (f" (first: {errors[0]})" if errors else ""),
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| complete sign-ins per second (authorize, login, token, identities) | "
        f"{rate:.1f} |",
        f"| latency median / p99 | {p50:.0f} ms / {p99:.0f} ms |",
        f"| CPU per sign-in: service / database / load generator | {service_ms:.1f} / "
        f"{database_ms:.1f} / {generator_ms:.1f} ms |",
        f"| sign-ins per second the machine's {os.cpu_count()} cores allow at that CPU "
        f"cost, all three on it (nothing else running) | {ceiling:.1f} |",
        f"| Argon2id (OWASP: 19 MiB, t=2, p=1) per sign-in, share of the service's CPU | "
        f"{argon2_ms:.1f} ms, {argon2_ms / service_ms * 100 if service_ms else 0:.0f} % |",
        f"| access tokens verified per second, one core (ES256, binding checked) | "
        f"{verify_rate:,.0f} |",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--handsets", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--write-results", action="store_true",
                        help=f"put the figures into bench/RESULTS.md ({TITLE})")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    figures = run(args)
    print("\n".join(figures))
    if args.write_results:
        results.replace_figures(TITLE, figures)


if __name__ == "__main__":
    main()
