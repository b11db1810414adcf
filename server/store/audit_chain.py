"""The append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8)
of ``{seq, at, actor, action, subject, details, prev_hash}``, where ``prev_hash`` is
the previous entry's hash (all zero for the first).  Changing, removing or reordering
any entry breaks every hash after it.

Appends serialise on the single ``audit_head`` row (id 1).  PostgreSQL appends in one
statement (``APPEND_AUDIT`` and the attestation statements that end with an append, in
``server.store.attestations_pg_sql``): the UPDATE of the head row computes the new hash
in SQL (``sha256`` over the canonical JSON, of which Python supplies everything but the
previous hash and the sequence number, see ``Entry.canonical_parts``) and the entry is
inserted from its RETURNING row — the head row is locked from that statement to the
commit, not across a round trip.  SQLite computes the hash in Python; its write
transaction already holds the database lock (``BEGIN IMMEDIATE``).  The entry is
written in the caller's transaction, so it exists exactly when the change it records
does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from attest.errors import InputError
from server.store.attestations_pg_sql import APPEND_AUDIT, APPEND_AUDIT_ENTRIES
from server.store.db import Database
from server.store.models import AuditEntry, AuditHead, utcnow

GENESIS_HASH = bytes(32)
_HEAD_ID = 1
# What joins the previous hash and the seq in the canonical JSON; the PostgreSQL
# statements that append an entry write it out too.
_SEQ_JOIN = '","seq":'


# The standard library's encoder (not orjson, as for evidence): every stored hash was
# computed with it, and ``details`` may hold any JSON value.  One instance: ``json.dumps``
# with these options builds a new encoder per call.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry to append.  ``details`` must be plain JSON (str, int, bool, None, lists,
    dicts) and must never hold key material."""

    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    # Microsecond precision is what both databases keep, so the hash re-computes.
    at: dt.datetime = field(default_factory=utcnow)

    def canonical_parts(self) -> tuple[str, str]:
        """The canonical JSON is ``head + prev_hash.hex() + '","seq":' + str(seq) + tail``
        (keys in sorted order: action, actor, at, details, prev_hash, seq, subject)."""
        return self._parts(_canonical(self.details))

    def _parts(self, details: str) -> tuple[str, str]:
        head = (f'{{"action":{_canonical(self.action)},"actor":{_canonical(self.actor)},'
                f'"at":{_canonical(self.at.astimezone(dt.UTC).isoformat(timespec="microseconds"))},'
                f'"details":{details},"prev_hash":"')
        return head, f',"subject":{_canonical(self.subject)}}}'

    def digest(self, seq: int, prev_hash: bytes) -> bytes:
        head, tail = self.canonical_parts()
        return hashlib.sha256(
            f"{head}{prev_hash.hex()}{_SEQ_JOIN}{seq}{tail}".encode()).digest()

    def pg_params(self) -> dict[str, Any]:
        """Parameters of the PostgreSQL statements that append an entry (names prefixed
        ``audit_``)."""
        details = _canonical(self.details)
        head, tail = self._parts(details)
        return {"audit_head": head, "audit_tail": tail, "audit_at": self.at,
                "audit_actor": self.actor, "audit_action": self.action,
                "audit_subject": self.subject, "audit_details": details}


def entry_hash(
    seq: int, at: dt.datetime, actor: str, action: str, subject: str,
    details: dict[str, Any], prev_hash: bytes,
) -> bytes:
    return Entry(actor, action, subject, details, at).digest(seq, prev_hash)


# SQLite (and any other database): statements built once, the hash computed in Python.
_HEAD = cast(Table, AuditHead.__table__)
_ENTRIES = cast(Table, AuditEntry.__table__)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID)
_INSERT_ENTRY = insert(_ENTRIES)
_MOVE_HEAD = (update(_HEAD).where(_HEAD.c.id == _HEAD_ID)
              .values(seq=bindparam("seq"), hash=bindparam("hash"),
                      prev_hash=bindparam("prev_hash")))


def append_entry(session: Session | Connection, entry: Entry) -> int:
    """Append ``entry`` in ``session``'s transaction; returns its ``seq``."""
    conn = session if isinstance(session, Connection) else session.connection()
    if conn.dialect.name == "postgresql":
        return int(conn.exec_driver_sql(APPEND_AUDIT, entry.pg_params()).scalar_one())
    head = conn.execute(_READ_HEAD).one()
    seq = head.seq + 1
    digest = entry.digest(seq, head.hash)
    conn.execute(_INSERT_ENTRY, {"seq": seq, "at": entry.at, "actor": entry.actor,
                                 "action": entry.action, "subject": entry.subject,
                                 "details": entry.details, "prev_hash": head.hash,
                                 "hash": digest})
    conn.execute(_MOVE_HEAD, {"seq": seq, "hash": digest, "prev_hash": head.hash})
    return seq


def append_entries(session: Session | Connection, entries: Sequence[Entry]) -> None:
    """Append ``entries``, in their order, in ``session``'s transaction: on PostgreSQL
    in one statement (``APPEND_AUDIT_ENTRIES``), so a group of requests answered in one
    transaction takes the chain's head lock once, for one statement and the commit."""
    if not entries:
        return
    conn = session if isinstance(session, Connection) else session.connection()
    if conn.dialect.name != "postgresql":
        for entry in entries:
            append_entry(conn, entry)
        return
    conn.exec_driver_sql(APPEND_AUDIT_ENTRIES, {"entries": json.dumps([
        {name.removeprefix("audit_"): value.isoformat() if name == "audit_at" else value
         for name, value in entry.pg_params().items()} for entry in entries])})


def append(
    session: Session | Connection, actor: str, action: str, subject: str,
    details: dict[str, Any],
) -> int:
    """Append one entry in ``session``'s transaction; returns its ``seq``."""
    return append_entry(session, Entry(actor, action, subject, details))


@dataclass(frozen=True)
class Checkpoint:
    """An entry's seq and hash, written down outside the database (``SEQ:HEX``).

    Whoever can write the database can also recompute every hash after an entry they
    changed; a checkpoint kept where they cannot reach it (a ticket, a signed mail, a
    WORM store) no longer matches such a rewritten history.
    """

    seq: int
    hash: bytes

    @property
    def text(self) -> str:
        return f"{self.seq}:{self.hash.hex()}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        seq, _, digest = text.strip().partition(":")
        try:
            if not seq.isdigit() or int(seq) < 1 or len(digest) != 64:
                raise ValueError
            return cls(int(seq), bytes.fromhex(digest))
        except ValueError:
            raise InputError(f"checkpoint {text!r}: expected SEQ:HASH as 'audit verify' "
                             "prints it (an entry number, a colon, 64 hex digits)") from None


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    first_broken: int | None = None
    reason: str = ""
    head: Checkpoint | None = None  # the last entry, when the chain is intact

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "ok": self.ok,
                "first_broken": self.first_broken, "reason": self.reason,
                "head": None if self.head is None else self.head.text}


def verify_chain(db: Database, checkpoints: Sequence[Checkpoint] = ()) -> ChainReport:
    """Walk the whole chain; name the first entry whose link or hash is wrong, or that
    differs from a ``checkpoint`` recorded earlier.

    A log the database cannot read (its tables dropped or altered) is not intact either:
    the report says so, with ``first_broken`` None and the database's reason.
    """
    try:
        return _walk_chain(db, {c.seq: c.hash for c in checkpoints})
    except (sa_exc.OperationalError, sa_exc.ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() \
            else exc.orig.__class__.__name__
        return ChainReport(0, False, None, f"audit log unreadable ({reason})")


def _what(entry: AuditEntry) -> str:
    """What a broken entry says it records, so the reader knows what to look into."""
    return f" ({entry.action} {entry.subject} by {entry.actor}, {entry.at:%Y-%m-%d %H:%M:%S})"


def _walk_chain(db: Database, checkpoints: dict[int, bytes]) -> ChainReport:
    count = 0
    prev_seq, prev_hash = 0, GENESIS_HASH
    with db.read_session() as session:
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
                                   "prev_hash does not match the previous entry's hash"
                                   + _what(entry))
            expected = entry_hash(entry.seq, entry.at, entry.actor, entry.action,
                                  entry.subject, entry.details, entry.prev_hash)
            if not hmac.compare_digest(entry.hash, expected):
                return ChainReport(count, False, entry.seq,
                                   "hash does not match the entry's content" + _what(entry))
            recorded = checkpoints.get(entry.seq)
            if recorded is not None and not hmac.compare_digest(entry.hash, recorded):
                return ChainReport(count, False, entry.seq,
                                   "hash differs from the checkpoint recorded earlier: the "
                                   "log was rewritten at or before this entry" + _what(entry))
            prev_seq, prev_hash = entry.seq, entry.hash
        head = session.get(AuditHead, _HEAD_ID)
    if head is None or head.seq != prev_seq or not hmac.compare_digest(head.hash, prev_hash):
        return ChainReport(count, False, prev_seq + 1,
                           "chain head does not match the last entry (entries removed at the end?)")
    beyond = [seq for seq in checkpoints if seq > prev_seq]
    if beyond:
        return ChainReport(count, False, prev_seq + 1,
                           f"the log ends at entry {prev_seq}, before checkpoint {min(beyond)} "
                           "recorded earlier: entries removed at the end")
    return ChainReport(count, True, head=Checkpoint(prev_seq, prev_hash) if prev_seq else None)
