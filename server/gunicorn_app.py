"""The service under gunicorn's Python API (``simattest serve``).

Each worker opens its own :class:`~server.context.Service` (its own connection pool)
after the fork.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from server import jsonlog
from server.app import create_app
from server.context import Service, ServiceConfig


class GunicornLogger(Logger):
    """gunicorn's logger without its access log: the app writes one JSON line per request
    itself (``server.app``, ``server.api.device``).  gunicorn formats its access-log
    fields whenever a logging config is given, whether the line is then dropped or not,
    which cost ~5 % of a worker's CPU under load."""

    def access(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class GunicornService(BaseApplication):
    """gunicorn with the options given, loading the Flask app in each worker."""

    def __init__(self, data: Path, db: str | None, config: ServiceConfig,
                 options: dict[str, Any]) -> None:
        self.data, self.db, self.config, self.options = data, db, config, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork.
        jsonlog.configure()
        app = create_app(Service.open(self.data, self.db, self.config))
        # Everything loaded so far lives as long as the worker: the cyclic garbage
        # collector need not walk it again on every collection (``gc.freeze``).
        gc.freeze()
        return app
