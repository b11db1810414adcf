"""The machine line every benchmark prints for ``bench/RESULTS.md``.

Benchmarks run as scripts (``.venv/bin/python bench/<name>.py``), so this module is
imported as ``machine`` from the script's own directory.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    """``x86_64, nproc 2, <CPU model>, Python 3.11.7``."""
    return (f"{platform.machine()}, nproc {os.cpu_count()}, {cpu_model()}, "
            f"Python {platform.python_version()}")
