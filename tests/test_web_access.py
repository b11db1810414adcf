"""Desk pages are usable by keyboard, labelled, responsive and self-contained."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, Request, expect

from tests.fixtures_attestation import Pool, build_pool
from tests.fixtures_browser import LiveServer, Screenshot, Tokens, sign_in

PAGES = ("/desk/pool", "/desk/alerts", "/desk/checkout", "/desk/returns", "/desk/audit",
         "/desk/provision/", "/desk/provision/import", "/desk/provision/handsets",
         "/desk/provision/pairings", "/desk/provision/cards")

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id)"""


def test_skip_link_is_the_first_tab_stop_and_reaches_the_content(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    sign_in(page, tokens.admin)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # visible while focused, hidden otherwise
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_every_form_field_has_a_label_and_nothing_loads_from_elsewhere(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    requested: list[str] = []

    def remember(request: Request) -> None:
        requested.append(request.url)

    page.on("request", remember)
    sign_in(page, tokens.admin)
    for path in PAGES:
        page.goto(path)
        assert page.evaluate(UNLABELLED) == [], path
        assert page.locator("table:not(:has(thead th))").count() == 0, path
    assert requested and all(url.startswith(live_server.url + "/") for url in requested)


def test_pool_fits_a_tablet_screen(
    chromium: Browser, live_server: LiveServer, tokens: Tokens, screenshot: Screenshot
) -> None:
    pool: Pool = build_pool(live_server.service, size=3)
    context = chromium.new_context(base_url=live_server.url,
                                   viewport={"width": 768, "height": 1024}, has_touch=True)
    page = context.new_page()
    try:
        sign_in(page, tokens.desk)
        for path in ("/desk/pool", "/desk/alerts", f"/desk/checkout?q={pool.handsets[0].imei}",
                     "/desk/returns"):
            page.goto(path)
            # No sideways scrolling of the whole page: wide tables scroll in their own box.
            assert page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth"), path
        page.goto("/desk/pool")
        screenshot(page, "pool-tablet")
    finally:
        context.close()
