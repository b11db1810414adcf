"""Real databases for the service's tests: a SQLite file and a PostgreSQL server.

The PostgreSQL server is Debian's ``postgresql`` 15, started once per test session
by this fixture as the ``postgres`` user (we may be root) in a temporary directory,
listening only on 127.0.0.1 on a free port with its unix socket in that directory,
and stopped by its PID at the end.  Each test gets a fresh database.  A missing
PostgreSQL fails the run with the apt-get line — never a skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from server.core.config import ServiceConfig
from server.core.service import Service

PG_BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL_HINT = "apt-get install -y postgresql  (Debian's PostgreSQL 15)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@dataclass
class PostgresServer:
    """One throw-away PostgreSQL cluster (initdb + postgres) on loopback."""

    root: Path
    port: int = field(default_factory=free_port)
    # Tests throw the data away, so they skip fsync; benchmarks ask for durability.
    durable: bool = False
    _log: Path | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    @classmethod
    def create(cls, durable: bool = False) -> PostgresServer:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"PostgreSQL 15 is not installed; run: {INSTALL_HINT}", pytrace=False)
        root = Path(tempfile.mkdtemp(prefix="simattest-pg-"))
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(root, pg.pw_uid, pg.pw_gid)
        server = cls(root, durable=durable)
        subprocess.run(
            _as_postgres(str(PG_BIN / "initdb"), "-D", str(server.data), "-U", "postgres",
                         "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"),
            check=True, capture_output=True,
        )
        return server

    def start(self) -> None:
        self._log = self.root / "postgres.log"
        settings = ["-c", "max_connections=200"]  # the multi-process tests
        if not self.durable:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                         "-c", "full_page_writes=off"]
        with open(self._log, "ab") as log:
            subprocess.Popen(
                _as_postgres(str(PG_BIN / "postgres"), "-D", str(self.data),
                             "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.root),
                             *settings),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    tail = self._log.read_text(errors="replace")[-2000:]
                    pytest.fail(f"PostgreSQL did not start on port {self.port}:\n{tail}")
                time.sleep(0.1)

    def pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by PID); wait until it has gone."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        while (self.data / "postmaster.pid").exists():
            time.sleep(0.05)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's shared PostgreSQL server."""
    server = PostgresServer.create()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def service_config() -> ServiceConfig:
    """Override in a test module to open the service with other settings."""
    return ServiceConfig()


@pytest.fixture
def service(db_url: str, tmp_path: Path, service_config: ServiceConfig) -> Iterator[Service]:
    """An open service on a fresh data directory and the parametrised database."""
    svc = Service.open(tmp_path / "data", db_url, service_config)
    try:
        yield svc
    finally:
        svc.close()
