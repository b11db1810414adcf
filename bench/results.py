"""``--write-results``: a benchmark's current figures into its section of ``bench/RESULTS.md``.

Each benchmark owns one ``## <title>`` section there.  Its figures are the lines from
the first ``- date:`` line down to the end of the Markdown table after it; a run
replaces exactly those and keeps what the section says before them (what is measured)
and after them (notes).  A section not there yet is added at the end of the file.

Benchmarks run as scripts, so this module is imported as ``results`` from the script's
own directory, like ``machine``.
"""

from __future__ import annotations

from pathlib import Path

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def replace_figures(title: str, figures: list[str], path: Path = RESULTS_MD) -> None:
    """Put ``figures`` (``- date:`` … table, one string a line) in section ``## title``."""
    lines = path.read_text().splitlines()
    heading = f"## {title}"
    if heading not in lines:
        path.write_text("\n".join([*lines, "", heading, "", *figures]) + "\n")
        return
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    first = next((i for i in range(start, end) if lines[i].startswith("- date:")), None)
    if first is None:  # a section with no figures yet: they go after its text
        last = end
        while last > start and not lines[last - 1].strip():
            last -= 1
        lines[last:last] = ["", *figures]
    else:
        table = next((i for i in range(first, end) if lines[i].startswith("|")), end)
        stop = table
        while stop < end and lines[stop].startswith("|"):
            stop += 1
        lines[first:stop] = figures
    path.write_text("\n".join(lines) + "\n")
