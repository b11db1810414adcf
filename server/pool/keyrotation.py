"""Re-encrypting every card's secrets (and MC users' TOTP secrets) under a new
key-encryption key (KEK).

``rotate_kek`` writes the new key to a file first, then re-encrypts the pool and replaces
the database's KEK check value in one transaction, then retires the old key file.
Imports (``server.pool.provisioning``) take the same check value's row lock, so they
wait for a rotation and then encrypt under the key the database names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from attest.textfile import os_reason
from server.core.datadir import encode_kek, write_secret_file
from server.core.errors import ValidationError
from server.core.keystore import KeyStore
from server.core.service import Service
from server.store import audit_chain as audit
from server.store import metastore
from server.store.models import Card, McUser, Meta, totp_aad, utcnow

_SECRET_FIELDS = ("k_enc", "opc_enc", "pin1_enc", "puk1_enc", "adm1_enc")


@dataclass(frozen=True)
class RotationReport:
    cards: int
    new_key_file: str
    retired_key_file: str | None

    def to_json(self) -> dict[str, Any]:
        return {"cards": self.cards, "new_key_file": self.new_key_file,
                "retired_key_file": self.retired_key_file}


def _write_new_kek(path: Path, content: bytes, current: tuple[Path | None, ...]) -> None:
    """Write the new key file, or refuse in one line; nothing is written or changed then."""
    if any(c is not None and path.resolve() == c.resolve() for c in current):
        raise ValidationError(f"{path} holds the current key-encryption key; give a new "
                              "file for the new key", field="new_key_file")
    if not path.parent.is_dir():
        raise ValidationError(f"{path}: directory {path.parent} does not exist",
                              field="new_key_file")
    try:
        write_secret_file(path, content)
    except FileExistsError:
        raise ValidationError(f"{path}: exists; refusing to overwrite a key file (an earlier "
                              "rotation's? move it away or give another file)",
                              field="new_key_file") from None
    except OSError as exc:
        raise ValidationError(f"{path}: cannot write the new key ({os_reason(exc)})",
                              field="new_key_file") from None


def rotate_kek(svc: Service, *, actor: str, new_key_file: Path | None = None,
               new_kek: bytes | None = None) -> RotationReport:
    """Re-encrypt every card's secrets under a new KEK in one transaction.

    The new key is written first (``kek.key.new`` in the data directory, or
    ``new_key_file`` when the KEK is kept outside it), then the database is
    re-encrypted and its KEK check value replaced in one transaction; then the old
    ``kek.key`` is kept as ``kek.key.retired-<UTC time>`` and the new one takes its
    name.  Challenges hold nothing encrypted (XRES is computed from the card's keys at
    appraisal), so pending ones appraise across the rotation.  Running server
    processes adopt the new key by themselves when a stored secret no longer decrypts
    under theirs or when they next import (``Service.reload_keys``), provided they find
    it where they found the old one (the data directory, ``--kek-file``).
    """
    kek = new_kek if new_kek is not None else os.urandom(32)
    new_keys = KeyStore(kek)
    kek_path = svc.data_dir.kek_path
    staged = new_key_file if new_key_file is not None else kek_path.with_name("kek.key.new")
    _write_new_kek(staged, encode_kek(kek), current=(kek_path, svc.config.kek_file))
    with svc.db.session() as session:
        # Imports wait (their encryption must use the key the database names) and so do
        # other rotations.
        stored = metastore.locked(session, metastore.KEK_CHECK, exclusive=True)
        svc.reload_keys(stored)
        secrets = [getattr(Card, name) for name in _SECRET_FIELDS]
        updates: list[dict[str, Any]] = []
        for row in session.execute(select(Card.id, Card.iccid, *secrets)):
            values: dict[str, Any] = {"id": row.id}
            for name in _SECRET_FIELDS:
                blob = getattr(row, name)
                values[name] = None if blob is None else new_keys.encrypt_secret(
                    row.iccid, svc.keys.decrypt_secret(row.iccid, blob))
            updates.append(values)
        if updates:
            session.execute(update(Card), updates)
        # MC users' TOTP secrets (server.idms) are under the same KEK.
        totp = [{"id": row.id, "totp_enc": new_keys.encrypt_secret(
                    totp_aad(row.mc_id), svc.keys.decrypt_secret(totp_aad(row.mc_id),
                                                                 row.totp_enc))}
                for row in session.execute(select(McUser.id, McUser.mc_id, McUser.totp_enc)
                                           .where(McUser.totp_enc.is_not(None)))]
        if totp:
            session.execute(update(McUser), totp)
        session.execute(update(Meta).where(Meta.name == metastore.KEK_CHECK)
                        .values(value=new_keys.check_value))
        audit.append(session, actor, "pool.rotate-kek", "kek", {"cards": len(updates),
                                                                "totp_secrets": len(totp)})
    svc.keys = new_keys
    if new_key_file is not None:
        return RotationReport(len(updates), str(new_key_file), None)
    retired: Path | None = None
    if kek_path.exists():
        retired = kek_path.with_name(f"kek.key.retired-{utcnow():%Y%m%dT%H%M%SZ}")
        os.rename(kek_path, retired)
    os.rename(staged, kek_path)
    return RotationReport(len(updates), str(kek_path), None if retired is None else str(retired))
