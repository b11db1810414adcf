"""A released version's databases upgrade to the current schema and read back intact.

Each directory under ``tests/data/releases/`` holds one release's SQLite and PostgreSQL
databases as SQL dumps, made by that release's own code
(``tests/data/releases/make_release_fixture.py``) with keys derived by
``tests/data/releases/fixture_keys.py``, and a manifest of what the release's views
showed. For each release and database this restores the dump into a fresh database,
opens the current ``Service`` on it (which upgrades the schema through Alembic, as every
start-up does) and reads everything back through the current code: the schema is the
current head and matches the models; cards, handsets, pairings, operators, attestations,
checkouts and the audit chain are what the release recorded; the cards' keys still
decrypt under the release's KEK and still match the simulated cards they were imported
from (``pool verify``); and a new checkout attestation runs on the upgraded database,
its SQN after the release's.

The PostgreSQL dump is loaded with ``psql``, the client it was written for: it holds
``COPY … FROM stdin`` data blocks and (pg_dump 15.18 writes them) ``\\restrict`` lines,
which are psql's own syntax and not SQL a driver could execute.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, inspect, select, text

from attest import ear
from attest.devicekey import DeviceSigner, load_private_key
from hw.transport.base import open_transport
from server.agent.checkout import answer_challenge, card_facts
from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.attestation.views import count_alerts, get_attestation
from server.checkout.desk import get_checkout
from server.core.audit import verify
from server.core.datadir import DB_FILE
from server.core.operators import authenticate, list_operators
from server.core.service import Service
from server.pool import registry
from server.pool.verify import VERIFIED, verify_card
from server.store.audit_chain import Checkpoint
from server.store.migrate import alembic_config
from server.store.models import (
    Base,
    Card,
    Checkout,
    CxSqn,
    Handset,
    ImsRegistration,
    McIdentity,
    McUser,
    RateCounter,
)
from tests.data.releases import fixture_keys
from tests.fixtures_attestation import signed_request
from tests.fixtures_db import PG_BIN, PostgresServer

REPO = Path(__file__).resolve().parent.parent
RELEASES = REPO / "tests" / "data" / "releases"
RELEASE_DIRS = sorted(p.parent for p in RELEASES.glob("*/manifest.json"))
DIALECTS = ("sqlite", "postgresql")


def test_the_previous_releases_are_here() -> None:
    # The tests below are parametrised by what this finds: none found, none would run.
    assert "0.1.0" in [d.name for d in RELEASE_DIRS]


@dataclass
class Upgraded:
    """A release's database, restored, then opened (so upgraded) by the current code."""

    release: Path
    dialect: str
    manifest: dict[str, Any]
    recorded: dict[str, Any]  # the manifest's section for this database
    revision_before: str | None  # the restored database's Alembic revision
    svc: Service

    def device_key(self, imei: str) -> DeviceSigner:
        return load_private_key(fixture_keys.device_key_pem(self.release.name, imei))

    def card_file(self, iccid: str) -> Path:
        return REPO / str(self.manifest["card_files"][iccid])


def _restore_sqlite(dump: Path, db_file: Path) -> None:
    conn = sqlite3.connect(db_file)
    try:
        conn.executescript(dump.read_text())
    finally:
        conn.close()


def _restore_postgresql(server: PostgresServer, dump: Path, database: str) -> None:
    done = subprocess.run(
        [str(PG_BIN / "psql"), "--no-psqlrc", "--quiet", "--single-transaction",
         "--set", "ON_ERROR_STOP=1", "--file", str(dump), server.dsn(database)],
        capture_output=True, text=True)
    assert done.returncode == 0, f"psql could not restore {dump.name}: {done.stderr}"


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def _restored(request: pytest.FixtureRequest, dialect: str, dump: Path, data: Path
              ) -> Iterator[str]:
    """``dump`` restored into a fresh database of ``dialect``; its URL."""
    if dialect == "sqlite":
        _restore_sqlite(dump, data / DB_FILE)
        yield f"sqlite:///{data / DB_FILE}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    database = server.create_database()
    try:
        _restore_postgresql(server, dump, database)
        yield server.url(database)
    finally:
        server.drop_database(database)


@pytest.fixture(params=[(r, d) for r in RELEASE_DIRS for d in DIALECTS],
                ids=[f"{r.name}-{d}" for r in RELEASE_DIRS for d in DIALECTS])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Upgraded]:
    release, dialect = request.param
    manifest = json.loads((release / "manifest.json").read_text())
    recorded = manifest["databases"][dialect]
    data = tmp_path / "data"  # the release's data directory: its keys, and SQLite file
    fixture_keys.write_data_dir_keys(release.name, data)
    with _restored(request, dialect, release / recorded["dump"], data) as url:
        before = _revision(url)
        with Service.open(data, url) as svc:  # upgrades, as every start-up does
            yield Upgraded(release, dialect, manifest, recorded, before, svc)


def _holds(current: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """``current`` restricted to what the release recorded (later releases may add
    members to a view; none may lose or change one)."""
    return {key: current.get(key, "<missing>") for key in recorded}


def test_schema_is_the_current_head_and_matches_the_models(upgraded: Upgraded) -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    with upgraded.svc.db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert set(context.get_current_heads()) == set(heads)
        assert compare_metadata(context, Base.metadata) == []
    assert upgraded.revision_before == upgraded.recorded["alembic_revision"]


def test_pool_and_operators_read_back(upgraded: Upgraded) -> None:
    svc, recorded = upgraded.svc, upgraded.recorded
    cards = registry.list_cards(svc, limit=100).items
    assert [_holds(registry.card_json(c), r)
            for c, r in zip(cards, recorded["cards"], strict=True)] == recorded["cards"]
    handsets = registry.list_handsets(svc, limit=100).items
    assert [_holds(registry.handset_json(h), r)
            for h, r in zip(handsets, recorded["handsets"], strict=True)] \
        == recorded["handsets"]
    # 0008_android_attestation: every handset of the release was registered with a bare
    # public key: a software key, with no attestation record
    assert {(registry.handset_json(h)["key_kind"], registry.handset_json(h)["attestation"])
            for h in handsets} == {("software", None)}
    assert registry.list_handsets(svc, key_kind="hardware", limit=100).total == 0
    pairings = {imei: [registry.pairing_json(p) for p in registry.pairing_history(svc, imei)]
                for imei in recorded["pairings"]}
    assert {imei: [_holds(p, r) for p, r in zip(pairings[imei], rec, strict=True)]
            for imei, rec in recorded["pairings"].items()} == recorded["pairings"]
    operators = [o.to_json() for o in list_operators(svc)]
    assert [_holds(o, r) for o, r in zip(operators, recorded["operators"], strict=True)] \
        == recorded["operators"]


def test_operator_tokens_still_authenticate(upgraded: Upgraded) -> None:
    roles = upgraded.manifest["operator_roles"]
    # Compared by role only: a failure must not print a token.
    authenticated = {role: getattr(authenticate(
        upgraded.svc, fixture_keys.operator_token(upgraded.release.name, role)), "role", None)
        for role in roles}
    assert authenticated == {role: role for role in roles}


def test_attestations_checkouts_and_counters_read_back(upgraded: Upgraded) -> None:
    svc, recorded = upgraded.svc, upgraded.recorded
    attestations = {case: _holds(get_attestation(svc, rec["id"]).to_json(), rec)
                    for case, rec in recorded["attestations"].items()}
    assert attestations == recorded["attestations"]
    # 0006_device_certificate: no attestation of the release came with a device
    # certificate (the release had no TLS of its own).
    assert {case: get_attestation(svc, rec["id"]).to_json()["device_certificate"]
            for case, rec in recorded["attestations"].items()} \
        == {case: None for case in recorded["attestations"]}
    assert count_alerts(svc) == recorded["alerts"]
    # 0005_alert_acknowledgements: every alert of the release starts unacknowledged
    assert count_alerts(svc, unacknowledged=True) == recorded["alerts"]
    assert all(get_attestation(svc, rec["id"]).acknowledgement is None
               for rec in recorded["attestations"].values())
    checkouts = {case: _holds(get_checkout(svc, rec["id"]).to_json(), rec)
                 for case, rec in recorded["checkouts"].items()}
    assert checkouts == recorded["checkouts"]
    with svc.db.read_session() as session:
        counters = session.scalar(select(func.count()).select_from(RateCounter))
    assert counters == recorded["rate_counters"]


def test_audit_chain_is_intact_up_to_the_release_head(upgraded: Upgraded) -> None:
    recorded = upgraded.recorded["audit"]
    report = verify(upgraded.svc, [Checkpoint.parse(recorded["head"])])
    assert _holds(report.to_json(), recorded) == recorded


def test_card_keys_still_work_and_a_new_attestation_runs(upgraded: Upgraded,
                                                          tmp_path: Path) -> None:
    svc, recorded = upgraded.svc, upgraded.recorded
    # pool verify: each card's K/OPc, decrypted under the release's KEK, answers as the
    # simulated card made from the card file the release imported it from.
    pooled = [card["iccid"] for card in recorded["cards"]]
    outcomes = [verify_card(svc, f"sim:{upgraded.card_file(iccid)}", actor="test")
                for iccid in pooled]
    assert [(o.iccid, o.state) for o in outcomes] == [(iccid, VERIFIED) for iccid in pooled]

    # A checkout attestation on the handset whose card the release resynchronised, with
    # that card as the release left it: its SQN_MS far ahead of the card file's.  Had the
    # upgrade lost the release's SQN state, the card would answer a synchronisation
    # failure (status "resync") instead.
    attested = recorded["attestations"]["genuine-3"]
    imei, iccid = attested["imei"], attested["iccid"]
    card = tmp_path / "card-ahead.yaml"
    card.write_text(upgraded.card_file(iccid).read_text().replace("sqn_ms:", "# sqn_ms:")
                    + f'sqn_ms: "{upgraded.manifest["card_sqn_ms"][iccid]}"\n')
    with open_transport(f"sim:{card}") as transport:
        challenge = create_challenge(svc, signed_request(upgraded.device_key(imei), imei),
                                     "127.0.0.1")
        body = answer_challenge(transport, upgraded.device_key(imei), imei, None,
                                card_facts(transport, None), challenge.to_json())
    outcome = submit_evidence(svc, challenge.id, body["evidence"], body["signature"],
                              "127.0.0.1")
    assert (outcome.status, outcome.reasons) == ("affirming", [])
    # Signed with the release's EAR key, verifiable from the service's JWKS.
    assert outcome.ear is not None
    assert jwt.get_unverified_header(outcome.ear)["kid"] == recorded["ear_kid"]
    assert ear.verify(outcome.ear, svc.signer.jwks())["simattest_reasons"] == []
    # The audit chain carries on from the release's head.
    report = verify(svc, [Checkpoint.parse(recorded["audit"]["head"])])
    assert report.ok and report.entries > recorded["audit"]["entries"]


def test_a_release_service_gets_one_identity_at_its_first_start(upgraded: Upgraded) -> None:
    """The release wrote no identity: the first start writes the same one into the data
    directory and the database, so later commands can tell them from another service's."""
    identity = json.loads((upgraded.svc.data_dir.path / "service-identity.json").read_text())
    with upgraded.svc.db.engine.connect() as conn:
        stored = conn.scalar(text("SELECT value FROM service_meta WHERE name = 'service_id'"))
    assert len(identity["service_id"]) == 32 and stored == identity["service_id"].encode()
    assert identity["database"] == upgraded.svc.db.engine.url.render_as_string()


def test_identity_management_starts_empty_and_keeps_the_checkout_indexes(
        upgraded: Upgraded) -> None:
    """0007_idms_users: no handset of the release is reported lost, no checkout names an
    MC user, the directory and the mappings are empty — and the rebuilt ``checkouts``
    (SQLite's batch mode) still holds one active checkout per handset."""
    svc = upgraded.svc
    with svc.db.read_session() as session:
        assert session.scalars(select(Handset.lost_at)).all() \
            == [None] * len(upgraded.recorded["handsets"])
        assert set(session.scalars(select(Checkout.mc_user_id)).all()) <= {None}
        assert session.scalar(select(func.count()).select_from(McUser)) == 0
        assert session.scalar(select(func.count()).select_from(McIdentity)) == 0
    indexes = {ix["name"]: ix for ix in inspect(svc.db.engine).get_indexes("checkouts")}
    assert indexes["uq_checkouts_active_handset"]["unique"]
    active = indexes["uq_checkouts_active_handset"]["dialect_options"]
    assert "returned_at IS NULL" in str(active.get(f"{upgraded.dialect}_where"))


def test_the_cx_peer_starts_with_no_sqn_and_no_registration(upgraded: Upgraded) -> None:
    """0010_ims_cx: no card has a Cx SEQ until its first MAR, no IMPU is registered; the
    Cx SEQ of a release card then starts in its own row, leaving the card's attestation
    SEQ where the release left it."""
    from server.ims.vectors import reserve

    svc = upgraded.svc
    with svc.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CxSqn)) == 0
        assert session.scalar(select(func.count()).select_from(ImsRegistration)) == 0
        card = session.scalars(select(Card)).first()
        assert card is not None
        card_id, attestation_seq = card.id, card.sqn_seq
    with svc.db.session() as session:
        assert list(reserve(session, {card_id: (2, 0)})[card_id]) == [1, 2]
    with svc.db.read_session() as session:
        assert session.get_one(Card, card_id).sqn_seq == attestation_seq
