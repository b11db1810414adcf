"""Service start-up on both databases: data directory, keys, migrations, refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from server.core.config import ServiceConfig, StartupError
from server.core.datadir import DB_FILE, KEK_FILE, SIGNING_KEY_FILE
from server.core.service import KEK_ENV, Service
from server.demo.batchgen import csv_text, synth_cards
from server.pool.provisioning import import_batch
from server.store.models import Base

FOUNDATION_TABLES = {"service_meta", "operators", "cards", "handsets", "pairings",
                     "audit_entries", "audit_head"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_private_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    with Service.open(data):
        pass
    assert _mode(data) == 0o700
    for name in (KEK_FILE, SIGNING_KEY_FILE, DB_FILE):
        assert _mode(data / name) == 0o600, name
    assert len(bytes.fromhex((data / KEK_FILE).read_text())) == 32
    assert (data / SIGNING_KEY_FILE).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_restart_keeps_keys_and_signing_kid(service: Service, db_url: str) -> None:
    kek_before = service.data_dir.kek_path.read_bytes()
    kid = service.signer.kid
    service.close()
    with Service.open(service.data_dir.path, db_url) as again:
        assert again.signer.kid == kid
    assert service.data_dir.kek_path.read_bytes() == kek_before
    # The data directory holds a SQLite file only when that is the database: here the
    # database is elsewhere (a PostgreSQL server, or a SQLite file outside it).
    assert not (service.data_dir.path / DB_FILE).exists()


def test_schema_matches_models(service: Service) -> None:
    """The Alembic migration builds exactly the foundation's models (both databases)."""
    mine = MetaData()
    for name in FOUNDATION_TABLES:
        Base.metadata.tables[name].to_metadata(mine)

    def include(name: str | None, type_: str, _parent: object) -> bool:
        return type_ != "table" or name in FOUNDATION_TABLES

    with service.db.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= FOUNDATION_TABLES
        context = MigrationContext.configure(conn, opts={"include_name": include})
        assert compare_metadata(context, mine) == []


def test_wrong_kek_refuses_to_start(service: Service, db_url: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import_batch(service, csv_text(synth_cards(2)), "b.csv", actor="test")
    service.close()
    monkeypatch.setenv(KEK_ENV, "11" * 32)
    with pytest.raises(StartupError, match="does not match"):
        Service.open(service.data_dir.path, db_url)


def test_missing_kek_with_cards_refuses_and_creates_nothing(service: Service,
                                                            db_url: str) -> None:
    import_batch(service, csv_text(synth_cards(2)), "b.csv", actor="test")
    service.close()
    service.data_dir.kek_path.unlink()
    with pytest.raises(StartupError, match="refusing to create a new key"):
        Service.open(service.data_dir.path, db_url)
    assert not service.data_dir.kek_path.exists()


def test_missing_signing_key_refuses(service: Service, db_url: str) -> None:
    service.close()
    service.data_dir.signing_key_path.unlink()
    with pytest.raises(StartupError, match="EAR signing key"):
        Service.open(service.data_dir.path, db_url)
    assert not service.data_dir.signing_key_path.exists()


def test_kek_from_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEK_ENV, "ab" * 32)
    with Service.open(tmp_path / "a") as svc:
        assert not (tmp_path / "a" / KEK_FILE).exists()
        blob = svc.keys.encrypt_secret("89494400000000000005", b"x" * 16)
    monkeypatch.delenv(KEK_ENV)
    keyfile = tmp_path / "kek.hex"
    keyfile.write_text("ab" * 32)
    keyfile.chmod(0o600)
    with Service.open(tmp_path / "a", config=ServiceConfig(kek_file=keyfile)) as svc:
        assert svc.keys.decrypt_secret("89494400000000000005", blob) == b"x" * 16


def test_malformed_kek_in_environment_is_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEK_ENV, "not-hex")
    with pytest.raises(Exception, match=f"{KEK_ENV}: key-encryption key must be 64 hex"):
        Service.open(tmp_path / "a")


def test_unreachable_database_is_a_startup_error(tmp_path: Path) -> None:
    from tests.fixtures_db import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    # The driver's reason reaches the operator (here: nothing listens on the port).
    with pytest.raises(StartupError, match=r"unreachable \(.*Connection refused"):
        Service.open(tmp_path / "d", url)


def test_secret_blob_is_bound_to_its_iccid(service: Service) -> None:
    blob = service.keys.encrypt_secret("89494400000000000005", b"k" * 16)
    assert b"k" * 16 not in blob
    with pytest.raises(Exception, match="does not decrypt"):
        service.keys.decrypt_secret("89494400000000000013", blob)
    assert "KEK hidden" in repr(service.keys)
