"""A command-line refusal as a user sees it: exit 2, one line on stderr, no traceback."""

from __future__ import annotations

import pytest

from server.cli.main import main


def one_line_refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``simattest ARGV`` in this process; the refusal's line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err
