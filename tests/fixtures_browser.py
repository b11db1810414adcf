"""Headless Chromium against the real app on a real HTTP server, on a real SQLite data dir.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright's Python package
(Playwright's own browser download cannot run here).  The app is served by werkzeug's
``make_server`` (threaded) in a thread of the test process, on a free port of 127.0.0.1:
it is a real HTTP server on a real socket, and keeping it in-process lets a test prepare
the pool through the same service functions the pages call, on the same data directory,
without a second process to start and tear down for every test.  (gunicorn is what
``simattest serve`` runs; the session-secret test covers what several workers share.)
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from server.core import operators
from server.core.config import ServiceConfig
from server.core.service import Service
from server.http.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_WAIT_MS = 20_000
# Where the screenshots go instead of a temporary directory: ``make screenshots`` points
# it at docs/screenshots to refresh the images the README shows.
SCREENSHOTS_ENV = "SIMATTEST_SCREENSHOTS"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the whole run (each test gets its own context)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing; install it with: apt-get update && apt-get install -y "
            "chromium   (make test does this on a fresh machine)",
            pytrace=False,
        )
    # How long expect() waits for the page to get there; generous because CI machines
    # are shared (no assertion is about speed).
    expect.set_options(timeout=UI_WAIT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def web_config(request: pytest.FixtureRequest) -> ServiceConfig:
    """The service's settings; a test may pass its own with indirect parametrisation."""
    return getattr(request, "param", None) or ServiceConfig()


@pytest.fixture
def web_service(tmp_path: Path, web_config: ServiceConfig) -> Iterator[Service]:
    """A fresh service on a real SQLite data directory."""
    svc = Service.open(tmp_path / "data", config=web_config)
    yield svc
    svc.close()


@dataclass
class LiveServer:
    url: str
    service: Service


@contextlib.contextmanager
def serve(app: Flask, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=tls)
    thread = threading.Thread(target=server.serve_forever, name="desk-http", daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def live_server(web_service: Service) -> Iterator[LiveServer]:
    with serve(create_app(web_service)) as url:
        yield LiveServer(url, web_service)


@pytest.fixture
def page(chromium: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh browser context (no cookies) at desk-PC size."""
    context = chromium.new_context(base_url=live_server.url,
                                   viewport={"width": 1366, "height": 900})
    context.set_default_timeout(UI_WAIT_MS)
    pg = context.new_page()
    yield pg
    context.close()


Screenshot = Callable[[Page, str], None]


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$SIMATTEST_SCREENSHOTS`` if set, else a temporary directory of this run: a test
    run never rewrites the committed docs/screenshots."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    if not chosen:
        return tmp_path_factory.mktemp("screenshots")
    directory = Path(chosen)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Screenshot:
    """``screenshot(page, name)`` saves the whole page as ``<name>.png``."""

    def save(page: Page, name: str) -> None:
        page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)

    return save


@dataclass(frozen=True)
class Tokens:
    """One operator token per role, created through ``server.core.operators``."""

    desk: str
    provisioner: str
    admin: str


@pytest.fixture
def tokens(web_service: Service) -> Tokens:
    return Tokens(
        desk=operators.create_token(web_service, "desk", "Dana at desk 1"),
        provisioner=operators.create_token(web_service, "provisioner", "Pat provisioning"),
        admin=operators.create_token(web_service, "admin", "Ada admin"),
    )


def sign_in(page: Page, token: str) -> None:
    """Sign in through the form, as a person would, and land on the pool page."""
    page.goto("/desk/sign-in")
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/desk/pool")
