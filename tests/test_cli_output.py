"""Tables for people: nothing an operator copies (an ICCID, a path, a hash) is cut short —
wrapped on a terminal, whole on one tab-separated line in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from server.cli.output import print_table

REPO = Path(__file__).resolve().parents[1]
READER = "sim:/var/lib/simattest/bench/card-89001010000000001008.yaml"
REASON = "the card answered a MAC failure to the self-check: its keys differ from the file"
ROW = (READER, "89001010000000001008", "failed", REASON)


def on_a_terminal(argv: list[str], **env: str) -> tuple[int, str]:
    """Run ``python ARGV`` in the repository with its standard output on an 80×24
    pseudo-terminal; its exit code and what it showed there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, stdout=slave,
                            stderr=subprocess.DEVNULL,
                            env={**environ, "TERM": "xterm-256color", **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode().replace("\r\n", "\n")


def test_in_a_pipe_each_row_is_one_tab_separated_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    print_table(("reader", "iccid", "state", "reason"), [ROW, ("x", None, "a\tb", "c\nd")],
                title="pool verify")
    assert capsys.readouterr().out.splitlines() == [
        "reader\ticcid\tstate\treason", "\t".join(ROW), "x\t\ta b\tc d"]


def test_on_a_terminal_long_values_wrap_instead_of_being_cut() -> None:
    code, out = on_a_terminal(["-c", (
        "from server.cli.output import print_table; "
        f"print_table(('reader', 'iccid', 'state', 'reason'), [{ROW!r}], title='pool verify')")],
        NO_COLOR="1")
    assert code == 0 and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    cells = [re.findall(r"│ ?([^│]*?) *(?=│)", line) for line in out.splitlines()
             if line.startswith("│")]
    columns = ["".join(row[i] for row in cells) for i in range(4)]
    assert columns[0] == READER and columns[1] == "89001010000000001008"
    assert columns[2] == "failed" and columns[3].replace(" ", "") == REASON.replace(" ", "")
