"""The Flask application factory.

``create_app(svc)`` builds the app on an open ``Service``: problem+json error
handlers, request size limits, one structured access-log line per request, and every
module in ``BLUEPRINTS`` (each defines ``blueprint`` and ``OPENAPI``, see
``server.http.api.openapi``).  Add a module by adding one line to ``BLUEPRINTS``.
"""

from __future__ import annotations

import importlib
import logging
import time
from importlib import metadata

from flask import Flask, Response, g, request

from server.core.service import Service
from server.http.api import openapi, problems
from server.http.api.device import DeviceEndpoints
from server.http.metrics import MetricsListener

# One line per blueprint module (module path; it defines `blueprint` and `OPENAPI`).
BLUEPRINTS: tuple[str, ...] = (
    "server.http.api.health",
    "server.http.api.openapi",
    "server.http.api.provisioning",
    "server.http.api.registry",
    "server.http.api.attestations",
    "server.http.api.checkouts",
    "server.http.api.idms",
    "server.http.api.wellknown",
    "server.http.api.metrics",
    "server.http.web",
)

access_log = logging.getLogger("simattest.access")


def _version() -> str:
    try:
        return metadata.version("simattest")
    except metadata.PackageNotFoundError:
        return "0"


def create_app(svc: Service) -> Flask:
    app = Flask("simattest")
    app.config["MAX_CONTENT_LENGTH"] = svc.config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Derived from the KEK, never stored: the same in every process and host sharing the
    # keys, and not to be made from anything in the database (the session cookies are
    # signed with the service's current one: server.http.web.setup).
    app.secret_key = svc.keys.session_key
    app.extensions["simattest"] = svc
    problems.install(app)

    modules = [importlib.import_module(name) for name in BLUEPRINTS]
    for module in modules:
        app.register_blueprint(module.blueprint)
    app.extensions["simattest_api_modules"] = modules
    app.extensions["simattest_openapi"] = openapi.build_document(modules, _version())

    # The device-facing hot path skips Flask (see server.http.api.device).
    app.wsgi_app = DeviceEndpoints(app.wsgi_app, svc)  # type: ignore[method-assign]
    if svc.config.metrics_listener is not None:
        app.wsgi_app = MetricsListener(  # type: ignore[method-assign]
            app.wsgi_app, svc.config.metrics_listener)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _access_log(response: Response) -> Response:
        # Path only, never the query string or body: neither may carry secrets, but
        # a log is the wrong place to find out.
        duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info(
            "request",
            extra={"method": request.method, "path": request.path,
                   "status": response.status_code, "duration_ms": round(duration_ms, 2),
                   "client": request.remote_addr},
        )
        return response

    return app
