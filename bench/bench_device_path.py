"""CPU per attestation of the device path alone: the WSGI app called in this process.

No HTTP server, no load generator process, one thread: ``POST /v1/attestations`` and
``POST /v1/attestations/{id}/evidence`` go straight to ``server.http.app.create_app`` on a
durable throw-away PostgreSQL (32 paired cards, rate limits on, JSON access log to a
file), and each simulated handset answers as ``bench/loadgen.py``'s clients do.  The
figure is this process's CPU time per attestation (the device path plus the handset's
side, without PostgreSQL's), the median of ``--repeat`` rounds — steadier on a shared
VM than a throughput window, so two builds can be compared by alternating them.  The
database's CPU time per attestation (its backends', from ``/proc``, in clock ticks: a
coarser figure) is printed beside it, since a throughput window shares the cores with
PostgreSQL too:

    .venv/bin/python bench/bench_device_path.py [--repo OTHER_CHECKOUT]
    .venv/bin/python bench/bench_device_path.py --handsets attested|fresh

``--repo`` serves from another checkout (e.g. a ``git worktree`` or ``git archive`` of
an older commit, with this checkout's migrations if it lacks some): this checkout's
harness provisions the pool and plays the handsets, then ``server``/``attest``/``hw``
are imported afresh from ``--repo`` for the service.

CPU time on a VM shared with other jobs varies by a tenth from run to run; the number of
instructions does not.  ``--callgrind`` counts them over the measured rounds only (the
warm-up and provisioning excluded) when the script runs under callgrind:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \
        .venv/bin/python bench/bench_device_path.py --callgrind --attestations 400 --repeat 1

and valgrind's closing "Collected" figure divided by ``--attestations`` is the count per
attestation (the handset's side included, as for the CPU time).

``--handsets``: ``software`` (default) registers Ed25519 device keys as before;
``attested`` registers each handset from an Android key attestation (the TEST-ONLY
authority, EC P-256 device keys); ``fresh`` does the same and every evidence carries a
fresh 4-certificate key attestation bound to the checkout nonce.  The handset's own
cost of making that attestation (a key pair and a signed leaf) is measured apart and
left out of the figure, so that it is the service's added cost per checkout.

``--added-cost`` measures only what the handset's hardware facts add to one appraisal,
in this process on SQLite (no HTTP, no database round trip once the registration record
is cached): ``server.attestation.hardware.handset_facts`` and the ``me`` appraisal for a
software-key handset, an attested one, and an attested one with a fresh attestation
(chain verification, KeyDescription decoding, status list lookup).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent.parent


def _environ(request: bytes) -> dict[str, Any]:
    """The WSGI environ of one HTTP/1.1 request as the load generator writes it."""
    head, _, body = request.partition(b"\r\n\r\n")
    method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
            "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "bench", "SERVER_PORT": "80",
            "wsgi.url_scheme": "http"}


def _call(app: Any, request: bytes) -> tuple[int, Any]:
    """The app's answer to one request: status code and decoded JSON body."""
    status: list[str] = []

    def start_response(line: str, _headers: Any, _exc_info: Any = None) -> None:
        status.append(line)

    body = b"".join(app(_environ(request), start_response))
    return int(status[0][:3]), orjson.loads(body)


def _callgrind(state: str) -> None:
    """Turn callgrind's instrumentation of this process on or off."""
    subprocess.run(["callgrind_control", "--instr", state, str(os.getpid())],
                   check=True, capture_output=True)


def _timed(make: Any, spent: list[float]) -> Any:
    """``make`` with its CPU time added to ``spent[0]``."""
    def timed(nonce: str) -> Any:
        start = time.process_time()
        try:
            return make(nonce)
        finally:
            spent[0] += time.process_time() - start
    return timed


def added_cost(calls: int, repeat: int) -> int:
    """``--added-cost`` (module docstring): median CPU µs per call over ``repeat`` rounds."""
    import dataclasses
    import datetime as dt

    from attest import appraisal, b64url, devicekey
    from attest.evidence import parse_evidence
    from bench.bench_attestation import provision_attested
    from server.agent.attested import AttestedHandset
    from server.attestation.hardware import handset_facts
    from server.core.config import ServiceConfig
    from server.core.service import Service
    from server.pool import registry
    from server.store.models import utcnow

    root = Path(tempfile.mkdtemp(prefix="simattest-addedcost-"))
    specs, config = provision_attested(root, f"sqlite:///{root / 'bench.db'}", 2,
                                       ServiceConfig(), fresh=True)
    assert specs[0].attested_device is not None
    handset = AttestedHandset.load(Path(specs[0].attested_device))

    software_imei = "356938039999991"
    with Service.open(root / "data", f"sqlite:///{root / 'bench.db'}", config) as svc:
        registry.add_handset(svc, software_imei,
                             devicekey.generate().public_pem().decode(), actor="bench")
        nonce = b64url.encode(bytes(range(32)))
        base = {"attestation_id": "a1", "nonce": nonce, "imei": specs[0].imei,
                "imeisv": None, "iccid": specs[0].iccid, "imsi": specs[0].imsi,
                "mnc_length": 2, "ust": [27], "prose": True, "isim": None,
                "outcome": {"outcome": "success", "res": "00" * 8}}
        cases = {
            "software key": parse_evidence({**base, "imei": software_imei}),
            "attested, no fresh attestation": parse_evidence(base),
            "attested, fresh attestation": parse_evidence(
                {**base, "attestation": handset.fresh_attestation(nonce)}),
        }
        challenge = appraisal.ChallengeFacts("a1", nonce, specs[0].imei, bytes(8))
        facts = appraisal.RegistryFacts(True, True, None, None, "public-safety", True)
        policy, now = svc.config.device_policy, utcnow()
        for name, evidence in cases.items():
            def once(evidence: Any = evidence) -> None:
                handset = handset_facts(svc, evidence.imei, evidence, nonce, now)
                appraisal.appraise(dataclasses.replace(challenge, imei=evidence.imei),
                                   evidence, dataclasses.replace(facts, handset=handset),
                                   policy, dt.date.today())
            once()  # the registration record read and kept
            rounds = []
            for _ in range(repeat):
                start = time.process_time()
                for _ in range(calls):
                    once()
                rounds.append((time.process_time() - start) / calls * 1e6)
            print(f"{name}: median {statistics.median(rounds):,.0f} µs per appraisal "
                  f"(rounds: {', '.join(f'{r:,.0f}' for r in rounds)})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attestations", type=int, default=600, help="per round")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=HERE,
                        help="checkout whose server code is measured")
    parser.add_argument("--callgrind", action="store_true",
                        help="count instructions over the rounds (run under callgrind "
                             "with --instr-atstart=no)")
    parser.add_argument("--handsets", choices=("software", "attested", "fresh"),
                        default="software", help="how the handsets are registered and "
                                                 "whether they send a fresh attestation")
    parser.add_argument("--added-cost", action="store_true",
                        help="measure the hardware facts' added cost per appraisal only")
    args = parser.parse_args()
    repo = args.repo.resolve()
    if repo != HERE and (args.handsets != "software" or args.added_cost):
        parser.error("--handsets attested|fresh and --added-cost measure this checkout only")
    sys.path.insert(0, str(HERE))
    if args.added_cost:
        return added_cost(args.attestations, args.repeat)

    from bench.bench_attestation import (
        _cpu_seconds,
        _postmaster,
        postgres,
        provision,
        provision_attested,
        signs_challenge_requests,
    )
    from bench.loadgen import _Client, _presign

    root = Path(tempfile.mkdtemp(prefix="simattest-devpath-"))
    root.chmod(0o777)  # the throw-away cluster runs as the postgres user
    with postgres(root, async_commit=False) as url:
        if args.handsets == "software":
            specs = provision(root / "data", url, 32)
        else:
            from server.core.config import ServiceConfig as OwnConfig

            specs, attested_config = provision_attested(
                root, url, 32, OwnConfig(rate_limit_per_imei=10**9,
                                         rate_limit_per_client=10**9),
                fresh=args.handsets == "fresh")
        if repo != HERE:
            # The pool was provisioned by this checkout; the service is the other build's
            # (the harness keeps the modules it has imported).
            for name in [m for m in sys.modules if m.partition(".")[0]
                         in ("server", "attest", "hw", "card_profiles")]:
                del sys.modules[name]
            sys.path.insert(0, str(repo))
        from server.core.config import ServiceConfig
        from server.core.service import Service
        from server.http import jsonlog
        from server.http.app import create_app

        config = ServiceConfig(rate_limit_per_imei=10**9, rate_limit_per_client=10**9) \
            if args.handsets == "software" else attested_config
        with Service.open(root / "data", url, config) as svc, \
                (root / "service.log").open("w") as log:
            stderr, sys.stderr = sys.stderr, log
            try:
                jsonlog.configure()
                app = create_app(svc)
                # Challenge requests signed before the clock starts, as a handset signs
                # its own (bench/loadgen.py); a build from before signed requests takes
                # the IMEI alone.
                per_client = (200 + args.repeat * args.attestations) // len(specs) + 2
                signed = signs_challenge_requests(repo)
                clients = [_Client("127.0.0.1", 80, spec,
                                   _presign(spec, per_client) if signed else None)
                           for spec in specs]
                handset_cpu = [0.0]  # the handsets' own CPU making fresh attestations
                for client in clients:  # "fresh": the spec's handset makes them
                    if client.fresh_attestation is not None:
                        client.fresh_attestation = _timed(client.fresh_attestation,
                                                          handset_cpu)

                def attest(client: _Client) -> str:
                    session = client.attest()
                    request = next(session)
                    try:
                        while True:
                            request = session.send(_call(app, request))
                    except StopIteration as done:
                        return str(done.value)

                for n in range(200):  # warm-up: prepared statements, caches
                    attest(clients[n % len(clients)])
                rounds, database = [], []
                postmaster = _postmaster(root / "pg")
                if args.callgrind:
                    _callgrind("on")
                for _ in range(args.repeat):
                    handset_cpu[0] = 0.0
                    start = time.process_time()
                    start_db = _cpu_seconds(postmaster) if postmaster else 0.0
                    for n in range(args.attestations):
                        verdict = attest(clients[n % len(clients)])
                        if verdict != "affirming":
                            raise SystemExit(f"unexpected verdict {verdict!r}")
                    spent = time.process_time() - start - handset_cpu[0]
                    rounds.append(spent / args.attestations * 1e6)
                    if postmaster:
                        database.append((_cpu_seconds(postmaster) - start_db)
                                        / args.attestations * 1e6)
                if args.callgrind:
                    _callgrind("off")
            finally:
                sys.stderr = stderr
    print(f"{args.repo} ({args.handsets} handsets): CPU per attestation median "
          f"{statistics.median(rounds):,.0f} µs "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in rounds)}); database CPU median "
          f"{statistics.median(database or [0]):,.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
