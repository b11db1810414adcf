"""WSGI entry for external servers: ``gunicorn 'server.wsgi:app'``.

Reads ``SIMATTEST_DATA`` (default ``./simattest-data``) and ``SIMATTEST_DB``.
``simattest serve`` does the same through gunicorn's Python API.
"""

from __future__ import annotations

import os
from pathlib import Path

from server.app import create_app
from server.context import Service
from server.datadir import DEFAULT_DATA_DIR

app = create_app(
    Service.open(Path(os.environ.get("SIMATTEST_DATA", DEFAULT_DATA_DIR)),
                 os.environ.get("SIMATTEST_DB") or None)
)
