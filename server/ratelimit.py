"""Fixed-window rate limits on the device-facing endpoints, shared by every process.

The counters live in the database (``rate_counters``) so that all gunicorn workers and
all hosts on one PostgreSQL see the same counts; an in-process counter would let a
client multiply its allowance by the number of workers.  Each request is one upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``, on SQLite ≥ 3.35 and PostgreSQL) inside
the request's own transaction — no extra transaction or round trips per request.
Trade-off: an over-limit request is refused after its work was done (and rolled back),
so the limit bounds what a client gets, not the CPU it can make the service spend.
"""

from __future__ import annotations

import functools
import time
from typing import cast

from sqlalchemy import Table, bindparam, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

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


def count(session: Session, limits: dict[str, int] | None, now: float | None = None) -> None:
    """Count one request against each ``{key: limit per minute}``; raise RateLimited.

    Runs in the caller's transaction, as its last statement before the audit entry, so
    a counter row is locked only from here to the commit; a refused request rolls the
    whole transaction back (nothing half-written, the refusal itself not counted).
    A limit of 0 disables that key.  Keys are sorted so concurrent callers lock the
    counter rows in the same order (no deadlock on PostgreSQL).
    """
    active = {key: limit for key, limit in sorted((limits or {}).items()) if limit > 0}
    if not active:
        return
    now = time.time() if now is None else now
    params: dict[str, object] = {f"k{i}": key for i, key in enumerate(active)}
    params["window"] = int(now // WINDOW_SECONDS)
    dialect = session.get_bind().dialect.name
    counts = {key: n for key, n in session.execute(_upsert(dialect, len(active)), params)}
    for key, limit in active.items():
        if counts.get(key, 0) > limit:
            raise RateLimited(key.partition(":")[0],
                              WINDOW_SECONDS - int(now % WINDOW_SECONDS))
