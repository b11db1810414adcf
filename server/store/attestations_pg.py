"""The attestation hot path on PostgreSQL, on the psycopg driver directly.

Not SQLAlchemy here: under load its execution layer cost more CPU per statement than
PostgreSQL spent running it.  Not psycopg's pipeline mode either: it cost more client
CPU than the round trips it saves (the measurements are in ``bench/RESULTS.md`` and its
journal).  So each round trip is one statement — data-modifying CTEs where a step has
several writes — prepared by psycopg after its fifth use on a connection, each its own
transaction (the connection is in autocommit mode), three per attestation.  The
statements are in ``server.store.attestations_pg_sql``:

1. rate counters (where this process needs a new share, ``server.store.rate_counters.Shares``)
   + card lookup + SQN reservation + challenge insert (the last two skipped when a
   limit is exceeded): ``RESERVE_SQN_AND_ISSUE[_COUNTED]``;
2. rate counters + the challenge with everything the appraisal needs — skipped when
   the evidence comes back to the process that issued the challenge (it has a copy,
   ``server.attestation.copies``): ``LOAD_CHALLENGE_COUNTED``;
3. verdict + audit entry (``server.store.audit_chain``), with the rate counters when 2 was
   skipped: ``CONSUME_CHALLENGE[_COUNTED]`` (or ``EXPIRE_CHALLENGE``).

The counters are an unlogged table (migration 0003), so statement 2 commits without a
disk flush, and 1 does not wait for its flush: one flush per attestation.

Connections come from a small pool of this store's own, opened on first use with the
engine's URL and kept for the next request: checking a connection out of SQLAlchemy's
pool and back cost more than a statement's own parameter handling.  The pool holds as
many connections as requests ran at once (``simattest serve --threads`` per worker).
A pooled connection the server ended while it was idle (a restart, a failover) is
replaced before use (``server.store.db.dropped_by_server``).  One dropped during its
statement answers ``sqlalchemy.exc.OperationalError`` (the API's 503, nothing written)
and is replaced, together with every connection opened before it and the engine's
pool, on the next use.  Connections get the libpq timeouts of
``server.store.db.PG_CONNECT_DEFAULTS`` unless the database URL sets its own.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from server.store import attestations_pg_sql as sql
from server.store import audit_chain as audit
from server.store import rate_counters as ratelimit
from server.store.attestations import (
    NO_PROOF,
    NewChallenge,
    PairedCard,
    Proof,
    StoredChallenge,
    Verdict,
)
from server.store.db import dropped_by_server, pg_connect_defaults

_DISCONNECTED = (psycopg.OperationalError, psycopg.InterfaceError)


def _json(value: Any) -> str:
    """JSON text for a ``::json`` parameter."""
    return orjson.dumps(value).decode()


@dataclass(slots=True)
class _Pooled:
    """A connection of the pool, with one cursor per statement: psycopg keeps a cursor's
    type adapters only while it runs the same query again, and looking them up anew
    for every statement was a large part of psycopg's own time per statement."""

    conn: psycopg.Connection[Any]
    generation: int
    cursors: dict[str, psycopg.Cursor[Any]] = field(default_factory=dict)

    def execute(self, query: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        cur = self.cursors.get(query)
        if cur is None:
            cur = self.cursors[query] = self.conn.cursor()
        return cur.execute(query, params).fetchone()


class PostgresStore:
    """``server.store.attestations.AttestationStore`` on a pool of psycopg connections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        self._args = args
        self._kwargs = {**pg_connect_defaults(str(engine.url)), **kwargs, "autocommit": True}
        self._lock = threading.Lock()
        self._idle: list[_Pooled] = []
        self._open: set[psycopg.Connection[Any]] = set()
        # Bumped when a connection turns out dropped (server restart, failover): every
        # connection opened before is then replaced on its next use.
        self._generation = 0
        self._shares = ratelimit.Shares()

    def _checkout(self) -> _Pooled:
        with self._lock:
            while self._idle:
                pooled = self._idle.pop()  # the most recent: its backend is warm
                if pooled.generation == self._generation and not pooled.conn.closed \
                        and not dropped_by_server(pooled.conn.fileno()):
                    return pooled
                self._open.discard(pooled.conn)
                pooled.conn.close()
            generation = self._generation
        conn = psycopg.connect(*self._args, **self._kwargs)
        with self._lock:
            self._open.add(conn)
        return _Pooled(conn, generation)

    def _checkin(self, pooled: _Pooled) -> None:
        conn = pooled.conn
        reusable = (not conn.broken and pooled.generation == self._generation
                    and conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE)
        with self._lock:
            if reusable:
                self._idle.append(pooled)
                return
            self._open.discard(conn)
        conn.close()

    def _execute(self, query: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """One statement (its own transaction) on a pooled connection; its first row."""
        try:
            pooled = self._checkout()
        except _DISCONNECTED as exc:
            self._lost()
            raise sa_exc.OperationalError(None, None, exc) from None
        try:
            return pooled.execute(query, params)
        except _DISCONNECTED as exc:
            if pooled.conn.broken:  # not e.g. a cancelled statement
                self._lost()
            raise sa_exc.OperationalError(None, None, exc) from None
        finally:
            self._checkin(pooled)

    def _one_row(self, query: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """The row of a statement that selects from ``(SELECT 1) one``: always exactly one."""
        return cast(tuple[Any, ...], self._execute(query, params))

    def _lost(self) -> None:
        self._generation += 1
        # The engine's pooled connections (desk pages, registry) went with it: a fresh
        # pool; the old one and its connections are left to be collected.
        self.engine.dispose(close=False)

    def close(self) -> None:
        with self._lock:
            conns, self._idle = list(self._open), []
            self._open.clear()
        for conn in conns:
            conn.close()

    def _counted(self, query: str, params: dict[str, Any], claim: ratelimit.Claim
                 ) -> list[Any]:
        """A ``_COUNTED`` statement of ``attestations_pg_sql``: counts ``claim``
        (``ratelimit.RateLimited``), then its own columns of the one row."""
        try:
            over, counts, *row = self._one_row(query, {**claim.pg_params(), **params})
        except BaseException:
            self._shares.abandon(claim)
            raise
        self._shares.settle(claim, counts)
        ratelimit.refuse(over, claim.clock)
        return row

    def issue(self, challenge: NewChallenge, limits: dict[str, int] | None,
              proof: Proof | None) -> PairedCard | None:
        claim = self._shares.claim(limits, time.time())
        params = {**challenge.values(), **(NO_PROOF if proof is None else proof.pg_params())}
        row: Sequence[Any]
        if claim.needed:
            row = self._counted(sql.RESERVE_SQN_AND_ISSUE_COUNTED, params, claim)
        else:
            row = self._one_row(sql.RESERVE_SQN_AND_ISSUE, params)
        *found, bound = row
        if not bound:  # a replay: what its shares covered was not the handset's to spend
            self._shares.give_back_per_imei(claim)
        return None if found[0] is None else PairedCard(*found)

    def handset_key(self, imei: str) -> str | None:
        row = self._execute(sql.HANDSET_KEY, {"imei": imei})
        return None if row is None else cast(str, row[0])

    def count(self, limits: dict[str, int] | None) -> None:
        claim = self._shares.claim(limits, time.time())
        if claim.needed:
            self._counted(sql.COUNT_ONLY, {}, claim)

    def load(self, attestation_id: str, evidence_iccid: str, now: dt.datetime,
             limits: dict[str, int] | None) -> StoredChallenge | None:
        row = self._counted(sql.LOAD_CHALLENGE_COUNTED,
                            {"att_id": attestation_id, "iccid": evidence_iccid, "now": now},
                            self._shares.claim(limits, time.time()))
        return None if row[0] is None else StoredChallenge.from_row(row)

    def _write(self, query: str, params: dict[str, Any]) -> bool:
        return self._execute(query, params) is not None

    def record(self, attestation_id: str, at: dt.datetime, verdict: Verdict,
               entry: audit.Entry, limits: dict[str, int] | None = None) -> bool:
        params = {
            "att_id": attestation_id, "at": at, "status": verdict.status,
            "reasons": _json(verdict.reasons), "ear": verdict.ear,
            "resync_id": verdict.resync_id, "iccid": verdict.iccid, "imsi": verdict.imsi,
            "evidence": _json(verdict.evidence),
            "device_certificate": verdict.device_certificate, **entry.pg_params()}
        claim = self._shares.claim(limits, time.time())
        if not claim.needed:
            return self._write(sql.CONSUME_CHALLENGE, params)
        return self._counted(sql.CONSUME_CHALLENGE_COUNTED, params, claim)[0] is not None

    def expire(self, attestation_id: str, at: dt.datetime, status: str, reasons: list[str],
               ear: str, entry: audit.Entry) -> bool:
        return self._write(sql.EXPIRE_CHALLENGE, {
            "att_id": attestation_id, "at": at, "status": status,
            "reasons": _json(reasons), "ear": ear, **entry.pg_params()})

    def audit(self, entry: audit.Entry) -> None:
        self._write(sql.APPEND_AUDIT, entry.pg_params())
