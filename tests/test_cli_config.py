"""The configuration file through ``simattest`` itself: ``config check``, the order flag >
environment > file > default, and each kind of bad file refused in one line, exit 2,
before anything is created."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from server.cli.main import main

_PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SIMATTEST_CONFIG", "SIMATTEST_DATA", "SIMATTEST_DB", "SIMATTEST_KEK_FILE",
                 "SIMATTEST_KEK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./simattest.toml but the test's own


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_check_prints_the_settings_in_effect_with_the_password_masked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "db-password", _PASSWORD + "\n")
    config = _write(tmp_path / "site.toml", f"""
data_dir = "{tmp_path}/data"
kek_file = "/etc/simattest/kek.key"
[database]
url = "postgresql+psycopg://simattest@db.example/simattest"
password_file = "{tmp_path}/db-password"
[server]
bind = "0.0.0.0:8443"
trusted_proxies = ["10.0.0.0/24"]
[service]
card_verification = "require"
rate_limit_per_imei = 12
""")
    assert main(["config", "check", "--config", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    assert _PASSWORD not in out
    shown = json.loads(out)
    assert shown["database"] == "postgresql+psycopg://simattest:***@db.example/simattest"
    assert shown["data_dir"] == f"{tmp_path}/data"
    assert shown["kek_file"] == "/etc/simattest/kek.key"
    assert shown["server.bind"] == "0.0.0.0:8443"
    assert shown["server.trusted_proxies"] == ["10.0.0.0/24"]
    assert shown["server.workers"] == 2  # not in the file: the default
    assert shown["service.card_verification"] == "require"
    assert shown["service.rate_limit_per_imei"] == 12
    assert shown["service.rate_limit_per_client"] == 600


def test_environment_overrides_the_file_and_the_flag_overrides_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "simattest.toml", f'data_dir = "{tmp_path}/from-file"\n')
    assert main(["config", "check", "--json"]) == 0  # ./simattest.toml found by default
    assert json.loads(capsys.readouterr().out)["data_dir"] == f"{tmp_path}/from-file"
    monkeypatch.setenv("SIMATTEST_DATA", str(tmp_path / "from-env"))
    assert main(["config", "check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == f"{tmp_path}/from-env"
    assert main(["admin", "token", "create", "--role", "admin",
                 "--data", str(tmp_path / "from-flag")]) == 0
    assert (tmp_path / "from-flag").is_dir()
    assert not (tmp_path / "from-env").exists() and not (tmp_path / "from-file").exists()


def test_simattest_config_names_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path / "elsewhere.toml", "[service]\nind_slot = 7\n")
    monkeypatch.setenv("SIMATTEST_CONFIG", str(config))
    assert main(["config", "check", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config_file"] == str(config) and shown["service.ind_slot"] == 7


@pytest.mark.parametrize(("text", "password_mode", "expected"), [
    ("data_dir = [unclosed", None, "not TOML"),
    ('data_dir = "/x"\nbind = "0.0.0.0:80"\n', None, "bind: unknown key"),
    ('[server]\nworkers = "two"\n', None, "server.workers: input should be a valid integer"),
    ('[service]\ncard_verification = "maybe"\n', None, "service.card_verification"),
    ('[service]\nind_slot = 40\n', None, "service.ind_slot: must be 0..31"),
    ('[idms]\nalias_count = 99\n', None, "idms.alias_count: must be 0..16"),
    ('[idms]\ncode_seconds = 600\n', None, "idms.code_seconds: must be 1..60"),
    ('[idms]\nmcptt_domain = "Bad Domain"\n', None, "idms.mcptt_domain: expected a "),
    ('[idms]\nregistrar = "pcscf:port"\n', None, "idms.registrar: expected host"),
    ('[idms]\nenabled = "yes"\n', None, "idms.enabled: input should be a valid boolean"),
    ('[database]\nurl = "db.example/simattest"\n', None,
     "database.url: not a database URL"),
    ('[database]\nurl = "postgresql+psycopg://u@h/d"\npassword_file = "{pw}"\n', None,
     "database.password_file"),
    ('[database]\nurl = "postgresql+psycopg://u@h/d"\npassword_file = "{pw}"\n', 0o644,
     "readable by every user"),
])
def test_a_bad_file_is_one_line_naming_file_and_key_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
        password_mode: int | None, expected: str) -> None:
    password = tmp_path / "db-password"
    if password_mode is not None:
        _write(password, _PASSWORD, password_mode)
    config = _write(tmp_path / "bad.toml", text.replace("{pw}", str(password)))
    for argv in (["config", "check"], ["admin", "token", "create", "--role", "admin"]):
        assert main([*argv, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"configuration file {config}" in err and expected in err
        assert _PASSWORD not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["bad.toml"] + (["db-password"] if password_mode is not None else []))


def test_the_documented_example_file_is_complete_and_valid(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    section = docs.split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    # Its files under /etc/simattest are the test's own.
    config = _write(tmp_path / "simattest.toml",
                    example.replace("/etc/simattest/", f"{tmp_path}/"))
    _write(tmp_path / "db-password", _PASSWORD)
    assert main(["config", "check", "--config", str(config), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["database"] == "postgresql+psycopg://simattest:***@127.0.0.1/simattest"
    assert shown["kek_file"] == f"{tmp_path}/kek.key"
    assert shown["server.metrics_bind"] == "127.0.0.1:9108"
    assert shown["service.max_import_bytes"] == 64 << 20
    # Complete: every setting `config check` shows is in the example.
    documented = {line.split("=")[0].strip() for line in example.splitlines()
                  if "=" in line and not line.lstrip().startswith("#")}
    shown_keys = {key.split(".")[-1] for key in shown} - {"config_file", "database"}
    assert shown_keys <= documented, shown_keys - documented


def test_serve_takes_its_listener_from_the_file_unless_the_option_is_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        config = _write(tmp_path / "simattest.toml",
                        f'data_dir = "{tmp_path}/data"\n[server]\nbind = "{bind}"\n')
        assert main(["serve"]) == 2
        # ./simattest.toml, found by default, is named as found.
        assert capsys.readouterr().err == ("simattest: configuration file simattest.toml: "
                                           f"server.bind {bind}: cannot listen there "
                                           "(Address already in use)\n")
        assert main(["serve", "--bind", "127.0.0.1:0"]) == 2  # the option wins
        assert capsys.readouterr().err.startswith("simattest: --bind '127.0.0.1:0': port")
    _write(config, f'data_dir = "{tmp_path}/data"\n[server]\nthreads = 0\n')
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == \
        "simattest: configuration file simattest.toml: server.threads: must be at least 1\n"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("argv", "env", "where"), [
    (["--db", "db.example/simattest"], None, "--db"),
    ([], "db.example/simattest", "SIMATTEST_DB"),
])
def test_a_database_url_without_a_scheme_is_one_line_naming_its_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], env: str | None, where: str) -> None:
    if env is not None:
        monkeypatch.setenv("SIMATTEST_DB", env)
    assert main(["admin", "token", "create", "--role", "admin", *argv]) == 2
    assert capsys.readouterr().err.startswith(f"simattest: {where}: not a database URL")
    assert list(tmp_path.iterdir()) == []
