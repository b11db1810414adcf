"""The Prometheus registry to expose: every process's samples when several processes
share ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn's workers under ``simattest serve``, the
peer processes of ``simattest cx serve --processes N``), else this process's own.

prometheus_client writes each process's samples to files in that directory only if it
finds the variable set when it is first imported: the commands set it before they
import anything that defines a metric.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def registry() -> CollectorRegistry:
    """All processes' samples (``MultiProcessCollector``) when ``MULTIPROC_ENV`` is set,
    else the default registry of this process."""
    if os.environ.get(MULTIPROC_ENV):
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)
        return shared
    return REGISTRY
