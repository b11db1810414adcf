"""The attestation hot path on PostgreSQL, on the psycopg driver directly.

Why not SQLAlchemy here: under load its execution layer cost more CPU per statement
than PostgreSQL spent running it.  Why not psycopg's pipeline mode: measured here, it
costs more client CPU than the round trips it saves (187 µs for one statement against
79 µs without).  So each round trip is one statement — data-modifying CTEs where
a step has several writes — prepared by psycopg after its fifth use on a connection,
each its own transaction (the connection is in autocommit mode), three per attestation:

1. rate counters (where this process needs a new share, ``server.store.rate_counters.Shares``)
   + card lookup + SQN reservation + challenge insert (the last two skipped when a
   limit is exceeded);
2. rate counters + the challenge with everything the appraisal needs — skipped when
   the evidence comes back to the process that issued the challenge (it has a copy,
   ``server.attestation.copies``);
3. verdict + audit entry (``server.store.audit_chain``), with the rate counters when 2 was
   skipped.

The counters are an unlogged table (migration 0003), so statement 2 commits without a
disk flush, and 1 does not wait for its flush (``_NO_FLUSH``): one flush per
attestation.

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
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from server.store import audit_chain as audit
from server.store import rate_counters as ratelimit
from server.store.attestations import (
    NewChallenge,
    PairedCard,
    StoredChallenge,
    Verdict,
)
from server.store.db import dropped_by_server, pg_connect_defaults

# The challenge's statement commits without waiting for the WAL flush: set_config
# with is_local = true sets synchronous_commit for the statement's own transaction
# only.  What a crash can lose is a challenge (its evidence then gets 404, the device
# starts over) and its SQN (re-issued: the card answers a sync failure and the AUTS
# re-synchronises it, TS 33.102 clause 6.3.5).  Verdicts and audit entries wait for the
# flush, which also covers every challenge committed before them.
_NO_FLUSH = "(SELECT set_config('synchronous_commit', 'off', true))"


def _issue_sql(counted: bool) -> str:
    """Statement 1.  ``counted``: with the rate counters first, the SQN and the challenge
    written only if no key is over its limit; the first two columns are then the keys
    over and the counts.  Without: for a request this process's shares already cover
    (``ratelimit.Shares``), where the counters' empty INSERT and aggregates were ~100 µs
    of a ~700 µs statement, measured one at a time on an idle server."""
    return (
        f"WITH{' ' + ratelimit.PG_COUNT_CTES + ',' if counted else ''}"  # noqa: S608
        " hc AS (SELECT h.id AS handset_id, h.public_key_pem, c.id AS card_id, c.iccid,"
        " c.imsi, c.profile, c.algorithm, c.k_enc, c.opc_enc FROM handsets h"
        " LEFT JOIN pairings p ON p.handset_id = h.id AND p.ended_at IS NULL"
        " LEFT JOIN cards c ON c.id = p.card_id"
        " WHERE h.imei = %(imei)s),"
        " sqn AS (UPDATE cards SET sqn_seq = cards.sqn_seq + 1 FROM hc"
        f" WHERE cards.id = hc.card_id{' AND ' + ratelimit.PG_NONE_OVER if counted else ''}"
        " RETURNING cards.sqn_seq),"
        " ins AS (INSERT INTO attestations (id, imei, handset_id, card_id, app, rand, nonce,"
        " client, created_at, expires_at, state) SELECT %(id)s, %(imei)s, hc.handset_id,"
        " hc.card_id, %(app)s, %(rand)s, %(nonce)s, %(client)s, %(created_at)s,"
        " %(expires_at)s, 'pending' FROM (SELECT 1) one LEFT JOIN hc ON true"
        f"{' WHERE ' + ratelimit.PG_NONE_OVER if counted else ''})"
        f" SELECT {'(SELECT keys FROM over), (SELECT counts FROM seen), ' if counted else ''}"
        "hc.handset_id, hc.public_key_pem, hc.card_id, hc.iccid, hc.imsi, hc.profile,"
        f" hc.algorithm, hc.k_enc, hc.opc_enc, sqn.sqn_seq FROM {_NO_FLUSH} one"
        " LEFT JOIN hc ON true LEFT JOIN sqn ON true"
    )


_ISSUE = _issue_sql(counted=True)
_ISSUE_UNCOUNTED = _issue_sql(counted=False)
_COUNT_LOAD = (
    f"WITH {ratelimit.PG_COUNT_CTES}"  # noqa: S608 (constant SQL, bound values)
    " SELECT (SELECT keys FROM over), (SELECT counts FROM seen), a.id, a.imei, a.rand,"
    " a.nonce, a.state,"
    " a.expires_at > %(now)s, h.public_key_pem, c.iccid, c.imsi, c.profile, c.algorithm,"
    " c.k_enc, c.opc_enc, e.iccid, e.imsi, eh.imei"
    " FROM (SELECT 1) one"
    " LEFT JOIN attestations a ON a.id = %(att_id)s"
    " LEFT JOIN handsets h ON h.id = a.handset_id"
    " LEFT JOIN cards c ON c.id = a.card_id"
    " LEFT JOIN cards e ON e.iccid = %(iccid)s AND a.id IS NOT NULL"
    " LEFT JOIN pairings ep ON ep.card_id = e.id AND ep.ended_at IS NULL"
    " LEFT JOIN handsets eh ON eh.id = ep.handset_id"
)
_CONSUME = (
    "done AS (UPDATE attestations SET state = 'consumed', appraised_at = %(at)s,"
    " status = %(status)s, reasons = %(reasons)s::json, ear = %(ear)s,"
    " resync_id = %(resync_id)s, iccid = %(iccid)s, imsi = %(imsi)s,"
    " evidence = %(evidence)s::json WHERE id = %(att_id)s AND state = 'pending'"
    " AND expires_at > %(at)s{} RETURNING id)"
)
_RECORD = audit.pg_append_sql(_CONSUME.format(""))
_COUNT_RECORD = audit.pg_append_sql(
    f"{ratelimit.PG_COUNT_CTES}, "
    + _CONSUME.format(f" AND {ratelimit.PG_NONE_OVER}"),
    "SELECT (SELECT keys FROM over), (SELECT counts FROM seen), (SELECT seq FROM appended)")
_EXPIRE = audit.pg_append_sql(
    "done AS (UPDATE attestations SET state = 'expired', appraised_at = %(at)s,"
    " status = %(status)s, reasons = %(reasons)s::json, ear = %(ear)s"
    " WHERE id = %(att_id)s AND state = 'pending' RETURNING id)"
)
_APPEND = audit.pg_append_sql()
_DISCONNECTED = (psycopg.OperationalError, psycopg.InterfaceError)


def _json(value: Any) -> str:
    """JSON text for a ``::json`` parameter."""
    return orjson.dumps(value).decode()


@dataclass(slots=True)
class _Pooled:
    """A connection of the pool, with one cursor per statement: psycopg keeps a cursor's
    type adapters only while it runs the same query again, and looking them up anew
    for every statement was a third of psycopg's time per statement."""

    conn: psycopg.Connection[Any]
    generation: int
    cursors: dict[str, psycopg.Cursor[Any]] = field(default_factory=dict)

    def execute(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        cur = self.cursors.get(sql)
        if cur is None:
            cur = self.cursors[sql] = self.conn.cursor()
        return cur.execute(sql, params).fetchone()


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

    def _execute(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """One statement (its own transaction) on a pooled connection; its first row."""
        try:
            pooled = self._checkout()
        except _DISCONNECTED as exc:
            self._lost()
            raise sa_exc.OperationalError(None, None, exc) from None
        try:
            return pooled.execute(sql, params)
        except _DISCONNECTED as exc:
            if pooled.conn.broken:  # not e.g. a cancelled statement
                self._lost()
            raise sa_exc.OperationalError(None, None, exc) from None
        finally:
            self._checkin(pooled)

    def _one_row(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """The row of a statement that selects from ``(SELECT 1) one``: always exactly one."""
        return cast(tuple[Any, ...], self._execute(sql, params))

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

    def _counted(self, sql: str, params: dict[str, Any], claim: ratelimit.Claim
                 ) -> list[Any]:
        """A statement that starts with ``ratelimit.PG_COUNT_CTES``: counts ``claim``
        (``ratelimit.RateLimited``), then its own columns of the one row."""
        over, counts, *row = self._one_row(sql, {**claim.pg_params(), **params})
        self._shares.settle(claim, counts)
        ratelimit.refuse(over, claim.clock)
        return row

    def issue(self, challenge: NewChallenge, limits: dict[str, int] | None
              ) -> PairedCard | None:
        claim = self._shares.claim(limits, time.time())
        row = self._counted(_ISSUE, challenge.values(), claim) if claim.needed \
            else self._one_row(_ISSUE_UNCOUNTED, challenge.values())
        return None if row[0] is None else PairedCard(*row)

    def load(self, attestation_id: str, evidence_iccid: str, now: dt.datetime,
             limits: dict[str, int] | None) -> StoredChallenge | None:
        row = self._counted(_COUNT_LOAD, {"att_id": attestation_id, "iccid": evidence_iccid,
                                          "now": now}, self._shares.claim(limits, time.time()))
        return None if row[0] is None else StoredChallenge.from_row(row)

    def _write(self, sql: str, params: dict[str, Any]) -> bool:
        return self._execute(sql, params) is not None

    def record(self, attestation_id: str, at: dt.datetime, verdict: Verdict,
               entry: audit.Entry, limits: dict[str, int] | None = None) -> bool:
        params = {
            "att_id": attestation_id, "at": at, "status": verdict.status,
            "reasons": _json(verdict.reasons), "ear": verdict.ear,
            "resync_id": verdict.resync_id, "iccid": verdict.iccid, "imsi": verdict.imsi,
            "evidence": _json(verdict.evidence), **entry.pg_params()}
        claim = self._shares.claim(limits, time.time())
        if not claim.needed:
            return self._write(_RECORD, params)
        return self._counted(_COUNT_RECORD, params, claim)[0] is not None

    def expire(self, attestation_id: str, at: dt.datetime, status: str, reasons: list[str],
               ear: str, entry: audit.Entry) -> bool:
        return self._write(_EXPIRE, {
            "att_id": attestation_id, "at": at, "status": status,
            "reasons": _json(reasons), "ear": ear, **entry.pg_params()})

    def audit(self, entry: audit.Entry) -> None:
        self._write(_APPEND, entry.pg_params())
