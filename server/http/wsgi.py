"""WSGI entry for external servers: ``gunicorn 'server.http.wsgi:app'``.

Reads ``SIMATTEST_DATA`` (default ``./simattest-data``) and ``SIMATTEST_DB``.
``simattest serve`` does the same through gunicorn's Python API.
"""

from __future__ import annotations

import os
from pathlib import Path

from server.core.datadir import DEFAULT_DATA_DIR
from server.core.service import Service
from server.http.app import create_app

app = create_app(
    Service.open(Path(os.environ.get("SIMATTEST_DATA", DEFAULT_DATA_DIR)),
                 os.environ.get("SIMATTEST_DB") or None)
)
