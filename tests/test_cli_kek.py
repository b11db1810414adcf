"""Key files made by the tool: ``simattest admin kek create`` (0600, 32 random bytes as
64 hex digits, never overwritten); a key file open to other users or of the wrong size
refused in one line; a bootstrap that fails leaves no data directory behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from server.cli.main import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SIMATTEST_CONFIG", "SIMATTEST_DATA", "SIMATTEST_DB", "SIMATTEST_KEK_FILE",
                 "SIMATTEST_KEK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


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
    err = _one_line_error(["admin", "kek", "create", "--out", str(kek)], capsys)
    assert str(kek) in err and "refusing to overwrite" in err
    assert kek.read_text() == "precious\n"
    err = _one_line_error(["admin", "kek", "create", "--out",
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
    err = _one_line_error(["admin", "token", "create", "--role", "admin",
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
    err = _one_line_error(["admin", "token", "create", "--role", "admin", "--data", str(data),
                           "--kek-file", str(tmp_path / "kek.key")], capsys)
    assert "does not match" in err
    assert sorted(p.name for p in data.iterdir()) == before


def test_a_missing_key_file_says_how_to_make_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kek = tmp_path / "kek.key"
    err = _one_line_error(["admin", "token", "create", "--role", "admin",
                           "--data", str(tmp_path / "data"), "--kek-file", str(kek)], capsys)
    assert f"admin kek create --out {kek}" in err
    assert list(tmp_path.iterdir()) == []
