"""The service identity: one random id written at bootstrap both into the database
(``service_meta``) and into the data directory (``service-identity.json``, with the
database's kind and location, password left out), so that a command pointed at a
database and a data directory of different services — or about to make a new SQLite
database beside the keys of a PostgreSQL-backed service — refuses instead of working on
the wrong one.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from attest.errors import InputError
from server.core.config import StartupError
from server.core.datadir import write_secret_file
from server.store import metastore
from server.store.db import Database

IDENTITY_FILE = "service-identity.json"
SERVICE_ID = "service_id"


@dataclass(frozen=True)
class Identity:
    service_id: str
    database: str  # URL without the password

    @property
    def kind(self) -> str:
        return make_url(self.database).get_backend_name()


def read(data_dir: Path) -> Identity | None:
    """The data directory's identity file, if it has one."""
    path = data_dir / IDENTITY_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        return Identity(str(data["service_id"]), str(data["database"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a service identity file ({exc.__class__.__name__})") \
            from None


def refuse_new_sqlite(data_dir: Path, found: Identity | None) -> None:
    """Refuse to use (and so create) the data directory's own SQLite database when the
    directory belongs to a service whose database is elsewhere."""
    if found is not None and found.kind != "sqlite":
        raise StartupError(
            f"data directory {data_dir} belongs to service {found.service_id} on "
            f"{found.database}, but no database was given (a new SQLite database would be "
            "made in it); give --db, SIMATTEST_DB or database.url in the configuration file")


def settle(data_dir: Path, found: Identity | None, db: Database) -> Identity:
    """Check the database's identity against the data directory's ``found``; on first
    start (neither has one) write a new one into both."""
    location = db.engine.url.render_as_string(hide_password=True)
    stored = metastore.get(db, SERVICE_ID)
    if found is not None and stored is None:
        raise StartupError(
            f"data directory {data_dir} belongs to service {found.service_id} on "
            f"{found.database}; database {location} has no service identity (a new, empty "
            "database?) — refusing to use it")
    if found is not None and stored is not None and stored.decode() != found.service_id:
        raise StartupError(
            f"data directory {data_dir} belongs to service {found.service_id} (on "
            f"{found.database}), database {location} to service {stored.decode()} — "
            "refusing to mix them")
    service_id = metastore.settle(db, SERVICE_ID, (found.service_id if found else
                                                   secrets.token_hex(16)).encode()).decode()
    identity = Identity(service_id, location)
    if found is None:
        try:
            write(data_dir, identity)
        except FileExistsError:  # another process starting at the same moment
            return read(data_dir) or identity
    return found or identity


def write(data_dir: Path, identity: Identity) -> None:
    """Write the data directory's identity file (mode 0600); it must not exist yet."""
    content = json.dumps({"service_id": identity.service_id, "database": identity.database},
                         indent=2)
    write_secret_file(data_dir / IDENTITY_FILE, (content + "\n").encode())
