"""Fixed-window rate limits on the device-facing endpoints, shared by every process.

The counters live in the database (``rate_counters``) so that all gunicorn workers and
all hosts on one PostgreSQL see the same counts; an in-process counter would let a
client multiply its allowance by the number of workers.  Each request is one upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``, on SQLite ≥ 3.35 and PostgreSQL) in
its own short transaction, so a hot counter row is locked only for that statement;
on PostgreSQL that transaction commits with ``synchronous_commit = off`` (a counter
lost in a crash costs nothing).  Refused requests count too, so a client that keeps
hammering stays refused until the window turns.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, case, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert

from server.context import Service
from server.store.models_attestation import RateCounter

WINDOW_SECONDS = 60
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
_COUNTERS = cast(Table, RateCounter.__table__)


@dataclass(frozen=True, slots=True)
class RateLimited(Exception):
    """A limit was exceeded: which one, and when the window turns."""

    scope: str
    retry_after: int


@functools.cache
def _upsert(dialect: str, keys: int) -> ReturningInsert[str, int]:
    """The counting statement for ``keys`` keys, built once (its compiled form is cached)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The Table, not the mapped class: a parameter dict must bind, not become ORM rows.
    stmt = insert(_COUNTERS).values(
        [{"key": bindparam(f"k{i}"), "window": bindparam("window"), "count": 1}
         for i in range(keys)]
    )
    return stmt.on_conflict_do_update(
        index_elements=[_COUNTERS.c.key],
        set_={
            "count": case((_COUNTERS.c.window == stmt.excluded.window, _COUNTERS.c.count + 1),
                          else_=1),
            "window": stmt.excluded.window,
        },
    ).returning(_COUNTERS.c.key, _COUNTERS.c.count)


def hit(svc: Service, limits: dict[str, int], now: float | None = None) -> None:
    """Count one request against each ``{key: limit per minute}``; raise RateLimited.

    A limit of 0 disables that key.  Keys are sorted so concurrent callers lock the
    counter rows in the same order (no deadlock on PostgreSQL).
    """
    active = {key: limit for key, limit in sorted(limits.items()) if limit > 0}
    if not active:
        return
    now = time.time() if now is None else now
    params: dict[str, object] = {f"k{i}": key for i, key in enumerate(active)}
    params["window"] = int(now // WINDOW_SECONDS)
    # A bare connection, not an ORM session: this runs on every device request.
    with svc.db.engine.begin() as conn:
        if svc.db.dialect == "postgresql":
            conn.execute(_ASYNC_COMMIT)
        counts = {key: count for key, count in
                  conn.execute(_upsert(svc.db.dialect, len(active)), params)}
    for key, limit in active.items():
        if counts.get(key, 0) > limit:
            raise RateLimited(key.partition(":")[0],
                              WINDOW_SECONDS - int(now % WINDOW_SECONDS))
