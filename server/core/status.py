"""``simattest status``: which storage a command uses and what it holds — the database
(kind, location without the password, schema revision), the service identity, the key
files and their permissions, and counts of cards, handsets and open checkouts."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from server.core.identity import SERVICE_ID
from server.core.service import KEK_ENV, Service
from server.store import metastore
from server.store.migrate import current_revision
from server.store.models import Card, Checkout, Handset


@dataclass(frozen=True)
class KeyFile:
    name: str  # what the key is for
    location: str  # a path, or the environment variable holding the key
    mode: str | None  # octal permissions; None: not a file or absent
    found: bool


@dataclass(frozen=True)
class Status:
    database_kind: str
    database: str
    data_dir: str
    service_id: str | None
    schema_version: str | None
    key_files: tuple[KeyFile, ...]
    cards: int
    handsets: int
    open_checkouts: int
    # the Android attestation status list: when imported (None: never) and its entries
    attestation_status_imported_at: str | None
    attestation_status_entries: int
    device_policy: str  # attest.devicepolicy.DevicePolicy.policy_id

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _key_file(name: str, path: Path) -> KeyFile:
    try:
        mode = f"{stat.S_IMODE(path.stat().st_mode):04o}"
    except OSError:
        return KeyFile(name, str(path), None, False)
    return KeyFile(name, str(path), mode, True)


def status(svc: Service) -> Status:
    kek = KeyFile("key-encryption key", KEK_ENV, None, True) if os.environ.get(KEK_ENV) \
        else _key_file("key-encryption key", svc.config.kek_file or svc.data_dir.kek_path)
    service_id = metastore.get(svc.db, SERVICE_ID)
    stored = metastore.get(svc.db, metastore.ANDROID_STATUS_LIST)
    status_list: dict[str, Any] = {"imported_at": None, "entries": 0} if stored is None \
        else orjson.loads(stored)
    with svc.db.read_session() as session:
        def count(query: Any) -> int:
            return session.scalar(query) or 0

        cards = count(select(func.count()).select_from(Card))
        handsets = count(select(func.count()).select_from(Handset))
        open_checkouts = count(select(func.count()).select_from(Checkout)
                               .where(Checkout.returned_at.is_(None)))
    return Status(
        database_kind=svc.db.dialect, data_dir=str(svc.data_dir.path),
        database=svc.db.engine.url.render_as_string(hide_password=True),
        service_id=None if service_id is None else service_id.decode(),
        schema_version=current_revision(svc.db),
        key_files=(kek, _key_file("EAR signing key", svc.data_dir.signing_key_path)),
        cards=cards, handsets=handsets, open_checkouts=open_checkouts,
        attestation_status_imported_at=status_list["imported_at"],
        attestation_status_entries=status_list["entries"],
        device_policy=svc.config.device_policy.policy_id)
