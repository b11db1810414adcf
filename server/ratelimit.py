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

import time
from dataclasses import dataclass

from sqlalchemy import case, text
from sqlalchemy.dialects import postgresql, sqlite

from server.context import Service
from server.store.models_attestation import RateCounter

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class RateLimited(Exception):
    """A limit was exceeded: which one, and when the window turns."""

    scope: str
    retry_after: int


def hit(svc: Service, limits: dict[str, int], now: float | None = None) -> None:
    """Count one request against each ``{key: limit per minute}``; raise RateLimited.

    A limit of 0 disables that key.  Keys are sorted so concurrent callers lock the
    counter rows in the same order (no deadlock on PostgreSQL).
    """
    active = {key: limit for key, limit in sorted(limits.items()) if limit > 0}
    if not active:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    dialect = svc.db.dialect
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(RateCounter).values(
        [{"key": key, "window": window, "count": 1} for key in active]
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[RateCounter.key],
        set_={
            "count": case((RateCounter.window == stmt.excluded.window, RateCounter.count + 1),
                          else_=1),
            "window": stmt.excluded.window,
        },
    ).returning(RateCounter.key, RateCounter.count)
    with svc.db.session() as session:
        if dialect == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit = off"))
        counts: dict[str, int] = {key: count for key, count in session.execute(upsert)}
    for key, limit in active.items():
        if counts.get(key, 0) > limit:
            raise RateLimited(key.partition(":")[0],
                              WINDOW_SECONDS - int(now % WINDOW_SECONDS))
