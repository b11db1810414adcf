"""The composition root of the service: configuration, database, keys.

``Service.open`` is the one way in: it creates the data directory and its keys on
first start (unless told not to: ``create=False``), upgrades the database schema to the
newest Alembic revision, and checks that the key-encryption key (KEK) and the EAR
signing key are the ones the database was written with — refusing to start rather than
silently creating new keys.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from server.core import identity
from server.core.config import ServiceConfig, StartupError
from server.core.datadir import (
    DB_FILE,
    DataDir,
    encode_kek,
    new_kek,
    parse_kek,
    read_kek_file,
    write_secret_file,
)
from server.core.errors import KeyRotated
from server.core.keystore import KeyStore, SecretDecryptError, Signer
from server.store import metastore
from server.store.attestations import AttestationStore
from server.store.attestations_pg import PostgresStore
from server.store.attestations_sqlite import SqlAlchemyStore
from server.store.db import Database
from server.store.migrate import upgrade_to_head
from server.store.models import Card

KEK_ENV = "SIMATTEST_KEK"


@dataclass(eq=False)  # identity: features keep per-process state keyed by the service
class Service:
    """Everything a request handler, CLI command or test needs."""

    data_dir: DataDir
    db: Database
    keys: KeyStore
    signer: Signer
    config: ServiceConfig
    store: AttestationStore  # the attestation hot path (server.store.attestations)

    @classmethod
    def open(
        cls, data_dir: Path, db_url: str | None = None, config: ServiceConfig | None = None,
        *, create: bool = True,
    ) -> Service:
        """``create=False``: the data directory (and its SQLite file) must exist already
        (``DataDir.ensure``) — for commands that only work on existing storage."""
        config = config or ServiceConfig()
        path = Path(data_dir)
        sqlite = _in_data_dir(db_url, path)
        found = identity.read(path) if path.is_dir() else None
        if sqlite:
            identity.refuse_new_sqlite(path, found)
        # A bootstrap that fails leaves no half-made data directory behind.
        made = create and not path.exists()
        ddir = DataDir.ensure(path, sqlite=sqlite, create=create)
        db = Database(db_url or ddir.sqlite_url)
        try:
            upgrade_to_head(db)
            identity.settle(path, found, db)
            keys = _open_kek(ddir, db, config)
            signer = _open_signer(ddir, db)
        except BaseException as exc:
            db.dispose()
            if made:
                shutil.rmtree(path, ignore_errors=True)
            if isinstance(exc, sa_exc.OperationalError):
                raise StartupError(
                    f"database {db.engine.url.render_as_string(hide_password=True)}: "
                    f"unreachable ({_driver_reason(exc, db.engine.url.password)})"
                ) from None
            raise
        store: AttestationStore = PostgresStore(db.engine) if db.dialect == "postgresql" \
            else SqlAlchemyStore(db)
        return cls(data_dir=ddir, db=db, keys=keys, signer=signer, config=config, store=store)

    def reload_keys(self, stored_check: bytes | None = None) -> bool:
        """Adopt a KEK that another process rotated (``simattest pool rotate-key``).

        Compares the database's KEK check value (``stored_check`` if the caller just read
        it) with this service's key; if they differ, reads the key again from where
        start-up found it (``SIMATTEST_KEK``, ``--kek-file`` or the data directory) and
        keeps it if the database names it.  Returns whether the key changed; raises
        KeyRotated (503) when the new key is not where this process can find it.
        """
        stored = metastore.get(self.db, metastore.KEK_CHECK) if stored_check is None \
            else stored_check
        if stored is None or self.keys.matches(stored):
            return False
        kek = configured_kek(self.data_dir, self.config)
        keys = None if kek is None else KeyStore(kek)
        if keys is None or not keys.matches(stored):
            raise KeyRotated("the key-encryption key was rotated and this server's key "
                             "source does not hold the new key; restart it with the new key")
        self.keys = keys
        return True

    def decrypt_secret(self, aad: str, blob: bytes) -> bytes:
        """``keys.decrypt_secret``, adopting a KEK another process rotated
        (``reload_keys``) once when ``blob`` no longer decrypts under this one's."""
        keys = self.keys
        try:
            return keys.decrypt_secret(aad, blob)
        except SecretDecryptError:
            if not (self.reload_keys() or self.keys is not keys):
                raise
        return self.keys.decrypt_secret(aad, blob)

    def close(self) -> None:
        self.store.close()
        self.db.dispose()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _kek_from_outside(config: ServiceConfig) -> bytes | None:
    env = os.environ.get(KEK_ENV)
    if env:
        return parse_kek(env, KEK_ENV)
    if config.kek_file is not None:
        return read_kek_file(config.kek_file)
    return None


def configured_kek(ddir: DataDir, config: ServiceConfig) -> bytes | None:
    """The KEK from outside (``SIMATTEST_KEK``, ``--kek-file``) or the data directory."""
    kek = _kek_from_outside(config)
    if kek is None and ddir.kek_path.exists():
        kek = read_kek_file(ddir.kek_path)
    return kek


def _open_kek(ddir: DataDir, db: Database, config: ServiceConfig) -> KeyStore:
    # The database first: a process starting at the same moment writes the key file
    # before it stores the check value, so a stored value implies the file is there.
    stored_check = metastore.get(db, metastore.KEK_CHECK)
    kek = configured_kek(ddir, config)
    if kek is None:
        with db.read_session() as session:
            cards = session.scalar(select(func.count()).select_from(Card)) or 0
        if stored_check is not None or cards:
            raise StartupError(
                f"key-encryption key missing ({ddir.kek_path} absent, {KEK_ENV} unset) but the "
                f"database holds {cards} card(s) encrypted under one; restore the key file — "
                "refusing to create a new key"
            )
        # Another process starting on the same directory may have created it first.
        with contextlib.suppress(FileExistsError):
            write_secret_file(ddir.kek_path, encode_kek(new_kek()))
        kek = read_kek_file(ddir.kek_path)
    keys = KeyStore(kek)
    settled = metastore.settle(db, metastore.KEK_CHECK, keys.check_value)
    if not keys.matches(settled):
        raise StartupError(
            "key-encryption key does not match the one this database was written with "
            "(check value differs); refusing to start"
        )
    return keys


def _open_signer(ddir: DataDir, db: Database) -> Signer:
    path = ddir.signing_key_path
    stored_kid = metastore.get(db, metastore.SIGNING_KID)
    if not path.exists():
        if stored_kid is not None:
            raise StartupError(
                f"EAR signing key {path} missing but the database names key "
                f"{stored_kid.decode()}; copy the data directory's keys to this host — "
                "refusing to create a new key"
            )
        with contextlib.suppress(FileExistsError):
            write_secret_file(path, Signer.generate_pem())
    try:
        signer = Signer.from_pem(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise StartupError(
            f"{path}: cannot load EAR signing key ({exc.__class__.__name__})"
        ) from None
    settled = metastore.settle(db, metastore.SIGNING_KID, signer.kid.encode())
    if settled.decode() != signer.kid:
        raise StartupError(
            f"EAR signing key {path} (kid {signer.kid}) is not the key this database names "
            f"({settled.decode()}); copy the data directory's keys to this host"
        )
    return signer


def _in_data_dir(db_url: str | None, data_dir: Path) -> bool:
    """Whether the database is the data directory's own SQLite file (no ``--db``, or one
    naming that file)."""
    if db_url is None:
        return True
    url = make_url(db_url)
    return url.get_backend_name() == "sqlite" and url.database is not None \
        and Path(url.database).resolve() == (data_dir / DB_FILE).resolve()


def _driver_reason(exc: sa_exc.OperationalError, password: str | None) -> str:
    """The driver's own words on one line (e.g. "password authentication failed for user …").

    They name the cause an operator can fix; the password is masked in case a driver
    ever echoes it.
    """
    lines = [line.strip() for line in str(exc.orig).splitlines() if line.strip()]
    reason = "; ".join(lines) or exc.orig.__class__.__name__
    return reason.replace(password, "***") if password else reason
