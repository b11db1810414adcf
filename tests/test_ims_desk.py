"""The desk's checkout view says whether the signed-in MC user's IMPU2 is registered in
IMS now and at which S-CSCF (from the Cx peer's records), in the real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from server.core.config import IdmsConfig, ServiceConfig
from server.core.service import Service
from server.ims import hss
from tests.fixtures_browser import LiveServer, Tokens, sign_in
from tests.fixtures_ims import DOMAIN, cx_test_config
from tests.fixtures_ims import sign_in as idms_sign_in

SCSCF = f"sip:scscf.{DOMAIN}:6060"


@pytest.fixture
def web_config() -> ServiceConfig:
    return ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN, alias_count=2))


def test_the_checkout_view_shows_the_ims_registration_and_its_s_cscf(
        page: Page, live_server: LiveServer, tokens: Tokens, web_service: Service) -> None:
    mapped = idms_sign_in(web_service)
    sign_in(page, tokens.desk)
    page.goto(f"/desk/checkout/{mapped.checkout_id}")
    expect(page.locator("#sign-ins")).to_contain_text("not registered")
    cfg = cx_test_config(3868)
    outcome = hss.server_assignment(web_service, cfg, peer="scscf.mcptt.example.org",
                                    impi=mapped.impi2, impu=mapped.impu2,
                                    assignment=hss.REGISTRATION, server_name=SCSCF)
    assert outcome.result is hss.Result.SUCCESS
    page.reload()
    expect(page.locator("#sign-ins")).to_contain_text(f"registered at {SCSCF}")
    hss.server_assignment(web_service, cfg, peer="scscf.mcptt.example.org",
                          impi=mapped.impi2, impu=mapped.impu2, assignment=5,
                          server_name=SCSCF)
    page.reload()
    expect(page.locator("#sign-ins")).to_contain_text("not registered")
