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
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Executable,
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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

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
def _upsert(dialect: str, keys: int) -> Any:
    """The counting statement for ``keys`` keys on ``dialect``, built once.

    The rows come from ``SELECT … UNION ALL SELECT …`` rather than a multi-row VALUES:
    SQLAlchemy caches the compiled form only of the former (a multi-row VALUES has no
    cache key and would be compiled on every request).  ``WHERE true`` is what SQLite
    needs to parse an upsert from a SELECT.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = union_all(*(
        select(bindparam(f"k{i}", type_=String()), bindparam("now_window", type_=BigInteger()),
               literal(1, Integer())).where(true())
        for i in range(keys)))
    stmt = insert(_COUNTERS).from_select(["key", "window", "count"], rows)
    return stmt.on_conflict_do_update(
        index_elements=[_COUNTERS.c.key],
        set_={"count": case((_COUNTERS.c.window == stmt.excluded.window,
                             _COUNTERS.c.count + 1), else_=1),
              "window": stmt.excluded.window},
    ).returning(_COUNTERS.c.key, _COUNTERS.c.count)


@functools.cache
def _upsert_along(keys: int, along: UpdateBase) -> Executable:
    """PostgreSQL: ``along`` (another INSERT/UPDATE of the request) and the counting in
    one statement — ``along`` as a data-modifying CTE, run even though unreferenced."""
    counted = _upsert("postgresql", keys).cte("counted")
    return select(counted.c.key, counted.c.count).add_cte(along.cte("along"))


def count(session: Session | Connection, limits: dict[str, int] | None,
          now: float | None = None, along: tuple[UpdateBase, dict[str, Any]] | None = None,
          ) -> None:
    """Count one request against each ``{key: limit per minute}``; raise RateLimited.

    Runs in the caller's transaction, late, so a counter row is locked only from here to
    the commit; a refused request rolls the whole transaction back (nothing
    half-written, the refusal itself not counted).  A limit of 0 disables that key.
    Keys are sorted so concurrent callers lock the counter rows in the same order (no
    deadlock on PostgreSQL).  ``along`` is the caller's own write (a prebuilt statement
    with its parameters, names distinct from ``k<n>``/``now_window``), made in the same
    round trip on PostgreSQL, just before the counting on SQLite.
    """
    active = {key: limit for key, limit in sorted((limits or {}).items()) if limit > 0}
    bind = session if isinstance(session, Connection) else session.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if along is not None and not (active and postgres):
        session.execute(*along)
    if not active:
        return
    now = time.time() if now is None else now
    params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(active)}
    params["now_window"] = int(now // WINDOW_SECONDS)
    if along is not None and postgres:
        stmt = _upsert_along(len(active), along[0])
        params.update(along[1])
    else:
        stmt = _upsert(bind.dialect.name, len(active))
    counts = {key: n for key, n in session.execute(stmt, params)}
    for key, limit in active.items():
        if counts.get(key, 0) > limit:
            raise RateLimited(key.partition(":")[0],
                              WINDOW_SECONDS - int(now % WINDOW_SECONDS))
