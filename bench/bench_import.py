"""Import of a 100,000-card SIM vendor file, on SQLite and on PostgreSQL.

Generates a vendor output file (``var_out`` layout, Ki/OPc encrypted under a random
transport key, KCV in the header) in a temporary directory, then times
``server.pool.provisioning.import_batch`` end to end — parse, transport-key decryption,
validation (Luhn, duplicates in the file and against the pool), AES-GCM encryption of
K/OPc/PIN1/PUK1 under the KEK, one bulk INSERT, the audit entry — into a fresh data
directory.  PostgreSQL is a throw-away Debian PostgreSQL 15 cluster started here with
durable settings (fsync on).  Issue 4 target: under 60 s.

    .venv/bin/python bench/bench_import.py [--cards 100000] [--db sqlite postgresql]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import machine  # bench/machine.py, beside this script

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.fixtures_db (the throw-away PostgreSQL cluster)

from server.core.service import Service  # noqa: E402
from server.demo.batchgen import synth_cards, vendor_out_text  # noqa: E402
from server.pool.provisioning import import_batch  # noqa: E402
from tests.fixtures_db import PostgresServer  # noqa: E402


def _import(data_dir: Path, db_url: str | None, content: bytes, key: bytes) -> float:
    with Service.open(data_dir, db_url) as svc:
        start = time.perf_counter()
        report = import_batch(svc, content, "bench.out", key, actor="bench")
        elapsed = time.perf_counter() - start
    assert report.imported == report.rows and not report.rejected
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    args = parser.parse_args()

    key = os.urandom(16)
    with tempfile.TemporaryDirectory(prefix="simattest-bench-import-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        content = vendor_out_text(synth_cards(args.cards), key).encode()
        (work / "bench.out").write_bytes(content)
        generated = time.perf_counter() - t0
        print(f"generated {args.cards} cards, {len(content) / 1e6:.1f} MB in {generated:.1f} s")
        results: list[tuple[str, float]] = []
        if "sqlite" in args.db:
            results.append(("SQLite (WAL, synchronous=NORMAL)",
                            _import(work / "sqlite", None, content, key)))
            print(f"SQLite: {results[-1][1]:.1f} s")
        if "postgresql" in args.db:
            server = PostgresServer.create(durable=True)
            try:
                server.start()
                db = server.create_database()
                results.append(("PostgreSQL 15 (fsync on, loopback)",
                                _import(work / "pg", server.url(db), content, key)))
                print(f"PostgreSQL: {results[-1][1]:.1f} s")
            finally:
                server.destroy()

    print()
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine.describe()}"
          f"")
    print(f"- command: `.venv/bin/python bench/bench_import.py --cards {args.cards}`")
    print()
    print("| database | import time | cards/s |")
    print("| --- | --- | --- |")
    for name, seconds in results:
        print(f"| {name} | {seconds:.1f} s | {args.cards / seconds:,.0f} |")


if __name__ == "__main__":
    main()
