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

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
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


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings simattest relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pool_pre_ping: it costs a round trip on every checkout of a connection.  A
    # connection the server dropped (restart, failover) fails its request with a clean
    # 503 (nothing half-written: the transaction never committed), and SQLAlchemy's
    # disconnect handling then discards every pooled connection older than the failure,
    # so the next request connects afresh.
    return create_engine(url, pool_size=10, max_overflow=20)


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
