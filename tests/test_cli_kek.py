"""Key files made by the tool: ``simattest admin kek create`` (0600, 32 random bytes as
64 hex digits, never overwritten); a key file open to other users or of the wrong size
refused in one line; a bootstrap that fails leaves no data directory behind; ``serve
--create-kek`` makes the ``--kek-file`` on the first start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from server.cli.main import main
from tests.cli_errors import one_line_refusal
from tests.fixtures_db import free_port
from tests.fixtures_pcsc import run_cli_process
from tests.processes import serve_process


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SIMATTEST_CONFIG", "SIMATTEST_DATA", "SIMATTEST_DB", "SIMATTEST_KEK_FILE",
                 "SIMATTEST_KEK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)



def test_kek_create_makes_a_private_key_file_that_bootstraps_a_service(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kek = tmp_path / "kek.key"
    assert main(["admin", "kek", "create", "--out", str(kek)]) == 0
    assert capsys.readouterr().out.strip() == str(kek)
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    content = kek.read_text()
    assert content.endswith("\n") and len(bytes.fromhex(content.strip())) == 32
    assert main(["admin", "kek", "create", "--out", str(tmp_path / "second.key")]) == 0
    assert (tmp_path / "second.key").read_text() != content  # random, not a constant
    capsys.readouterr()
    data = tmp_path / "data"
    assert main(["admin", "token", "create", "--role", "admin", "--data", str(data),
                 "--kek-file", str(kek)]) == 0
    assert not (data / "kek.key").exists()
    capsys.readouterr()
    assert main(["audit", "verify", "--data", str(data), "--kek-file", str(kek)]) == 0


def test_kek_create_never_overwrites(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kek = tmp_path / "kek.key"
    kek.write_text("precious\n")
    err = one_line_refusal(["admin", "kek", "create", "--out", str(kek)], capsys)
    assert str(kek) in err and "refusing to overwrite" in err
    assert kek.read_text() == "precious\n"
    err = one_line_refusal(["admin", "kek", "create", "--out",
                           str(tmp_path / "no-such-dir" / "kek.key")], capsys)
    assert "cannot create it" in err and not (tmp_path / "no-such-dir").exists()


@pytest.mark.parametrize(("content", "mode", "expected"), [
    ("ab" * 32 + "\n", 0o644, "open to other users (mode 0644)"),
    ("ab" * 32 + "\n", 0o640, "open to other users (mode 0640)"),
    ("ab" * 16 + "\n", 0o600, "must be 32 bytes, got 16"),
    ("not hex at all\n", 0o600, "must be 64 hex digits"),
])
def test_a_bad_key_file_is_refused_in_one_line_and_nothing_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, mode: int,
        expected: str) -> None:
    kek = tmp_path / "kek.key"
    kek.write_text(content)
    kek.chmod(mode)
    err = one_line_refusal(["admin", "token", "create", "--role", "admin",
                           "--data", str(tmp_path / "data"), "--kek-file", str(kek)], capsys)
    assert str(kek) in err and expected in err and content.strip() not in err
    # The failed bootstrap left no half-made data directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kek.key"]


def test_a_failed_bootstrap_keeps_an_existing_data_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["admin", "token", "create", "--role", "admin", "--data", str(data)]) == 0
    before = sorted(p.name for p in data.iterdir())
    (tmp_path / "kek.key").write_text("ab" * 32)
    (tmp_path / "kek.key").chmod(0o600)
    capsys.readouterr()
    err = one_line_refusal(["admin", "token", "create", "--role", "admin", "--data", str(data),
                           "--kek-file", str(tmp_path / "kek.key")], capsys)
    assert "does not match" in err
    assert sorted(p.name for p in data.iterdir()) == before


def test_a_missing_key_file_says_how_to_make_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kek = tmp_path / "kek.key"
    err = one_line_refusal(["admin", "token", "create", "--role", "admin",
                           "--data", str(tmp_path / "data"), "--kek-file", str(kek)], capsys)
    assert f"admin kek create --out {kek}" in err
    assert list(tmp_path.iterdir()) == []


def test_serve_create_kek_makes_the_key_file_on_first_start_and_keeps_it(
        tmp_path: Path) -> None:
    kek, data = tmp_path / "etc" / "kek.key", tmp_path / "data"
    kek.parent.mkdir()
    with serve_process(data, tmp_path / "serve.log", ["--kek-file", str(kek), "--create-kek"]):
        content = kek.read_text()
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert len(bytes.fromhex(content.strip())) == 32
    assert not (data / "kek.key").exists()
    # a second start uses the file it made, and so do the other commands
    with serve_process(data, tmp_path / "serve.log", ["--kek-file", str(kek), "--create-kek"]):
        pass
    assert kek.read_text() == content
    assert run_cli_process("audit", "verify", "--data", str(data), "--kek-file",
                           str(kek)).code == 0


def test_serve_create_kek_that_fails_leaves_no_key_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, first = tmp_path / "data", tmp_path / "first.key"
    assert main(["admin", "kek", "create", "--out", str(first)]) == 0
    assert main(["admin", "token", "create", "--role", "admin", "--data", str(data),
                 "--kek-file", str(first)]) == 0
    capsys.readouterr()  # the token
    # a new key for a database written under another one: refused, the new file removed
    second = tmp_path / "second.key"
    done = run_cli_process("serve", "--data", str(data), "--kek-file", str(second),
                           "--create-kek", "--bind", f"127.0.0.1:{free_port()}")
    assert done.code == 2, done.err
    # (serve logs JSON lines before it; the error is its last line)
    assert done.err.splitlines()[-1] == (
        "simattest: key-encryption key does not match the one this database was written "
        "with (check value differs); refusing to start")
    assert not second.exists()


def test_serve_create_kek_needs_a_key_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_refusal(["serve", "--data", str(tmp_path / "data"), "--create-kek",
                           "--bind", f"127.0.0.1:{free_port()}"], capsys)
    assert err == ("simattest: --create-kek: give --kek-file FILE (or SIMATTEST_KEK_FILE, "
                   "or kek_file in the configuration file) for the key file to make\n")
    assert list(tmp_path.iterdir()) == []
