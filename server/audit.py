"""The append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8)
of ``{seq, at, actor, action, subject, details, prev_hash}``, where ``prev_hash`` is
the previous entry's hash (all zero for the first).  Changing, removing or reordering
any entry breaks every hash after it.

Appends serialise on the single ``audit_head`` row: ``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction already holds the database lock
(``BEGIN IMMEDIATE``).  The entry is written in the caller's transaction, so it exists
exactly when the change it records does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from server.store.models import AuditEntry, AuditHead, utcnow

if TYPE_CHECKING:
    from server.context import Service

GENESIS_HASH = bytes(32)
_HEAD_ID = 1


def entry_hash(
    seq: int, at: dt.datetime, actor: str, action: str, subject: str,
    details: dict[str, Any], prev_hash: bytes,
) -> bytes:
    canonical = json.dumps(
        {
            "seq": seq,
            "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
            "prev_hash": prev_hash.hex(),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    return hashlib.sha256(canonical).digest()


# Statements built once (cached compiled form; each call only binds values).
_HEAD = cast(Table, AuditHead.__table__)
_ENTRIES = cast(Table, AuditEntry.__table__)
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID).with_for_update()
_INSERT_ENTRY = insert(_ENTRIES)
_MOVE_HEAD = (update(_HEAD).where(_HEAD.c.id == _HEAD_ID)
              .values(seq=bindparam("seq"), hash=bindparam("hash")))
# PostgreSQL: the entry and the new head in one statement (a data-modifying CTE).
_APPEND_PG = _MOVE_HEAD.add_cte(
    insert(_ENTRIES).values(
        seq=bindparam("seq"), at=bindparam("at"), actor=bindparam("actor"),
        action=bindparam("action"), subject=bindparam("subject"),
        details=bindparam("details"), prev_hash=bindparam("prev_hash"),
        hash=bindparam("hash")).cte("entry"))


def append(
    session: Session | Connection, actor: str, action: str, subject: str,
    details: dict[str, Any],
) -> int:
    """Append one entry in ``session``'s transaction; returns its ``seq``.  ``details``
    must be plain JSON (str, int, bool, None, lists, dicts) and must never hold key
    material."""
    head = session.execute(_LOCK_HEAD).one()
    seq = head.seq + 1
    # Microsecond precision is what both databases keep, so the hash re-computes.
    at = utcnow()
    digest = entry_hash(seq, at, actor, action, subject, details, head.hash)
    entry = {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
             "details": details, "prev_hash": head.hash, "hash": digest}
    bind = session if isinstance(session, Connection) else session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(_APPEND_PG, entry)
    else:
        session.execute(_INSERT_ENTRY, entry)
        session.execute(_MOVE_HEAD, {"seq": seq, "hash": digest})
    return seq


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    first_broken: int | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "ok": self.ok,
                "first_broken": self.first_broken, "reason": self.reason}


def verify_chain(svc: Service) -> ChainReport:
    """Walk the whole chain; name the first entry whose link or hash is wrong."""
    count = 0
    prev_seq, prev_hash = 0, GENESIS_HASH
    with svc.db.read_session() as session:
        rows = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000)
        ).scalars()
        for entry in rows:
            count += 1
            if entry.seq != prev_seq + 1:
                return ChainReport(count, False, entry.seq,
                                   f"sequence gap: entry {prev_seq + 1} missing")
            if not hmac.compare_digest(entry.prev_hash, prev_hash):
                return ChainReport(count, False, entry.seq,
                                   "prev_hash does not match the previous entry's hash")
            expected = entry_hash(entry.seq, entry.at, entry.actor, entry.action,
                                  entry.subject, entry.details, entry.prev_hash)
            if not hmac.compare_digest(entry.hash, expected):
                return ChainReport(count, False, entry.seq,
                                   "hash does not match the entry's content")
            prev_seq, prev_hash = entry.seq, entry.hash
        head = session.get(AuditHead, _HEAD_ID)
    if head is None or head.seq != prev_seq or not hmac.compare_digest(head.hash, prev_hash):
        return ChainReport(count, False, prev_seq + 1,
                           "chain head does not match the last entry (entries removed at the end?)")
    return ChainReport(count, True)
