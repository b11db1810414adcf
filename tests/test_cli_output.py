"""Tables for people: nothing an operator copies (an ICCID, a path, a hash) is cut short."""

from __future__ import annotations

import re

import pytest

from server.cli.output import print_table


def test_long_values_wrap_instead_of_being_cut(capsys: pytest.CaptureFixture[str]) -> None:
    reader = "sim:/var/lib/simattest/bench/card-89001010000000001008.yaml"
    reason = "the card answered a MAC failure to the self-check: its keys differ from the file"
    print_table(("reader", "iccid", "state", "reason"),
                [(reader, "89001010000000001008", "failed", reason)], title="pool verify")
    out = capsys.readouterr().out  # not a terminal: rich lays it out 80 columns wide
    assert "…" not in out
    cells = [re.findall(r"│ ?([^│]*?) *(?=│)", line) for line in out.splitlines()
             if line.startswith("│")]
    columns = ["".join(row[i] for row in cells) for i in range(4)]
    assert columns[0] == reader and columns[1] == "89001010000000001008"
    assert columns[2] == "failed" and columns[3].replace(" ", "") == reason.replace(" ", "")
