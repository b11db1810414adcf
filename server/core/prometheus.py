"""The Prometheus registry to expose: every process's samples when several processes
share ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn's workers under ``simattest serve``, the
peer processes of ``simattest cx serve --processes N``), else this process's own.

The commands set the variable before they import anything that defines a metric
(``server.core.metricsdir``).
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from server.core.metricsdir import MULTIPROC_ENV


def registry() -> CollectorRegistry:
    """All processes' samples (``MultiProcessCollector``) when ``MULTIPROC_ENV`` is set,
    else the default registry of this process."""
    if os.environ.get(MULTIPROC_ENV):
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)
        return shared
    return REGISTRY
