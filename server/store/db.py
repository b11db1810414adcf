"""Database engine and sessions for SQLite (embedded default) and PostgreSQL (scale-out).

SQLite runs in WAL mode with foreign keys on and a busy timeout.  pysqlite's own
transaction handling is switched off so that write sessions can start with
``BEGIN IMMEDIATE``: the database write lock is then taken at the start of the
transaction, so a read-then-write transaction never fails half way with
SQLITE_BUSY and serialises correctly against other processes
(https://www.sqlite.org/lang_transaction.html).  PostgreSQL uses READ COMMITTED;
state changes that must happen at most once are single conditional UPDATEs or
take a row lock (``SELECT … FOR UPDATE``).
"""

from __future__ import annotations

import select
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "simattest_sqlite_begin"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN
    # cannot be IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Busy timeout first: switching to WAL needs a lock another process may hold.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting as long as the busy timeout allows.

    Switching a new database file to WAL needs an exclusive lock, and SQLite answers
    "database is locked" at once instead of calling the busy handler: several processes
    starting on one new file (gunicorn workers) would otherwise fail now and then.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


# libpq connection parameters (https://www.postgresql.org/docs/15/libpq-connect.html)
# used unless the database URL sets them: a database host that stops answering —
# powered off, partitioned, a firewall dropping packets — fails the request with a 503
# instead of holding a worker thread until the kernel gives up (hours): give up
# connecting after 10 s; probe an idle or waiting connection after 30 s of silence
# (keepalives, every 10 s, 3 unanswered probes and it is dead); and drop a connection
# whose sent data stays unacknowledged for 30 s.  (Unix-domain sockets ignore the TCP
# ones.)
PG_CONNECT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30,
    "keepalives_interval": 10, "keepalives_count": 3, "tcp_user_timeout": 30_000,
}


def pg_connect_defaults(url: str) -> dict[str, Any]:
    """The ``PG_CONNECT_DEFAULTS`` that ``url``'s query does not set itself."""
    given = make_url(url).query
    return {key: value for key, value in PG_CONNECT_DEFAULTS.items() if key not in given}


def dropped_by_server(fileno: int) -> bool:
    """Whether the PostgreSQL connection idle on socket ``fileno`` has been ended by the
    server.

    An idle connection has nothing to read until it sends a query, so anything readable
    is the server speaking unasked: in practice the FATAL it sends before closing
    (restart, shutdown, failover, ``pg_terminate_backend``) or the close itself.  One
    ``poll`` with no timeout: far cheaper than a round trip (``pool_pre_ping``).
    """
    poller = select.poll()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


def _pg_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # SQLAlchemy's pool answers DisconnectionError by connecting afresh (and retrying).
    if dropped_by_server(dbapi_connection.fileno()):
        raise sa_exc.DisconnectionError("the server ended this pooled connection")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings simattest relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # A pooled connection the server ended while it was idle (a restart) is replaced at
    # checkout (``dropped_by_server``), so the first request after a restart succeeds.
    # One dropped during a request fails that request with a clean 503 (nothing
    # half-written: the transaction never committed), and SQLAlchemy's disconnect
    # handling then discards every pooled connection older than the failure.
    engine = create_engine(url, pool_size=10, max_overflow=20,
                           connect_args=pg_connect_defaults(url))
    event.listen(engine, "checkout", _pg_checkout)
    return engine


class Database:
    """The engine plus two session factories: read-write (default) and read-only."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        reader_engine = self.engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        self._reader = sessionmaker(reader_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read-write transaction: commit on success, roll back on any error.

        On SQLite it holds the database write lock from its first statement.
        """
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A read-write transaction on a Core connection, as ``session()`` but without the
        ORM unit of work (the attestation hot path: prebuilt statements only)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A transaction for queries only (SQLite: no write lock, readers run in parallel)."""
        with self._reader() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
