"""Fixed-window rate limits on the device-facing endpoints, shared by every process.

The counters live in the database (``rate_counters``) so that all gunicorn workers and
all hosts on one PostgreSQL see the same counts; an in-process counter would let a
client multiply its allowance by the number of workers.  Each request counts at its
start, before any of its work is done, with an upsert (``INSERT … ON CONFLICT DO UPDATE
… RETURNING``, on SQLite ≥ 3.35 and PostgreSQL), so an over-limit client costs the
service one statement.

On PostgreSQL (``server.store.attestations_pg``) CTEs at the start of the request's
first statement count it (the ``_COUNTED`` statements of
``server.store.attestations_pg_sql``), whose transaction commits without waiting for a
disk flush (the counters are an unlogged table, migration 0003), and a refused request
counts too.  A process takes a key's allowance a share at a time (``Shares``): the
upsert adds a share of several requests, which the process then hands out to its own
requests without asking the database again.  A share is a sixteenth of what the key had left
when it was taken, at most ``MAX_SHARE``; a limit under 32 a minute (the per-IMEI one,
30 by default) is therefore counted request by request, exactly.  The limit is never
exceeded; what a process still holds when its traffic stops is not used by another,
so a client can be refused when it has used all but about one share per process —
a small fraction of a large limit, the price of counting once per share instead of
once per request (a shared address's counter row was locked by every request: under
load that row was where they queued).

On SQLite the count is part of the request's write transaction, one per request,
which a refusal rolls back.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
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

from server.store.models import RateCounter

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


# The largest share a process takes at once (requests).
MAX_SHARE = 1000
# A share is this fraction of what is left of the key's allowance.
SHARE_DIVISOR = 16


@dataclass(slots=True)
class _Held:
    """A share held in ``Shares``'s current window (older ones are dropped)."""

    left: int  # requests this process may still let through in ``window``
    seen: int  # the key's count in the database after this process's last share


@dataclass(slots=True)
class Claim:
    """What one request needs from the database: a share for each of ``needed``."""

    window: int
    clock: float  # time.time() when the request was counted
    needed: dict[str, int] = field(default_factory=dict)  # key: share, in key order
    limits: dict[str, int] = field(default_factory=dict)  # of the needed keys
    taking: set[str] = field(default_factory=set)  # needed keys this claim takes a share of
    covered: list[str] = field(default_factory=list)  # keys counted from held shares

    def pg_params(self) -> dict[str, Any]:
        """The parameters of the counting CTEs of ``server.store.attestations_pg_sql``."""
        return {"keys": list(self.needed), "shares": list(self.needed.values()),
                "limits": list(self.limits.values()), "now_window": self.window}


class Shares:
    """One process's shares of each key's allowance in the current window (see the
    module docstring).  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}
        self._taking: set[str] = set()  # keys a request of this process is taking a share of
        self._window = -1

    def claim(self, limits: dict[str, int] | None, now: float) -> Claim:
        """Count one request against each of ``active(limits)``: from a share this
        process holds where it can, else the key goes into the claim."""
        claim = Claim(window(now), now)
        with self._lock:
            if claim.window != self._window:  # shares are per window
                self._held.clear()
                self._taking.clear()
                self._window = claim.window
            for key, limit in active(limits).items():
                held = self._held.get(key)
                if held is not None and held.left > 0:
                    held.left -= 1
                    claim.covered.append(key)
                    continue
                claim.limits[key] = limit
                if key in self._taking:
                    # Another thread is taking this key's share: count this request on
                    # its own rather than take a second share, so that a process never
                    # holds more than one share it might leave unused.
                    claim.needed[key] = 1
                    continue
                seen = 0 if held is None else held.seen
                claim.needed[key] = max(1, min(MAX_SHARE, (limit - seen) // SHARE_DIVISOR))
                claim.taking.add(key)
                self._taking.add(key)
        return claim

    def settle(self, claim: Claim, counts: list[int | None]) -> None:
        """Add what is left of the shares the database granted (``counts``: the keys'
        new counts, in key order; None where a key was not counted) to what this
        process holds — concurrent requests' shares add up, none overwrites another's;
        this request takes one of each."""
        with self._lock:
            self._taking -= claim.taking
            if claim.window != self._window:
                return
            for (key, share), count in zip(claim.needed.items(), counts, strict=True):
                if count is None:
                    continue
                granted = min(share, claim.limits[key] - (count - share))
                held = self._held.setdefault(key, _Held(0, count))
                held.left += max(0, granted - 1)
                held.seen = max(held.seen, count)

    def abandon(self, claim: Claim) -> None:
        """The request failed before the database answered: others may take its shares."""
        with self._lock:
            self._taking -= claim.taking

    def give_back_per_imei(self, claim: Claim) -> None:
        """Return to the held shares what ``claim`` took from them for per-IMEI keys:
        the request turned out not to be the handset's (a replay)."""
        with self._lock:
            if claim.window != self._window:
                return
            for key in claim.covered:
                if _is_imei(key):
                    self._held[key].left += 1


# The scope of the per-IMEI keys (``imei:<IMEI>``), counted only for a request the
# handset's device key signed (``server.store.attestations_pg_sql`` knows it too).
IMEI_SCOPE = "imei"


def _is_imei(key: str) -> bool:
    return key.partition(":")[0] == IMEI_SCOPE


def per_client(limits: dict[str, int] | None) -> dict[str, int] | None:
    """``limits`` without the per-IMEI ones: for a request the handset did not sign."""
    return None if limits is None else {k: n for k, n in limits.items() if not _is_imei(k)}


def per_imei(limits: dict[str, int] | None) -> dict[str, int] | None:
    """Only the per-IMEI ones: for a request counted per client already."""
    return None if limits is None else {k: n for k, n in limits.items() if _is_imei(k)}


def for_imei(limits: dict[str, int] | None, imei: str) -> dict[str, int] | None:
    """``limits`` with their per-IMEI ones counted for ``imei``: the handset whose key
    proved the request, whatever IMEI its body names."""
    return None if limits is None else {
        (f"{IMEI_SCOPE}:{imei}" if _is_imei(k) else k): n for k, n in limits.items()}


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
