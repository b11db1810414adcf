"""Make the upgrade test's fixture for one released version of simattest.

Run once per release, by a developer, with a checkout of that release on ``PYTHONPATH``
(``tests/data/releases/README.md`` gives the commands). Everything below runs on the
release's own code, on a data directory holding the KEK and EAR signing key of
``fixture_keys`` (derived, never stored), with two databases — a SQLite file and a
PostgreSQL database on a throw-away server — and in each its functions create operator
tokens (``fixture_keys``'s), import four example cards as a vendor output file with
Ki/OPc under a transport key, register and pair handsets (device keys from
``fixture_keys``), self-check two cards (``pool verify`` on the simulated card), run
checkout attestations through the device agent against the app served over HTTP (so the
device endpoints count their rate limits), and check two handsets out at the desk, one
of them back in. It then writes into the output directory:

- ``sqlite.dump``: the SQLite database as SQL text (``sqlite3``'s ``iterdump``: statements like
  the shell's ``.dump``);
- ``postgresql.dump``: ``pg_dump --no-owner --no-privileges``, plain SQL (with ``COPY``
  blocks and, from recent minor releases such as 15.18, ``\\restrict`` lines: load it
  with ``psql``);
- ``manifest.json``: what the databases hold, as the release's own JSON views show it
  (cards, handsets, pairings, operators, attestations, checkouts, the audit chain's
  head), for the test to compare with what the current code reads back.

The block marked RELEASE API below names the release's modules; a release that moved
them needs that block (only) brought up to date.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

# Beside this script, run as one: cryptography only, so it imports beside any release.
import fixture_keys
from sqlalchemy import func, select, text
from werkzeug.serving import make_server

from attest import devicekey
from attest.aka.milenage import Milenage
from attest.aka.sqn import join_sqn
from hw.cardfile import CardFile, load_card_file

# --- RELEASE API: the released version's names (0.1.0's) --------------------------------
from server.agent import run_checkout
from server.app import create_app
from server.attestation import count_alerts, get_attestation
from server.audit import verify_chain
from server.batchgen import SynthCard, vendor_out_text
from server.checkout import get_checkout, return_checkout, start_checkout
from server.client import ServiceClient
from server.context import Service
from server.datadir import DB_FILE
from server.operators import TOKEN_PREFIX, create_token, list_operators
from server.poolverify import verify_card
from server.provisioning import import_batch
from server.registry import (
    add_handset,
    card_json,
    handset_json,
    list_cards,
    list_handsets,
    pair,
    pairing_history,
    pairing_json,
    unpair,
)
from server.roles import ROLES
from server.store.models_attestation import Attestation, RateCounter

# ------------------------------------------------------------------------------------------
from tests.fixtures_db import PG_BIN, PostgresServer

ACTOR = "make_release_fixture"
# The release's checkout, whose example cards the scenario uses.
RELEASE_TREE = Path(sys.modules["server"].__file__ or "").resolve().parent.parent
EXAMPLES = RELEASE_TREE / "card_profiles" / "examples"
# Pooled cards: paired with the handset their card file names, except the spare.
POOLED = ["ps-001.yaml", "ps-002.yaml", "ps-003.yaml"]
SPARE = "ps-pcscf.yaml"
# Not in the pool: put into a pooled handset (a swapped SIM) and into an unknown one.
COMMERCIAL = "commercial-001.yaml"
# The SQN_MS of the third pooled card's copy that is ahead of the service (IND 31).
AHEAD_SQN_MS = join_sqn(9000, 31)
# The vendor's transport key for this fixture's batch file (TEST-ONLY, like its cards).
TRANSPORT_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


def _card_file(name: str) -> CardFile:
    return load_card_file(EXAMPLES / name)


def _reader(name: str) -> str:
    return f"sim:{EXAMPLES / name}"


def _vendor_batch(cards: list[CardFile]) -> str:
    # OPc from the algorithm: a card file may give OP instead (TS 35.206 clause 4.1).
    return vendor_out_text([SynthCard(c.iccid, c.imsi, c.ki,
                                      Milenage(c.ki, opc=c.opc, op=c.op).opc) for c in cards],
                           TRANSPORT_KEY)


def _ahead(name: str) -> str:
    """The card file with SQN_MS set to ``AHEAD_SQN_MS``."""
    text = (EXAMPLES / name).read_text().replace("sqn_ms:", "# sqn_ms:")
    return text + f'sqn_ms: "{AHEAD_SQN_MS.hex()}"\n'


@contextmanager
def _served(svc: Service) -> Iterator[ServiceClient]:
    """The release's app over real HTTP on loopback, and a client for it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, create_app(svc), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ServiceClient(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join()


def _create_tokens(svc: Service, release: str) -> None:
    """One operator per role, through the release's ``create_token``, each handed the
    token ``fixture_keys`` derives instead of a random one."""
    assert TOKEN_PREFIX == fixture_keys.TOKEN_PREFIX
    for role in ROLES:
        derived = fixture_keys.operator_token(release, role)
        with mock.patch("secrets.token_urlsafe", return_value=derived[len(TOKEN_PREFIX):]):
            assert create_token(svc, role, f"fixture {role}", actor=ACTOR) == derived


def populate(svc: Service, release: str, signers: dict[str, devicekey.DeviceSigner],
             work: Path) -> dict[str, Any]:
    """Run the scenario on ``svc``; what it made that the manifest names (ids)."""
    _create_tokens(svc, release)
    pooled = [_card_file(name) for name in [*POOLED, SPARE]]
    report = import_batch(svc, _vendor_batch(pooled), "fixture-batch.out",
                          transport_key=TRANSPORT_KEY, actor=ACTOR)
    assert report.imported == len(pooled), report.to_json()
    for card in pooled:
        assert card.imei is not None
        add_handset(svc, card.imei, signers[card.imei].public_pem().decode(),
                             actor=ACTOR, label=f"unit {card.iccid[-4:-1]}")
        pair(svc, card.imei, card.iccid, actor=ACTOR)
    spare = _card_file(SPARE)
    assert spare.imei is not None
    unpair(svc, spare.imei, actor=ACTOR)  # a pairing that ended: history
    for name in POOLED[:2]:
        outcome = verify_card(svc, _reader(name), actor=ACTOR)
        assert outcome.state == "verified", outcome.to_json()

    first, second, third = (_card_file(name) for name in POOLED)
    commercial = _card_file(COMMERCIAL)
    # The third card has accepted a SQN far ahead of the service's (as in the release's
    # test_agent): its first answer is a synchronisation failure, then a resync.
    ahead = work / f"ahead-{POOLED[2]}"
    ahead.write_text(_ahead(POOLED[2]))
    attestations: dict[str, str] = {}
    with _served(svc) as client:
        def attest(case: str, reader: str, imei: str | None) -> str:
            assert imei is not None
            signer = signers.get(imei) or devicekey.generate()  # unknown: a key of its own
            verdict = run_checkout(client, reader, signer, imei=imei)
            attestations[case] = verdict.attestation_id
            if verdict.resyncs:
                with svc.db.read_session() as session:
                    attestations[f"{case}-resync"] = session.scalars(
                        select(Attestation.id)
                        .where(Attestation.resync_id == verdict.attestation_id)).one()
            return verdict.status

        assert attest("genuine", _reader(POOLED[0]), first.imei) == "affirming"
        assert attest("genuine-2", _reader(POOLED[1]), second.imei) == "affirming"
        assert attest("genuine-3", f"sim:{ahead}", third.imei) == "affirming"
        assert "genuine-3-resync" in attestations
        assert attest("sim-swapped", _reader(COMMERCIAL), first.imei) == "contraindicated"
        assert attest("unknown-handset", _reader(COMMERCIAL), commercial.imei) \
            == "contraindicated"
        pending = client.post("/v1/attestations", {"imei": third.imei})
        attestations["pending"] = pending["id"]

    returned = start_checkout(svc, attestations["genuine"], "officer 0001", ACTOR)
    return_checkout(svc, returned.id, ACTOR)
    active = start_checkout(svc, attestations["genuine-2"], "officer 0002", ACTOR)
    return {"attestations": attestations,
            "checkouts": {"returned": returned.id, "active": active.id}}


def describe(svc: Service, made: dict[str, Any]) -> dict[str, Any]:
    """The database as the release's own views show it."""
    with svc.db.read_session() as session:
        revision = session.scalar(text("SELECT version_num FROM alembic_version"))
        rate_counters = session.scalar(select(func.count()).select_from(RateCounter))
    handsets = list_handsets(svc, limit=100).items
    chain = verify_chain(svc)
    assert chain.ok, chain.to_json()
    return {
        "alembic_revision": revision,
        "operators": [o.to_json() for o in list_operators(svc)],
        "cards": [card_json(c) for c in list_cards(svc, limit=100).items],
        "handsets": [handset_json(h) for h in handsets],
        "pairings": {h.imei: [pairing_json(p)
                              for p in pairing_history(svc, h.imei)]
                     for h in handsets},
        "attestations": {case: _attestation_json(svc, att_id)
                         for case, att_id in made["attestations"].items()},
        "alerts": count_alerts(svc),
        "checkouts": {case: get_checkout(svc, checkout_id).to_json()
                      for case, checkout_id in made["checkouts"].items()},
        "rate_counters": rate_counters,
        "audit": chain.to_json(),
        "ear_kid": svc.signer.kid,
    }


def _attestation_json(svc: Service, attestation_id: str) -> dict[str, Any]:
    view = get_attestation(svc, attestation_id).to_json()
    # What the view shows of the evidence is display policy, which releases change.
    del view["evidence"]
    return view


def _dump_sqlite(db_file: Path, out: Path) -> None:
    conn = sqlite3.connect(db_file)
    try:
        out.write_text("\n".join(conn.iterdump()) + "\n")
    finally:
        conn.close()


def _dump_postgresql(server: PostgresServer, database: str, out: Path) -> None:
    subprocess.run([str(PG_BIN / "pg_dump"), "--no-owner", "--no-privileges",
                    "--file", str(out), server.dsn(database)], check=True)


def _release_commit(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def make_fixture(release: str, out: Path) -> None:
    signers = {c.imei: devicekey.load_private_key(fixture_keys.device_key_pem(release, c.imei))
               for c in (_card_file(n) for n in [*POOLED, SPARE]) if c.imei is not None}
    work = Path(tempfile.mkdtemp(prefix="simattest-release-"))
    data, made_dir = work / "data", work / "fixture"
    made_dir.mkdir()
    pg = PostgresServer.create()
    try:
        pg.start()
        pg_database = pg.create_database()
        databases: dict[str, Any] = {}
        # One data directory (so one KEK and EAR key) for both databases.
        fixture_keys.write_data_dir_keys(release, data)
        for dialect, url in (("sqlite", None), ("postgresql", pg.url(pg_database))):
            with Service.open(data, url) as svc:
                made = populate(svc, release, signers, work)
                databases[dialect] = {"dump": f"{dialect}.dump", **describe(svc, made)}
        _dump_sqlite(data / DB_FILE, made_dir / "sqlite.dump")
        _dump_postgresql(pg, pg_database, made_dir / "postgresql.dump")
        manifest = {
            "release": release,
            "commit": _release_commit(RELEASE_TREE),
            "operator_roles": list(ROLES),
            "card_files": {_card_file(n).iccid: str((EXAMPLES / n).relative_to(RELEASE_TREE))
                           for n in [*POOLED, SPARE, COMMERCIAL]},
            "card_sqn_ms": {_card_file(POOLED[2]).iccid: AHEAD_SQN_MS.hex()},
            "databases": databases,
        }
        (made_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(made_dir, out)  # whole, or not at all
    finally:
        pg.destroy()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", help="the release's version, e.g. 0.1.0")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: beside this script, named for the "
                             "release); must not exist")
    args = parser.parse_args()
    out = args.out or Path(__file__).resolve().parent / args.release
    if out.exists():
        parser.error(f"{out} exists; a release's fixture is made once")
    make_fixture(args.release, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
