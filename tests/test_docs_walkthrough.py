"""The walk-throughs of ``README.md`` (the embedded default) and ``docs/operations.md``
run as written: the command blocks marked ``<!-- walkthrough: NAME -->`` are taken from
the documents and run with ``bash -e``, in order, in a fresh directory, against what
they expect to be running — ``serve`` started from its own block in the background, the
example card in the first reader of the tests' pcscd.  A document whose commands no
longer run fails here."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests

from tests.fixtures_db import PostgresServer
from tests.fixtures_pcsc import CardSlots

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^<!-- walkthrough: (?P<name>[\w-]+)[^\n]*-->\n```sh\n(?P<body>.*?)^```$",
                   re.S | re.M)
README_ADDRESS = ("127.0.0.1", 8080)  # the walk-throughs' serve --bind
TLS_ADDRESS = ("127.0.0.1", 8443)


def walkthrough(document: str) -> dict[str, str]:
    """The document's marked blocks by name, in the document's order."""
    blocks: dict[str, str] = {}
    for match in BLOCK.finditer((ROOT / document).read_text("utf-8")):
        assert match["name"] not in blocks, f"{document}: two walk-through blocks {match['name']}"
        blocks[match["name"]] = match["body"]
    return blocks


def clean_env(home: Path) -> dict[str, str]:
    """This environment (the tests' pcscd socket) without any simattest setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMATTEST_")}
    env["HOME"] = str(home)
    return env


def repository_copy(cwd: Path) -> Path:
    """A directory that looks like the repository to the blocks (they use ``.venv/bin``
    and ``card_profiles/examples``) and where what they write lands."""
    cwd.mkdir()
    for name in (".venv", "card_profiles"):
        (cwd / name).symlink_to(ROOT / name)
    return cwd


def run_block(body: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", body], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@contextmanager
def background(body: str, cwd: Path, env: Mapping[str, str], log: Path,
               health: str, ca: Path | None = None) -> Iterator[None]:
    """``body`` running as a background job until the service answers ``health``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", "-e", "-c", body], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(health, timeout=5, verify=str(ca) if ca else True
                                    ).status_code == 200:
                        break
                except requests.RequestException:  # not up yet
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the service did not come up"
                time.sleep(0.2)
            yield
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def assert_port_free(address: tuple[str, int]) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            pytest.fail(f"the walk-through's address {address} is in use ({exc.strerror}): "
                        "the walk-through needs it")


def test_readme_embedded_default_walkthrough(tmp_path: Path, pcsc_cards: CardSlots) -> None:
    blocks = walkthrough("README.md")
    assert list(blocks) == ["readme-serve", "readme"]
    card = pcsc_cards.insert(ROOT / "card_profiles" / "examples" / "ps-001.yaml")
    assert card.slot == 0, "the walk-through reads the card in the first reader (pcsc:0)"
    assert_port_free(README_ADDRESS)
    cwd, env = repository_copy(tmp_path / "checkout"), clean_env(tmp_path)
    with background(blocks["readme-serve"], cwd, env, tmp_path / "serve.log",
                    "http://127.0.0.1:8080/healthz"):
        done = run_block(blocks["readme"], cwd, env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for expected in ("imported 5 of 5 cards from vendor-batch.out (vendor-out)",
                     "removed card 8900101000000000068 from the pool",
                     "pcsc:0\t8900101000000000019\tverified\tself-check AKA passed",
                     "verdict\tAFFIRMING",
                     "user\tOfficer J. Doe",
                     "returned_by\toperator:2:desk 1",
                     "chain\tintact"):
        assert expected in lines, f"{expected!r} not in the walk-through's output"
    assert sorted(p.name for p in cwd.iterdir()) == [
        ".venv", "card_profiles", "handset-1.pem", "handset-1.pub.pem", "simattest-data"]


def test_operations_postgresql_walkthrough(tmp_path: Path, pcsc_cards: CardSlots,
                                           postgres_server: PostgresServer) -> None:
    blocks = walkthrough("docs/operations.md")
    assert list(blocks) == ["pg-setup", "pg-serve", "pg", "pg-restore", "tls-setup",
                            "tls-serve", "tls"]
    assert not Path("/etc/simattest/simattest.toml").exists(), \
        "this host's /etc/simattest/simattest.toml would be found before ./simattest.toml"
    pcsc_cards.insert(ROOT / "card_profiles" / "examples" / "ps-001.yaml")
    assert_port_free(README_ADDRESS)
    assert_port_free(TLS_ADDRESS)
    cwd = repository_copy(tmp_path / "checkout")
    # libpq's own variables lead the blocks' postgres tools and URLs (no port in them)
    # to the tests' PostgreSQL, as they would lead them to a host's cluster.
    env = clean_env(tmp_path) | {"PGHOST": str(postgres_server.root),
                                 "PGPORT": str(postgres_server.port)}
    try:
        setup = run_block(blocks["pg-setup"], cwd, env)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        with background(blocks["pg-serve"], cwd, env, tmp_path / "serve.log",
                        "http://127.0.0.1:8080/healthz"):
            done = run_block(blocks["pg"], cwd, env)
        assert done.returncode == 0, done.stdout + done.stderr
        restored = run_block(blocks["pg-restore"], cwd, env)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        tls_setup = run_block(blocks["tls-setup"], cwd, env)
        assert tls_setup.returncode == 0, tls_setup.stdout + tls_setup.stderr
        with background(blocks["tls-serve"], cwd, env, tmp_path / "serve-tls.log",
                        "https://localhost:8443/healthz", ca=cwd / "tls" / "ca.pem"):
            tls = run_block(blocks["tls"], cwd, env)
        assert tls.returncode == 0, tls.stdout + tls.stderr
    finally:
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            for name in ("simattest", "simattest_restored"):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS simattest")
    assert "choose-a-password" not in setup.stdout + done.stdout
    lines = done.stdout.splitlines()
    for expected in ("imported 5 of 5 cards from vendor-batch.out (vendor-out)",
                     "verdict\tAFFIRMING",
                     "returned_by\toperator:2:desk 1",
                     "chain\tintact",
                     "database\tpostgresql"):
        assert expected in lines, f"{expected!r} not in the walk-through's output"
    assert (cwd / "simattest.dump").read_bytes().startswith(b"PGDMP")
    # the restored audit log has the head of the backed-up one
    heads = [line for line in done.stdout.splitlines() if line.startswith("head ")]
    assert [line for line in restored.stdout.splitlines() if line.startswith("head ")] \
        == heads
    # over mutual TLS, with the handset's device certificate
    assert "verdict\tAFFIRMING" in tls.stdout.splitlines()
    assert "device-356938030000013.pem" in tls.stdout
