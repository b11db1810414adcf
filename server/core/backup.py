"""Backups and restores of the service's storage: the database and the two key files.

A backup directory holds ``database/`` — ``simattest.db`` (SQLite, copied with SQLite's
online backup API, so it is consistent while the service writes) or ``simattest.dump``
(PostgreSQL, ``pg_dump -Fc``) and the data directory's ``service-identity.json`` — and
``keys/`` with ``kek.key`` and ``ear-signing-key.pem``, which may be written elsewhere
(``keys_out``): a database copy alone reveals no card key, so the two are kept apart.
A restore puts the identity back (naming the database restored into), so the restored
data directory and database are checked against the identity the backup was made of.

Both refuse a target that is not empty and remove what they wrote when they fail, so a
failed run leaves no half-written backup or data directory behind.  The keys are taken
from the open service, which has checked them against the database: a backup never pairs
a database with keys it was not written with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url

from attest.errors import InputError
from attest.textfile import os_reason
from server.core import identity
from server.core.config import ServiceConfig
from server.core.datadir import (
    DB_FILE,
    KEK_FILE,
    SIGNING_KEY_FILE,
    DataDir,
    encode_kek,
    write_secret_file,
)
from server.core.keystore import KeyStore
from server.core.service import Service, configured_kek
from server.store.db import Database

DATABASE_DIR = "database"
KEYS_DIR = "keys"
DUMP_FILE = "simattest.dump"


@dataclass(frozen=True)
class BackupReport:
    kind: str  # "sqlite" or "postgresql"
    database: Path
    keys: Path


def backup(svc: Service, out: Path, keys_out: Path | None = None) -> BackupReport:
    """Copy ``svc``'s database to ``out/database`` and its keys to ``keys_out`` (default
    ``out/keys``); both must be missing or empty directories."""
    keys_dir = keys_out if keys_out is not None else out / KEYS_DIR
    kek = configured_kek(svc.data_dir, svc.config)
    if kek is None or not svc.keys.matches(KeyStore(kek).check_value):
        raise InputError("the key-encryption key changed while the backup started (a "
                         "rotation?); run the backup again")
    with _new_dir(out, "--out"), _new_dir(keys_dir, "--keys-out"):
        db_dir = out / DATABASE_DIR
        db_dir.mkdir(mode=0o700)
        if svc.db.dialect == "sqlite":
            database = db_dir / DB_FILE
            _sqlite_copy(Path(str(svc.db.engine.url.database)), database)
        else:
            database = db_dir / DUMP_FILE
            _pg("pg_dump", svc.db.engine.url, "--format=custom", f"--file={database}")
        shutil.copyfile(svc.data_dir.path / identity.IDENTITY_FILE,
                        db_dir / identity.IDENTITY_FILE)
        keys_dir.mkdir(mode=0o700, exist_ok=True)
        write_secret_file(keys_dir / KEK_FILE, encode_kek(kek))
        write_secret_file(keys_dir / SIGNING_KEY_FILE, svc.data_dir.signing_key_path.read_bytes())
    return BackupReport("sqlite" if svc.db.dialect == "sqlite" else "postgresql",
                        database, keys_dir)


def restore(source: Path, data: Path, db_url: str | None, config: ServiceConfig,
            keys_from: Path | None = None) -> BackupReport:
    """Restore a backup made by ``backup`` into the new data directory ``data`` (and, for
    a PostgreSQL backup, the empty database ``db_url``), then open the service on it,
    which checks that keys and database belong together."""
    keys_dir = keys_from if keys_from is not None else source / KEYS_DIR
    sqlite_copy, dump = source / DATABASE_DIR / DB_FILE, source / DATABASE_DIR / DUMP_FILE
    if not (sqlite_copy.is_file() or dump.is_file()):
        raise InputError(f"--from {source}: no {DATABASE_DIR}/{DB_FILE} or "
                         f"{DATABASE_DIR}/{DUMP_FILE} (not a simattest backup?)")
    if dump.is_file() and db_url is None:
        raise InputError(f"--from {source}: a PostgreSQL backup; give --db URL of an empty "
                         "database to restore it into")
    if sqlite_copy.is_file() and db_url is not None:
        raise InputError(f"--from {source}: a SQLite backup; restore it without --db")
    key_files = [keys_dir / KEK_FILE, keys_dir / SIGNING_KEY_FILE]
    missing = [str(path) for path in key_files if not path.is_file()]
    if missing:
        raise InputError(f"backup keys missing: {', '.join(missing)} (give --keys-from DIR "
                         "where they are kept)")
    if config.kek_file is not None and config.kek_file.exists():
        raise InputError(f"--kek-file {config.kek_file}: exists; restore writes a new file")
    with _new_dir(data, "--data"):
        data.mkdir(mode=0o700, exist_ok=True)
        kek_path = config.kek_file if config.kek_file is not None else data / KEK_FILE
        try:
            write_secret_file(kek_path, key_files[0].read_bytes())
            write_secret_file(data / SIGNING_KEY_FILE, key_files[1].read_bytes())
            if db_url is None:
                _sqlite_copy(sqlite_copy, data / DB_FILE)
            else:
                _restore_pg(dump, db_url)
            _restore_identity(source / DATABASE_DIR, data, db_url)
            Service.open(data, db_url, config, create=False).close()
        except BaseException:
            if config.kek_file is not None:
                config.kek_file.unlink(missing_ok=True)
            raise
    return BackupReport("sqlite" if db_url is None else "postgresql",
                        data / DB_FILE if db_url is None else dump, data)


def _restore_identity(db_dir: Path, data: Path, db_url: str | None) -> None:
    """The backup's service identity, now naming the database restored into; opening the
    service then checks it against the restored database's.  (Backups made before the
    identity was backed up have none; the database's own is written at that opening.)"""
    backed_up = identity.read(db_dir)
    if backed_up is None:
        return
    db = Database(db_url or DataDir(data).sqlite_url)
    try:
        location = db.engine.url.render_as_string(hide_password=True)
    finally:
        db.dispose()
    identity.write(data, identity.Identity(backed_up.service_id, location))


@contextlib.contextmanager
def _new_dir(path: Path, option: str) -> Iterator[None]:
    """``path`` must be missing or an empty directory; on an error inside, what was
    written there is removed again."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: exists and is not a directory")
    existed = path.is_dir()
    if existed and any(path.iterdir()):
        raise InputError(f"{option} {path}: exists and is not empty; give a new or empty "
                         "directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot create it ({os_reason(exc)})") from None
    try:
        yield
    except BaseException:
        if existed:
            for child in path.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy with SQLite's online backup API, as one self-contained file
    (rollback journal, not WAL) of mode 0600."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise InputError(f"SQLite backup of {source} failed ({exc})") from None
    finally:
        dst.close()
        src.close()


def libpq_url(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq connection URI of a SQLAlchemy URL (``postgresql+psycopg://`` is not
    one) without its password, and the environment that gives the password
    (``PGPASSWORD``): a command line is visible to every user of the host."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    # (``URL.set`` keeps the password when given None)
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                       database=url.database, query=url.query)
    return plain.render_as_string(hide_password=False), env


def _pg(program: str, url: URL, *args: str) -> None:
    uri, env = libpq_url(url)
    if shutil.which(program) is None:
        raise InputError(f"{program} not found; install the PostgreSQL client "
                         "(Debian: postgresql-client)")
    done = subprocess.run([program, *args, f"--dbname={uri}"], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise InputError(f"{program} failed: {lines[0] if lines else done.returncode}")


def _restore_pg(dump: Path, db_url: str) -> None:
    """``pg_restore`` into ``db_url``, which must hold no tables; in one transaction, so a
    failure leaves it empty.  Objects are owned by the connecting role."""
    db = Database(db_url)
    try:
        tables = inspect(db.engine).get_table_names()
    finally:
        db.dispose()
    if tables:
        raise InputError(f"--db {make_url(db_url).render_as_string(hide_password=True)}: "
                         f"holds {len(tables)} tables; restore into an empty database")
    _pg("pg_restore", make_url(db_url), "--single-transaction", "--exit-on-error",
        "--no-owner", "--no-privileges", str(dump))
