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

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.orm import Session

WINDOW_SECONDS = 60


class RateLimited(Exception):
    """A limit was exceeded: which one, and when the window turns."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"rate limit per {scope} exceeded; retry in {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


@functools.cache
def _upsert(keys: int) -> TextClause:
    """The counting statement for ``keys`` keys, built once.

    Written as SQL text on purpose: SQLAlchemy's dialect ``INSERT … ON CONFLICT`` construct
    has no cache key, so it would be compiled anew on every request; this text is the
    same on SQLite and PostgreSQL (both quote identifiers with double quotes, and
    ``window`` is a reserved word in PostgreSQL).
    """
    rows = ", ".join(f"(:k{i}, :window, 1)" for i in range(keys))
    return text(
        f'INSERT INTO rate_counters ("key", "window", "count") VALUES {rows} '  # noqa: S608
        'ON CONFLICT ("key") DO UPDATE SET '
        '"count" = CASE WHEN rate_counters."window" = excluded."window" '
        'THEN rate_counters."count" + 1 ELSE 1 END, '
        '"window" = excluded."window" '
        'RETURNING "key", "count"'
    )


def count(session: Session | Connection, limits: dict[str, int] | None,
          now: float | None = None) -> None:
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
    counts = {key: n for key, n in session.execute(_upsert(len(active)), params)}
    for key, limit in active.items():
        if counts.get(key, 0) > limit:
            raise RateLimited(key.partition(":")[0],
                              WINDOW_SECONDS - int(now % WINDOW_SECONDS))
