"""Output helpers shared by every command: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


class _Console(Console):
    """Lets a closed standard output reach ``server.cli.main`` like any other write's
    BrokenPipeError (rich would exit 1, which here means "the card said no")."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")  # never cut an ICCID or a hash short
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _Console().print(table)


def print_fields(fields: Iterable[tuple[str, Any]], title: str | None = None) -> None:
    """A two-column table: field name, value."""
    print_table(("field", "value"), fields, title=title)
