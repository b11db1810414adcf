"""Checkout-desk web pages: server-rendered HTML for desk and provisioning operators.

Listed in ``server.http.app.BLUEPRINTS``; registering :data:`blueprint` also applies the
session and CSRF settings (``setup.configure_app``).  Each page group is one module
below; importing them attaches their routes to the blueprint.

May import: the feature packages, core, store (the desk's read-only queries), attest,
Flask and Flask-WTF; never cli, demo or agent.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask
from flask.blueprints import BlueprintSetupState

from server.http.web import (  # noqa: F401  (routes)
    alerts,
    auth,
    desk,
    detail,
    idms,
    pool,
    provision,
)
from server.http.web.blueprint import bp as blueprint
from server.http.web.setup import configure_app

# HTML pages are not part of the JSON API document (server.http.api.openapi).
OPENAPI: dict[str, Any] | None = None


@blueprint.record_once
def _configure(state: BlueprintSetupState) -> None:
    configure_app(cast(Flask, state.app))


__all__ = ["OPENAPI", "blueprint"]
