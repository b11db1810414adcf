"""``simattest pin …`` on a simulated card behind the tests' own pcscd + vpcd: PIN1, PIN2
and the universal PIN; counters before and after; the last attempt kept without --force;
values from files, standard input, the environment or a no-echo prompt, never shown."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_pcsc import EXAMPLES, REPO, CardSlots, CliRun, InsertedCard, run_cli

PIN, PUK, PIN2, PUK2, NEW = "2580", "24681357", "7531", "97531864", "13579"
SECRETS = (PIN, PUK, PIN2, PUK2, NEW, "9999", "0000", "7777")


def _card_file(tmp_path: Path, *, pin1_retries: int = 3) -> Path:
    base = (EXAMPLES / "ps-pin.yaml").read_text()
    base = base.replace('pin1: "1234"', f'pin1: "{PIN}"').replace('puk1: "12345678"',
                                                                   f'puk1: "{PUK}"')
    path = tmp_path / "pins.yaml"
    path.write_text(base + f"pin1_retries: {pin1_retries}\n"
                    f'pin2: {{pin: "{PIN2}", puk: "{PUK2}"}}\n')
    return path


@pytest.fixture
def card(pcsc_cards: CardSlots, tmp_path: Path) -> InsertedCard:
    return pcsc_cards.insert(_card_file(tmp_path))


def _pin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         card: InsertedCard, *argv: str, **env: str) -> CliRun:
    """One ``simattest pin`` in this process, with the given environment values."""
    for name in ("SIMATTEST_PIN", "SIMATTEST_NEW_PIN", "SIMATTEST_PUK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = run_cli(capsys, "pin", argv[0], "--reader", card.uri, *argv[1:])
    # Never echoed. (The APDU log of -vv is hex, where short digit strings turn up by
    # chance: there the PIN commands' data must be hidden, checked where -vv is used.)
    said = run.out + "".join(line for line in run.err.splitlines(keepends=True)
                             if not line.startswith(("DEBUG ", "INFO ")))
    assert not any(s in said for s in SECRETS)
    return run


def _table(out: str) -> dict[str, list[str]]:
    """The before/after table a pipe gets: row label -> [before, after]."""
    return {cells[0]: cells[1:] for cells in (line.split("\t") for line in out.splitlines())}


def test_status_lists_each_pin_and_spends_nothing(
        card: InsertedCard, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = _pin(capsys, monkeypatch, card, "status", "--json")
    assert run.code == 0
    assert [(p["pin"], p["enabled"], p["attempts_left"], p["puk_attempts_left"])
            for p in json.loads(run.out)] == [("PIN1", True, 3, 10), ("PIN2", True, 3, 10)]
    run = _pin(capsys, monkeypatch, card, "status")
    assert run.out.splitlines()[0] == "PIN\tenabled\tverified\tattempts left\tPUK attempts left"
    assert (card.card.pin1_retries, card.card.puk1_retries) == (3, 10)


def test_wrong_pins_then_the_last_attempt_is_kept_then_unblock(
        card: InsertedCard, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = _pin(capsys, monkeypatch, card, "verify", SIMATTEST_PIN="9999")
    assert run.code == 1 and run.err.endswith("PIN1: wrong PIN, 2 attempt(s) left\n")
    assert _table(run.out)["attempts left"] == ["3", "2"]
    run = _pin(capsys, monkeypatch, card, "verify", "--json", SIMATTEST_PIN="9999")
    doc = json.loads(run.out)  # a refusal has its counters in JSON too
    assert run.code == 1 and doc["done"] is False
    assert (doc["before"]["attempts_left"], doc["after"]["attempts_left"]) == (2, 1)
    # One attempt left: kept unless --force, even with the right PIN.
    run = _pin(capsys, monkeypatch, card, "verify", SIMATTEST_PIN=PIN)
    assert run.code == 1 and "only one PIN attempt left; not spending it without --force" \
        in run.err
    assert card.card.pin1_retries == 1
    run = _pin(capsys, monkeypatch, card, "verify", "--force", SIMATTEST_PIN="0000")
    assert run.code == 1 and _table(run.out)["attempts left"] == ["1", "0"]
    run = _pin(capsys, monkeypatch, card, "verify", SIMATTEST_PIN=PIN)
    assert run.code == 1 and "PIN1 is blocked (unblock it with the PUK)" in run.err

    run = _pin(capsys, monkeypatch, card, "unblock", SIMATTEST_PUK="00000000",
               SIMATTEST_NEW_PIN=NEW)
    assert run.code == 1 and "wrong PUK, 9 attempt(s) left" in run.err
    assert _table(run.out)["PUK attempts left"] == ["10", "9"]
    run = _pin(capsys, monkeypatch, card, "unblock", SIMATTEST_PUK=PUK, SIMATTEST_NEW_PIN=NEW)
    assert run.code == 0 and run.out.endswith("PIN1 unblocked (and set to the new value)\n")
    table = _table(run.out)
    assert table["attempts left"] == ["0", "-"] and table["verified"] == ["no", "yes"]
    assert table["PUK attempts left"] == ["9", "10"]
    assert _pin(capsys, monkeypatch, card, "verify", SIMATTEST_PIN=NEW).code == 0


def test_change_disable_enable_with_files_and_stdin(
        card: InsertedCard, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text(PIN + "\n")
    new.write_text(NEW + "\n")
    run = _pin(capsys, monkeypatch, card, "change", "--pin-file", str(old),
               "--new-pin-file", str(new))
    assert run.code == 0 and run.out.endswith("PIN1 changed\n")
    # Standard input, one value per line, as a script pipes them (a process of its own).
    done = subprocess.run([sys.executable, "-m", "server.cli.main", "pin", "change",
                           "--reader", card.uri, "--pin-file", "-", "--new-pin-file", "-"],
                          input=f"{NEW}\n{PIN}\n", capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 0 and not any(s in done.stdout + done.stderr for s in SECRETS)

    run = _pin(capsys, monkeypatch, card, "disable", "-vv", SIMATTEST_PIN=PIN)
    assert run.code == 0 and _table(run.out)["enabled"] == ["yes", "no"]
    assert "> 00260001 (data hidden)" in run.err  # every APDU logged, the PIN not
    assert PIN.encode().hex().upper() not in run.err and PIN not in run.err
    run = _pin(capsys, monkeypatch, card, "disable")  # nothing asked, nothing sent
    assert (run.code, run.out) == (0, "PIN1 is disabled already; nothing was sent\n")
    run = _pin(capsys, monkeypatch, card, "change", SIMATTEST_PIN=PIN, SIMATTEST_NEW_PIN=NEW)
    assert run.code == 2 and "PIN1 is disabled: enable it first" in run.err
    run = _pin(capsys, monkeypatch, card, "enable", "--json", SIMATTEST_PIN=PIN)
    doc = json.loads(run.out)
    assert run.code == 0 and (doc["before"]["enabled"], doc["after"]["enabled"]) == (False, True)
    assert card.card.pin1_retries == 3


def test_pin2_and_a_pin_the_card_lacks(
        card: InsertedCard, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = _pin(capsys, monkeypatch, card, "verify", "--pin-ref", "pin2", SIMATTEST_PIN=PIN2)
    assert run.code == 0 and run.out.endswith("PIN2 verified\n")
    run = _pin(capsys, monkeypatch, card, "verify", "--pin-ref", "pin2", SIMATTEST_PIN=PIN)
    assert run.code == 1 and "PIN2: wrong PIN, 2 attempt(s) left" in run.err
    assert card.card.pin1_retries == 3  # PIN1 untouched
    run = _pin(capsys, monkeypatch, card, "verify", "--pin-ref", "universal",
               SIMATTEST_PIN=PIN)
    assert run.code == 1 and run.err.endswith("the card has no universal PIN\n")


def test_universal_pin_disabled_then_enabled(
        pcsc_cards: CardSlots, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _card_file(tmp_path)
    path.write_text(path.read_text() + 'universal_pin: {pin: "7777", puk_retries: 4}\n')
    card = pcsc_cards.insert(path)
    run = _pin(capsys, monkeypatch, card, "status", "--json")
    universal = next(p for p in json.loads(run.out) if p["pin"] == "universal PIN")
    assert (universal["key_reference"], universal["enabled"], universal["attempts_left"],
            universal["puk_attempts_left"]) == ("11", False, 3, None)
    run = _pin(capsys, monkeypatch, card, "verify", "--pin-ref", "universal")
    assert (run.code, run.out) == (
        0, "universal PIN is disabled: the card does not ask for it; nothing was sent\n")
    run = _pin(capsys, monkeypatch, card, "enable", "--pin-ref", "universal",
               SIMATTEST_PIN="7777")
    assert run.code == 0 and _table(run.out)["enabled"] == ["no", "yes"]
    run = _pin(capsys, monkeypatch, card, "unblock", "--pin-ref", "universal",
               SIMATTEST_PUK=PUK, SIMATTEST_NEW_PIN=NEW)
    assert run.code == 1 and run.err.endswith(
        "the card has no unblocking PIN (PUK) for universal PIN\n")


def test_bad_values_and_no_source_are_refused_before_the_card(
        card: InsertedCard, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = _pin(capsys, monkeypatch, card, "verify", SIMATTEST_PIN="12a4")
    assert run.code == 2 and "PIN1 must be 4 to 8 digits; nothing was sent" in run.err
    run = _pin(capsys, monkeypatch, card, "change", SIMATTEST_PIN=PIN, SIMATTEST_NEW_PIN="12")
    assert run.code == 2 and "new PIN1 must be 4 to 8 digits" in run.err
    # No file, no variable, no terminal: told how to give it (pytest's stdin is no tty).
    run = _pin(capsys, monkeypatch, card, "unblock", SIMATTEST_NEW_PIN=NEW)
    assert run.code == 2 and "give PUK of PIN1 with --puk-file FILE or $SIMATTEST_PUK" \
        in run.err
    empty = tmp_path / "empty"
    empty.write_text("")
    run = _pin(capsys, monkeypatch, card, "verify", "--pin-file", str(empty))
    assert run.code == 2 and "empty" in run.err
    assert (card.card.pin1_retries, card.card.puk1_retries) == (3, 10)


def test_the_prompt_does_not_echo(card: InsertedCard) -> None:
    """On a terminal the PIN is asked for with echo off, and the new PIN twice."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMATTEST_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "pin", "change", "--reader", card.uri],
        stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, start_new_session=True,
        preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0))
    os.close(slave)
    shown = b""
    # getpass turns echo off before it shows its prompt: answer each once it is there.
    for prompt, answer in ((b"PIN1 (current):", PIN), (b"new PIN1:", NEW),
                           (b"new PIN1 again:", NEW)):
        while not shown.rstrip().endswith(prompt):
            shown += os.read(master, 1024)
        os.write(master, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = shown.decode()
    assert "PIN1 (current):" in text and "new PIN1 again:" in text and "PIN1 changed" in text
    assert PIN not in text and NEW not in text
