"""Desk pool page with a large pool: time per page over real HTTP, SQLite or PostgreSQL.

Builds the pool through the service functions (vendor import, handset registration,
pairing, one checkout attestation per handset through ``create_challenge`` +
``submit_evidence``, a share of them swapped SIMs, and checkouts), serves the app with
werkzeug on 127.0.0.1, signs in as a desk operator and times page loads — the first
page, a page deep in the keyset, every filter and a search — as the median of
repeated requests.

    .venv/bin/python bench/bench_web.py [--handsets 10000] [--repeat 20] [--db sqlite|postgresql]

PostgreSQL is a throw-away cluster started by ``bench_attestation.postgres`` (durable).

Prints one line per case and a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import secrets
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import machine  # bench/machine.py, beside this script
import requests
from bench_attestation import postgres  # the same throw-away PostgreSQL cluster
from werkzeug.serving import make_server

from attest import b64url, devicekey
from attest.aka.milenage import Milenage
from attest.evidence import canonical_json, challenge_request_bytes
from server.attestation.challenge import ChallengeRequest, create_challenge
from server.attestation.evidence import Outcome, submit_evidence
from server.checkout import desk as checkout
from server.core import operators
from server.core.identifiers import luhn_digit
from server.core.service import Service
from server.http.app import create_app
from server.pool import provisioning, registry

PS_FACTS = {"mnc_length": 2, "ust": [10, 12, 19, 20, 21, 27, 33, 68, 85, 95, 101, 109],
            "prose": True}
REALM = "ims.mnc001.mcc001.3gppnetwork.org"


@dataclass
class Unit:
    imei: str
    iccid: str
    imsi: str
    k: bytes
    opc: bytes
    key: devicekey.DeviceSigner


def _digits(prefix: str, serial: int, length: int) -> str:
    body = f"{prefix}{serial:0{length - 1 - len(prefix)}d}"
    return body + luhn_digit(body)


def build(svc: Service, n: int) -> list[Unit]:
    units = [Unit(_digits("35693803", i, 15), _digits("8900101", i, 19), f"00101{i:010d}",
                  secrets.token_bytes(16), secrets.token_bytes(16), devicekey.generate())
             for i in range(1, n + 1)]
    csv = "ICCID,IMSI,KI,OPC\n" + "".join(
        f"{u.iccid},{u.imsi},{u.k.hex()},{u.opc.hex()}\n" for u in units)
    provisioning.import_batch(svc, csv, "bench.csv", actor="bench")
    for i, u in enumerate(units):
        registry.add_handset(svc, u.imei, u.key.public_pem().decode(), actor="bench",
                             label=f"unit {i + 1:05d}")
        registry.pair(svc, u.imei, u.iccid, actor="bench")
    return units


def attest(svc: Service, unit: Unit, card: Unit) -> Outcome:
    """One checkout check by ``unit`` with ``card``'s USIM inside."""
    signed_at = time.time_ns() // 1_000_000
    request = ChallengeRequest(unit.imei, signed_at,
                               unit.key.sign(challenge_request_bytes(unit.imei, signed_at)))
    challenge = create_challenge(svc, request, client="bench")
    alg = Milenage(card.k, opc=card.opc)
    res = alg.f2345(challenge.rand)[0] if card is unit else None
    outcome = {"outcome": "success", "res": res.hex()} if res else {"outcome": "mac_failure"}
    doc: dict[str, Any] = {
        "attestation_id": challenge.id, "nonce": challenge.nonce, "imei": unit.imei,
        "imeisv": None, "iccid": card.iccid, "imsi": card.imsi, **PS_FACTS,
        "isim": {"impi": f"{card.imsi}@{REALM}", "impu": [f"sip:{card.imsi}@{REALM}"],
                 "ist": [15]},
        "outcome": outcome,
    }
    signature = b64url.encode(unit.key.sign(canonical_json(doc)))
    return submit_evidence(svc, challenge.id, doc, signature, client="bench")


def sign_in(base: str, token: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{base}/desk/sign-in").text
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert csrf is not None
    http.post(f"{base}/desk/sign-in", data={"token": token, "csrf_token": csrf.group(1)})
    return http


def median_ms(http: requests.Session, url: str, repeat: int) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = http.get(url)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        size = len(response.content)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handsets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per request
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        db_url = (stack.enter_context(postgres(Path(tmp), async_commit=False))
                  if args.db == "postgresql" else None)
        svc = stack.enter_context(Service.open(Path(tmp) / "data", db_url))
        run(svc, args)


def run(svc: Service, args: argparse.Namespace) -> None:
    """Seed the pool, serve it, time the pages, print the figures."""
    started = time.perf_counter()
    units = build(svc, args.handsets)
    for i, unit in enumerate(units):
        # Every 10th handset holds the next one's card (SIM_SWAPPED); the rest are genuine.
        attest(svc, unit, units[(i + 1) % len(units)] if i % 10 == 0 else unit)
    token = operators.create_token(svc, "desk", "bench desk")
    out = 0
    for unit in units[1::20]:  # a share of the genuine ones are out
        latest = attestation_id_of(svc, unit.imei)
        checkout.start_checkout(svc, latest, f"user of {unit.imei}", actor="bench")
        out += 1
    seeded = time.perf_counter() - started
    print(f"seeded {len(units)} handsets, {len(units)} attestations, {out} checkouts "
          f"in {seeded:.0f} s")

    server = make_server("127.0.0.1", 0, create_app(svc), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    http = sign_in(base, token)
    deep_pages = min(100, args.handsets // 50 - 1)
    deep_after = page_cursor(http, base, pages=deep_pages)
    cases = [
        ("first page (50 rows)", "/desk/pool"),
        (f"page {deep_pages + 1} by keyset", f"/desk/pool?after={deep_after}"),
        ("problems only", "/desk/pool?problems=1"),
        ("status contraindicated", "/desk/pool?status=contraindicated"),
        ("checked out", "/desk/pool?out=yes"),
        ("search ICCID prefix", f"/desk/pool?q={units[4321 % len(units)].iccid[:15]}"),
        ("search label", "/desk/pool?q=unit+00999"),
        ("alerts (25 rows)", "/desk/alerts"),
        ("checkout page of one handset", f"/desk/checkout?q={units[2].imei}"),
    ]
    rows = []
    for name, path in cases:
        ms, size = median_ms(http, base + path, args.repeat)
        rows.append((name, ms, size))
        print(f"{name:32s} {ms:8.1f} ms  ({size // 1024} KiB)")
    server.shutdown()
    thread.join()
    print("\n## Desk web pages\n")
    print(f"Pool of {args.handsets:,} handsets (each paired, one attestation each, every "
          f"10th a swapped SIM, {out} checked out) on {svc.db.dialect}, built through the service "
          "functions; pages fetched over real HTTP (werkzeug, threaded, 127.0.0.1) by a "
          f"signed-in desk session; median of {args.repeat} requests per case, whole "
          "response (query + template).\n")
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine.describe()}"
          f" (shared with other developers' test runs)")
    print(f"- command: `.venv/bin/python bench/bench_web.py --handsets {args.handsets} "
          f"--repeat {args.repeat} --db {args.db}`\n")
    print("| page | median time | size |\n| --- | --- | --- |")
    for name, ms, size in rows:
        print(f"| {name} | {ms:.1f} ms | {size // 1024} KiB |")


def attestation_id_of(svc: Service, imei: str) -> str:
    from server.http.web import queries  # the desk's own lookup of the latest verdict

    rows = queries.find_handsets(svc, imei)
    assert rows and rows[0].attestation_id is not None
    return rows[0].attestation_id


def page_cursor(http: requests.Session, base: str, pages: int) -> int:
    """Follow "Next" ``pages`` times; returns the cursor of the page after that."""
    url = f"{base}/desk/pool"
    after = 0
    for _ in range(pages):
        found = re.search(r'href="/desk/pool\?after=(\d+)"', http.get(url).text)
        assert found is not None, "pool has fewer pages than asked"
        after = int(found.group(1))
        url = f"{base}/desk/pool?after={after}"
    return after


if __name__ == "__main__":
    main()
