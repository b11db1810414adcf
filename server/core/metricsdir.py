"""The metrics directory the commands that run several processes share
(``simattest serve``'s gunicorn workers, ``simattest cx serve --processes N``), and the
name of the variable that points prometheus_client at it.

prometheus_client writes each process's samples to files in ``PROMETHEUS_MULTIPROC_DIR``
only if the variable is set when it is first imported, so the commands set it before
they import anything that defines a metric — and this module imports nothing that does
(``server.core.prometheus`` reads the samples back).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics_dir(prefix: str) -> Iterator[None]:
    """``PROMETHEUS_MULTIPROC_DIR`` set to a fresh temporary directory (named ``prefix``…)
    for the block and removed after it; left as it is when already set."""
    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as metrics_dir:
        os.environ[MULTIPROC_ENV] = metrics_dir
        try:
            yield
        finally:
            del os.environ[MULTIPROC_ENV]
