"""Fixed-window rate limits on the device-facing endpoints, shared by every process.

The counters live in the database (``rate_counters``) so that all gunicorn workers and
all hosts on one PostgreSQL see the same counts; an in-process counter would let a
client multiply its allowance by the number of workers.  Each request counts once, at
its start, with one upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, on SQLite ≥
3.35 and PostgreSQL) before any of its work is done, so an over-limit client costs the
service one statement.  On PostgreSQL the count is a CTE of the request's first
statement (``server.store.hotpath_postgres``), whose transaction commits without
waiting for a disk flush (the counters are an unlogged table, migration 0003): the
counter row of an address that many handsets share is locked for microseconds, and a
refused request counts too.  On SQLite the count is part of the request's write transaction,
which a refusal rolls back.
"""

from __future__ import annotations

import functools
import time
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    case,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import sqlite

from server.store.models_attestation import RateCounter

WINDOW_SECONDS = 60
_COUNTERS = cast(Table, RateCounter.__table__)


class RateLimited(Exception):
    """A limit was exceeded: which one, and when the window turns."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"rate limit per {scope} exceeded; retry in {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


@functools.cache
def _upsert(keys: int) -> Any:
    """SQLite: the counting statement for ``keys`` keys, built once.

    The rows come from ``SELECT … UNION ALL SELECT …`` rather than a multi-row VALUES:
    SQLAlchemy caches the compiled form only of the former (a multi-row VALUES has no
    cache key and would be compiled on every request).  ``WHERE true`` is what SQLite
    needs to parse an upsert from a SELECT.
    """
    rows = union_all(*(
        select(bindparam(f"k{i}", type_=String()), bindparam("now_window", type_=BigInteger()),
               literal(1, Integer())).where(true())
        for i in range(keys)))
    stmt = sqlite.insert(_COUNTERS).from_select(["key", "window", "count"], rows)
    return stmt.on_conflict_do_update(
        index_elements=[_COUNTERS.c.key],
        set_={"count": case((_COUNTERS.c.window == stmt.excluded.window,
                             _COUNTERS.c.count + 1), else_=1),
              "window": stmt.excluded.window},
    ).returning(_COUNTERS.c.key, _COUNTERS.c.count)


# PostgreSQL, on the driver (``server.store.hotpath_postgres``): CTEs that count
# ``%(keys)s`` (text[], in key order, so two requests lock the rows in the same order)
# and name the keys over their ``%(limits)s`` (int[]) in ``over.keys``; the request's
# own statement follows them.
PG_COUNT_CTES = (
    'counted AS (INSERT INTO rate_counters (key, "window", count)'
    " SELECT k, %(now_window)s, 1 FROM unnest(%(keys)s::text[]) AS k ORDER BY k"
    ' ON CONFLICT (key) DO UPDATE SET count = CASE WHEN rate_counters."window" ='
    ' excluded."window" THEN rate_counters.count + 1 ELSE 1 END,'
    ' "window" = excluded."window" RETURNING key, count),'
    " over AS (SELECT coalesce(array_agg(c.key ORDER BY c.key), '{}') AS keys FROM counted c"
    " JOIN unnest(%(keys)s::text[], %(limits)s::int[]) AS l(key, lim) ON l.key = c.key"
    " WHERE c.count > l.lim)"
)


def pg_params(limits: dict[str, int], now: float) -> dict[str, Any]:
    """The parameters of ``PG_COUNT_CTES`` for ``active`` limits."""
    return {"keys": list(limits), "limits": list(limits.values()),
            "now_window": window(now)}


def active(limits: dict[str, int] | None) -> dict[str, int]:
    """The limits that count (a limit of 0 disables its key), in key order."""
    return {key: limit for key, limit in sorted((limits or {}).items()) if limit > 0}


def window(now: float) -> int:
    return int(now // WINDOW_SECONDS)


def refuse(over: list[str], now: float) -> None:
    """Raise RateLimited naming the first of the keys ``over`` their limit, if any."""
    if over:
        raise RateLimited(over[0].partition(":")[0], WINDOW_SECONDS - int(now % WINDOW_SECONDS))


def count(conn: Connection, limits: dict[str, int] | None, now: float | None = None) -> None:
    """SQLite: count one request against each ``{key: limit per minute}``; raise
    RateLimited.  Runs in the caller's write transaction, so a refused request rolls
    back with nothing written.
    """
    keys = active(limits)
    if not keys:
        return
    now = time.time() if now is None else now
    params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(keys)}
    params["now_window"] = window(now)
    counts = conn.execute(_upsert(len(keys)), params)
    refuse([key for key, n in sorted(counts) if n > keys[key]], now)
