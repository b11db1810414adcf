"""Output helpers shared by every command: JSON for machines, tables for people.

On a terminal a table is drawn by rich; when standard output is not a terminal (a pipe,
a file) the same rows are printed plain, one line each, the cells separated by tabs and
the column names on the first line, so ``cut``, ``awk`` and ``sort`` take them as they
are and nothing is wrapped at 80 columns.  ``--no-color`` and the ``NO_COLOR``
environment variable (https://no-color.org) turn colours off.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class _Settings:
    color: bool = True
    quiet: bool = False


_settings = _Settings()


def configure(*, color: bool, quiet: bool) -> None:
    """The global ``--no-color`` and ``-q`` of this run (``server.cli.main``)."""
    _settings.color = color
    _settings.quiet = quiet


def quiet() -> bool:
    """``-q``: notes for people (progress, hints) are left out; data and errors stay."""
    return _settings.quiet


class _Console(Console):
    """Lets a closed standard output reach ``server.cli.main`` like any other write's
    BrokenPipeError (rich would exit 1, which here means "the card said no")."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def console() -> Console:
    """A rich console honouring ``--no-color`` and ``NO_COLOR``."""
    if not _settings.color or os.environ.get("NO_COLOR"):
        # No escape sequences at all (rich's no_color would still send bold and italic).
        return _Console(color_system=None, highlight=False)
    return _Console()


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> None:
    if not sys.stdout.isatty():
        # Tabs and newlines inside a value would shift the columns of a line-based reader.
        for line in (columns, *rows):
            print("\t".join(" ".join(_cell(v).split()) for v in line))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")  # never cut an ICCID or a hash short
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console().print(table)


def print_fields(fields: Iterable[tuple[str, Any]], title: str | None = None) -> None:
    """A two-column table: field name, value."""
    print_table(("field", "value"), fields, title=title)
