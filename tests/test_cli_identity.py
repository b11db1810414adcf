"""One database identity through ``simattest`` itself: the data directory and the
database carry the same service id; a command that finds them disagreeing, or that would
make a new SQLite database beside a PostgreSQL-backed service's keys, refuses in one line
naming both and changes nothing; ``simattest status`` says what a command uses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from server.cli.main import main
from server.core.service import Service
from server.demo.batchgen import csv_text, synth_cards
from server.pool.provisioning import import_batch
from tests.cli_errors import one_line_refusal
from tests.fixtures_db import PostgresServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SIMATTEST_CONFIG", "SIMATTEST_DATA", "SIMATTEST_DB", "SIMATTEST_KEK_FILE",
                 "SIMATTEST_KEK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def other_pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


def _bootstrap(data: Path, db: str | None) -> None:
    assert main(["admin", "token", "create", "--role", "admin", "--data", str(data),
                 *(["--db", db] if db else [])]) == 0


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _stored_id(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(text(
                "SELECT value FROM service_meta WHERE name = 'service_id'")).decode())
    finally:
        engine.dispose()



def test_no_silent_second_database_beside_a_postgresql_service(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "srv"
    _bootstrap(data, pg_url)
    capsys.readouterr()
    before = _snapshot(data)
    # A new shell without SIMATTEST_DB: the "Why" 1.
    for argv in (["admin", "token", "create", "--role", "admin"], ["audit", "verify"],
                 ["admin", "token", "list"], ["status"]):
        err = one_line_refusal([*argv, "--data", str(data)], capsys)
        assert str(data) in err and pg_url in err and "SQLite" in err
    assert _snapshot(data) == before and not (data / "simattest.db").exists()


def test_a_database_of_another_service_is_refused(
        tmp_path: Path, pg_url: str, other_pg_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    _bootstrap(tmp_path / "a", pg_url)
    _bootstrap(tmp_path / "b", other_pg_url)
    capsys.readouterr()
    before = _snapshot(tmp_path / "a")
    err = one_line_refusal(["audit", "verify", "--data", str(tmp_path / "a"), "--db", other_pg_url],
                   capsys)
    assert f"data directory {tmp_path / 'a'}" in err and other_pg_url in err
    assert _stored_id(pg_url) in err and _stored_id(other_pg_url) in err
    assert _snapshot(tmp_path / "a") == before


def test_a_data_directory_of_another_service_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bootstrap(tmp_path / "a", None)
    _bootstrap(tmp_path / "b", None)
    capsys.readouterr()
    b_db = f"sqlite:///{tmp_path / 'b' / 'simattest.db'}"
    before = _snapshot(tmp_path / "a")
    err = one_line_refusal(["admin", "token", "create", "--role", "admin",
                    "--data", str(tmp_path / "a"), "--db", b_db], capsys)
    assert str(tmp_path / "a") in err and str(tmp_path / "b" / "simattest.db") in err
    assert _stored_id(b_db) in err
    assert _snapshot(tmp_path / "a") == before


def test_a_new_empty_database_is_not_adopted_by_a_bootstrapped_data_directory(
        tmp_path: Path, pg_url: str, other_pg_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    _bootstrap(tmp_path / "a", pg_url)
    capsys.readouterr()
    err = one_line_refusal(["admin", "token", "create", "--role", "admin",
                    "--data", str(tmp_path / "a"), "--db", other_pg_url], capsys)
    assert "no service identity" in err and other_pg_url in err


def test_status_says_which_storage_and_what_it_holds(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "srv"
    _bootstrap(data, pg_url)
    with Service.open(data, pg_url, create=False) as svc:
        import_batch(svc, csv_text(synth_cards(3)), "a.csv", actor="t")
    capsys.readouterr()
    assert main(["status", "--data", str(data), "--db", pg_url, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    identity = json.loads((data / "service-identity.json").read_text())
    assert shown["database_kind"] == "postgresql" and shown["database"] == pg_url
    assert shown["service_id"] == identity["service_id"] == _stored_id(pg_url)
    assert shown["schema_version"]
    assert (shown["cards"], shown["handsets"], shown["open_checkouts"]) == (3, 0, 0)
    assert shown["key_files"] == [
        {"name": "key-encryption key", "location": str(data / "kek.key"), "mode": "0600",
         "found": True},
        {"name": "EAR signing key", "location": str(data / "ear-signing-key.pem"),
         "mode": "0600", "found": True}]
    assert main(["status", "--data", str(data), "--db", pg_url]) == 0
    assert "postgresql" in capsys.readouterr().out


def test_status_with_the_url_password_in_a_file_never_shows_it(
        tmp_path: Path, postgres_server: PostgresServer, pg_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    _bootstrap(tmp_path / "srv", pg_url)
    (tmp_path / "pw").write_text("not-shown-secret\n")
    os.chmod(tmp_path / "pw", 0o600)
    (tmp_path / "simattest.toml").write_text(
        f'data_dir = "{tmp_path / "srv"}"\n[database]\nurl = "{pg_url}"\n'
        f'password_file = "{tmp_path / "pw"}"\n')
    capsys.readouterr()
    # The test server trusts local connections, so the password is carried, not checked.
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "not-shown-secret" not in out and "***" in out
