"""The conventions every ``simattest`` command keeps, checked through the real entry point:
usage for a bare ``simattest``, help on every option, -v/-q/--no-color anywhere, --k and
--ki alike, plain tab-separated output for pipes and tables (colour off with NO_COLOR)
on a terminal, and shell completion generated from the parser."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli.main import _all_parsers, build_parser, main
from tests.test_cli_aka import MILENAGE, _milenage_args
from tests.test_cli_card import PS
from tests.test_cli_output import on_a_terminal

REPO = Path(__file__).resolve().parents[1]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_bare_simattest_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys)
    assert (code, out) == (2, "")
    assert err.startswith("usage: simattest") and "handsets" in err and "pin" in err
    code, out, err = _run(capsys, "pin")  # a group without its command: its own usage
    assert (code, out) == (2, "")
    assert err.startswith("usage: simattest pin") and "unblock" in err


def test_every_option_and_command_has_help() -> None:
    missing = []
    for _, parser in _all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{parser.prog} {choice.dest}" for choice in action._choices_actions
                            if not choice.help]
            elif not action.help:
                missing.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_aka_help_is_prose_not_a_docstring(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "aka", "--help")
    assert code == 0 and "Milenage" in out
    assert "``" not in out and ":func:" not in out and "Hex is parsed" not in out
    # No command's help carries reST markup.
    marked = [parser.prog for _, parser in _all_parsers(build_parser())
              if any(mark in parser.format_help() for mark in ("``", ":func:", ":class:"))]
    assert marked == []


def test_verbosity_and_quiet_anywhere_on_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    # -vv after the command and its options: every APDU is logged.
    code, out, err = _run(capsys, "read", "--reader", PS, "--json", "-vv")
    assert code == 0 and '"iccid"' in out and "DEBUG" in err
    code, _, err = _run(capsys, "read", "-v", "--reader", PS, "--json")
    assert code == 0 and "DEBUG" not in err
    code, _, err = _run(capsys, "-v", "read", "--reader", PS, "-v", "--json")  # -v -v = -vv
    assert code == 0 and "DEBUG" in err
    code, _, err = _run(capsys, "read", "--reader", PS, "--json", "-q", "--no-color")
    assert (code, err) == (0, "")


def test_k_and_ki_name_the_same_key(capsys: pytest.CaptureFixture[str]) -> None:
    s = MILENAGE[0]
    with_k = _run(capsys, *_milenage_args(s, "opc" if "opc" in s else "op"), "--json")
    with_ki = _run(capsys, *(a if a != "--k" else "--ki"
                             for a in _milenage_args(s, "opc" if "opc" in s else "op")),
                   "--json")
    assert with_k == with_ki and with_k[0] == 0
    # auth takes --k for its --ki too (and checks it the same way).
    code, _, err = _run(capsys, "auth", "--reader", PS, "--k", "00", "--opc", "00" * 16)
    assert code == 2 and err == "simattest auth: --ki: expected 16 or 32 bytes (32 or 64 hex " \
                                "digits), got 1\n"


def test_tables_on_a_terminal_tabs_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    s = MILENAGE[0]
    argv = _milenage_args(s, "opc" if "opc" in s else "op")
    code, out, _ = _run(capsys, *argv)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "field\tvalue" and f"RES\t{s['res']}" in lines
    assert "│" not in out and "\x1b" not in out

    code, shown = on_a_terminal(["-m", "server.cli.main", *argv])
    assert code == 0 and "│" in shown and s["res"] in shown and "\x1b[" in shown
    for env, extra in (({"NO_COLOR": "1"}, []), ({}, ["--no-color"])):
        code, shown = on_a_terminal(["-m", "server.cli.main", *argv, *extra], **env)
        assert code == 0 and "│" in shown and "\x1b[" not in shown


def test_bash_completion_from_the_parser(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, script, _ = _run(capsys, "completion", "bash")
    assert code == 0
    (tmp_path / "simattest.bash").write_text(script)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        done = subprocess.run(
            ["bash", "-c", f'source {tmp_path / "simattest.bash"}; COMP_WORDS=({line}); '
             f'COMP_CWORD={len(words) - 1}; COMP_LINE="{line}"; COMP_POINT={len(line)}; '
             '_shtab_simattest; printf "%s\\n" "${COMPREPLY[@]}"'],
            capture_output=True, text=True, check=True, timeout=30)
        return done.stdout.split()

    assert complete("simattest", "han") == ["handsets"]
    assert complete("simattest", "pin", "unb") == ["unblock"]
    assert complete("simattest", "checkouts", "list", "--op") == ["--open"]
    assert set(complete("simattest", "aka", "milenage", "--k")) == {"--k", "--ki"}

    # One command installs it where bash-completion looks for a user's completions.
    code, out, _ = _run(capsys, "completion", "zsh")
    assert code == 0 and out.startswith("#compdef simattest")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "server.cli.main", "completion", "bash",
                           "--install"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    installed = tmp_path / "data" / "bash-completion" / "completions" / "simattest"
    assert done.returncode == 0 and str(installed) in done.stdout
    assert installed.read_text() == script


def test_service_numbers_come_with_their_spec_names(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "read", "--reader", PS)
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0
    assert ["UST", "27 GSM Access"] in rows and ["UST", "109 MCPTT"] in rows
    assert ["UST", "68 Generic Bootstrapping Architecture (GBA)"] in rows
    assert ["IST", "15 MCPTT"] in rows
    code, out, _ = _run(capsys, "read", "--reader", PS, "--json")
    doc = json.loads(out)
    assert 101 in doc["ust"] and doc["ust_names"]["101"] == "ProSe"
    assert list(doc["ust_names"]) == [str(n) for n in doc["ust"]]
    assert doc["isim"]["ist"] == [15] and doc["isim"]["ist_names"] == {"15": "MCPTT"}
