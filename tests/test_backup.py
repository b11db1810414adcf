"""``simattest backup`` and ``simattest restore`` through the command line, on SQLite and
on the tests' PostgreSQL: the restored service holds the cards with their keys, its
audit log verifies with the head of the backed-up one, and a non-empty target is
refused without anything written."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from server.cli.main import main
from server.core import operators
from server.core.backup import libpq_url
from server.core.service import Service
from server.demo.batchgen import SynthCard, synth_cards, vendor_out_text
from server.pool.provisioning import import_batch
from server.store.db import Database
from server.store.models import Card
from tests.fixtures_db import PostgresServer

SIMATTEST = Path(sys.executable).parent / "simattest"


@dataclass
class Storage:
    """A service's storage: a data directory and, for PostgreSQL, a database URL."""

    data: Path
    url: str | None

    @property
    def args(self) -> list[str]:
        return ["--data", str(self.data)] + ([] if self.url is None else ["--db", self.url])


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIMATTEST_DATA", "SIMATTEST_DB", "SIMATTEST_KEK", "SIMATTEST_KEK_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[
        tuple[Storage, Storage]]:
    """(the service's storage, an empty one to restore into)."""
    if request.param == "sqlite":
        yield Storage(tmp_path / "data", None), Storage(tmp_path / "restored", None)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    names = [server.create_database(), server.create_database()]
    try:
        yield (Storage(tmp_path / "data", server.url(names[0])),
               Storage(tmp_path / "restored", server.url(names[1])))
    finally:
        for name in names:
            server.drop_database(name)


def populate(storage: Storage) -> list[SynthCard]:
    cards = synth_cards(3, iccid_prefix="8949447777")
    with Service.open(storage.data, storage.url) as svc:
        operators.create_token(svc, "admin", "backup test")
        import_batch(svc, vendor_out_text(cards), "batch.out", actor="test")
    return cards


def audit_head(storage: Storage, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["audit", "verify", "--json", *storage.args]) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def test_backup_and_restore(new_storage: tuple[Storage, Storage], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    source, target = new_storage
    cards = populate(source)
    before = audit_head(source, capsys)
    out = tmp_path / "backup"
    assert main(["backup", "--out", str(out), *source.args]) == 0
    capsys.readouterr()
    # changes after the backup are not in it
    with Service.open(source.data, source.url) as svc:
        operators.create_token(svc, "admin", "after the backup")

    # the keys apart from the database, as the backup keeps them
    assert sorted(p.name for p in (out / "keys").iterdir()) == ["ear-signing-key.pem",
                                                                 "kek.key"]
    assert {oct(p.stat().st_mode & 0o777) for p in (out / "keys").iterdir()} == {"0o600"}
    source_identity = json.loads((source.data / "service-identity.json").read_text())
    assert json.loads((out / "database" / "service-identity.json").read_text()) == \
        source_identity
    assert main(["restore", "--from", str(out), *target.args]) == 0
    capsys.readouterr()
    # the same service, now on the database restored into
    restored_identity = json.loads((target.data / "service-identity.json").read_text())
    assert restored_identity["service_id"] == source_identity["service_id"]
    assert restored_identity["database"] == (
        f"sqlite:///{(target.data / 'simattest.db').resolve()}" if target.url is None
        else make_url(target.url).render_as_string(hide_password=True))
    assert oct(target.data.stat().st_mode & 0o777) == "0o700"
    assert {oct(p.stat().st_mode & 0o777) for p in target.data.iterdir()} == {"0o600"}
    assert audit_head(target, capsys) == before
    with Service.open(target.data, target.url, create=False) as svc, \
            svc.db.read_session() as session:
        stored = {c.iccid: c for c in session.scalars(select(Card))}
        assert sorted(stored) == sorted(c.iccid for c in cards)
        for card in cards:
            assert svc.decrypt_secret(card.iccid, stored[card.iccid].k_enc) == card.k


def test_backup_and_restore_as_the_service_user(
        new_storage: tuple[Storage, Storage], capsys: pytest.CaptureFixture[str]) -> None:
    # The service's own user (here the postgres account, the one non-root user every test
    # machine has) backs up a data directory it owns and restores it into a new one.
    source, target = new_storage
    user = pwd.getpwnam("postgres")
    base = Path(tempfile.mkdtemp(prefix="simattest-service-user-"))
    try:
        moved = [Storage(base / "data", source.url), Storage(base / "restored", target.url)]
        populate(moved[0])
        before = audit_head(moved[0], capsys)
        for path in (base, *moved[0].data.rglob("*"), moved[0].data):
            os.chown(path, user.pw_uid, user.pw_gid)

        def as_user(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["runuser", "-u", "postgres", "--", str(SIMATTEST), *argv],
                                  cwd=base, capture_output=True, text=True, timeout=120,
                                  check=False)

        done = as_user("backup", "--out", str(base / "backup"), *moved[0].args)
        assert done.returncode == 0, done.stderr
        assert {p.stat().st_uid for p in (base / "backup").rglob("*")} == {user.pw_uid}
        done = as_user("restore", "--from", str(base / "backup"), *moved[1].args)
        assert done.returncode == 0, done.stderr
        done = as_user("audit", "verify", "--json", *moved[1].args)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == before
        assert moved[1].data.stat().st_uid == user.pw_uid
    finally:
        shutil.rmtree(base)


def test_restore_refuses_a_backup_whose_identity_is_not_its_database_s(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = Storage(tmp_path / "data", None)
    populate(source)
    out = tmp_path / "backup"
    assert main(["backup", "--out", str(out), *source.args]) == 0
    file = out / "database" / "service-identity.json"
    file.write_text(json.dumps({"service_id": "0" * 32, "database": "sqlite:///elsewhere"}))
    capsys.readouterr()
    target = tmp_path / "restored"
    assert main(["restore", "--from", str(out), "--data", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"belongs to service {'0' * 32}" in err
    assert "refusing to mix them" in err
    assert not target.exists()


def test_backup_refuses_a_directory_that_is_not_empty(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = Storage(tmp_path / "data", None)
    populate(source)
    out = tmp_path / "backup"
    out.mkdir()
    (out / "notes.txt").write_text("earlier things")
    assert main(["backup", "--out", str(out), *source.args]) == 2
    err = capsys.readouterr().err
    assert err == (f"simattest: --out {out}: exists and is not empty; give a new or empty "
                   "directory\n")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_restore_refuses_a_data_directory_that_is_not_empty(
        new_storage: tuple[Storage, Storage], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    source, target = new_storage
    populate(source)
    out = tmp_path / "backup"
    assert main(["backup", "--out", str(out), *source.args]) == 0
    target.data.mkdir()
    (target.data / "kek.key").write_text("someone else's")
    capsys.readouterr()
    assert main(["restore", "--from", str(out), *target.args]) == 2
    assert capsys.readouterr().err == (
        f"simattest: --data {target.data}: exists and is not empty; give a new or empty "
        "directory\n")
    assert [p.name for p in target.data.iterdir()] == ["kek.key"]
    if target.url is not None:
        assert _tables(target.url) == []


def test_restore_refuses_a_database_that_is_not_empty(
        postgres_server: PostgresServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    names = [postgres_server.create_database(), postgres_server.create_database()]
    try:
        source = Storage(tmp_path / "data", postgres_server.url(names[0]))
        populate(source)
        out = tmp_path / "backup"
        assert main(["backup", "--out", str(out), *source.args]) == 0
        capsys.readouterr()
        used = Storage(tmp_path / "other", postgres_server.url(names[1]))
        populate(used)
        tables = _tables(postgres_server.url(names[1]))
        restored = tmp_path / "restored"
        assert main(["restore", "--from", str(out), "--data", str(restored),
                     "--db", postgres_server.url(names[1])]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"simattest: --db {postgres_server.url(names[1])}: holds ")
        assert err.endswith(" tables; restore into an empty database\n")
        assert not restored.exists()
        assert _tables(postgres_server.url(names[1])) == tables
    finally:
        for name in names:
            postgres_server.drop_database(name)


def test_restore_with_keys_kept_elsewhere_and_a_wrong_key_leaves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = Storage(tmp_path / "data #1?", None)  # characters a file: URI must escape
    populate(source)
    out, keys = tmp_path / "backup", tmp_path / "offsite-keys"
    assert main(["backup", "--out", str(out), "--keys-out", str(keys), *source.args]) == 0
    assert not (out / "keys").exists()
    assert main(["restore", "--from", str(out), "--data", str(tmp_path / "r")]) == 2
    assert "backup keys missing" in capsys.readouterr().err

    # another service's keys: the restore is refused and leaves no data directory
    other = Storage(tmp_path / "other", None)
    populate(other)
    assert main(["backup", "--out", str(tmp_path / "other-backup"), *other.args]) == 0
    capsys.readouterr()
    assert main(["restore", "--from", str(out), "--keys-from",
                 str(tmp_path / "other-backup" / "keys"), "--data", str(tmp_path / "r")]) == 2
    assert "key-encryption key does not match" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

    assert main(["restore", "--from", str(out), "--keys-from", str(keys),
                 "--data", str(tmp_path / "r")]) == 0


def test_libpq_url_from_the_service_url() -> None:
    uri, env = libpq_url(make_url(
        "postgresql+psycopg://simattest:s3cret@db.example.org:5433/simattest?connect_timeout=3"))
    assert uri == "postgresql://simattest@db.example.org:5433/simattest?connect_timeout=3"
    assert env["PGPASSWORD"] == "s3cret"


def _tables(url: str) -> list[str]:
    db = Database(url)
    try:
        return sorted(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
