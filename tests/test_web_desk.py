"""The desk's work in headless Chromium: find a handset, check it out, return it, alerts.

Attestations come from the real service functions (``create_challenge`` and
``submit_evidence``) with evidence signed by a real device key and the card's answer
computed from the card's own K/OPc with Milenage (``tests.fixtures_attestation``).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from server.attestation.challenge import create_challenge
from server.attestation.evidence import Outcome, submit_evidence
from server.core.config import ServiceConfig
from server.core.service import Service
from tests.fixtures_attestation import Pool, TestCard, TestHandset, build_pool
from tests.fixtures_browser import LiveServer, Screenshot, Tokens, sign_in

USER = "Officer J. Doe, badge 4411"


def attest(svc: Service, handset: TestHandset, card: TestCard) -> Outcome:
    """The handset runs the checkout check with ``card`` inserted."""
    challenge = create_challenge(svc, handset.request(), client="127.0.0.1")
    evidence, signature = handset.evidence(challenge.to_json(), card)
    return submit_evidence(svc, challenge.id, evidence, signature,
                                       client="127.0.0.1")


@pytest.fixture
def pool(web_service: Service) -> Pool:
    """unit 1 genuine, unit 2 holding unit 3's card, unit 3 holding a commercial SIM."""
    pool = build_pool(web_service, size=3)
    genuine = attest(web_service, pool.handsets[0], pool.cards[0])
    swapped = attest(web_service, pool.handsets[1], pool.cards[2])
    commercial = attest(web_service, pool.handsets[2], pool.commercial)
    assert (genuine.status, swapped.status, commercial.status) == (
        "affirming", "contraindicated", "contraindicated")
    assert "SIM_SWAPPED" in swapped.reasons and "COMMERCIAL_SIM" in commercial.reasons
    return pool


def test_pool_lists_every_handset_with_card_verdict_and_search(
    page: Page, live_server: LiveServer, tokens: Tokens, pool: Pool, screenshot: Screenshot
) -> None:
    sign_in(page, tokens.desk)
    rows = page.locator("#pool tbody tr")
    expect(rows).to_have_count(3)
    unit1 = page.locator(f'#pool tr[data-imei="{pool.handsets[0].imei}"]')
    expect(unit1).to_contain_text("unit 1")
    expect(unit1).to_contain_text(pool.cards[0].iccid)
    expect(unit1).to_contain_text(pool.cards[0].imsi)
    expect(unit1).to_contain_text("affirming")
    expect(unit1).to_contain_text("in the pool")
    unit2 = page.locator(f'#pool tr[data-imei="{pool.handsets[1].imei}"]')
    expect(unit2).to_contain_text("contraindicated")
    expect(unit2).to_contain_text("SIM_SWAPPED")
    expect(unit2).to_contain_text("problem")
    screenshot(page, "pool")

    page.get_by_label("Search IMEI, ICCID or label").fill(pool.cards[2].iccid)
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("unit 3")

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Problems only").check()
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(2)
    expect(page.locator("#pool")).not_to_contain_text("unit 1")

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Last attestation").select_option("affirming")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("unit 1")


def test_swapped_sim_raises_an_alert_with_evidence_and_audit_link(
    page: Page, live_server: LiveServer, tokens: Tokens, pool: Pool, screenshot: Screenshot
) -> None:
    sign_in(page, tokens.desk)
    badge = page.get_by_role("navigation", name="Main").locator(".badge")
    expect(badge).to_have_text("2")
    page.get_by_role("link", name=re.compile("^Alerts")).click()
    rows = page.locator("#alerts tbody tr")
    expect(rows).to_have_count(2)
    swapped = rows.filter(has_text="SIM_SWAPPED")
    expect(swapped).to_contain_text("unit 2")
    expect(swapped).to_contain_text(pool.handsets[1].imei)
    # What the device reported: the card of unit 3, not its own.
    expect(swapped).to_contain_text(pool.cards[2].iccid)
    expect(swapped).to_contain_text(pool.cards[1].iccid)  # the card it should hold
    expect(rows.filter(has_text="COMMERCIAL_SIM")).to_contain_text("unit 3")
    # Never key material or the card's answer values.
    html = page.content()
    for card in (*pool.cards, pool.commercial):
        assert card.k.hex() not in html.lower() and card.opc.hex() not in html.lower()
    screenshot(page, "alerts")

    swapped.get_by_role("link", name="Audit entries").click()
    audit_rows = page.locator("#audit tbody tr")
    expect(audit_rows).to_have_count(1)
    expect(audit_rows.first).to_contain_text("attestation")
    expect(audit_rows.first).to_contain_text("SIM_SWAPPED")


def test_checkout_and_return_from_an_affirming_attestation(
    page: Page, live_server: LiveServer, tokens: Tokens, pool: Pool, screenshot: Screenshot
) -> None:
    sign_in(page, tokens.desk)
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Scan or type the handset's IMEI or label").fill("UNIT 1")
    page.get_by_label("Scan or type the handset's IMEI or label").press("Enter")
    expect(page.get_by_role("heading", name="Check out unit 1")).to_be_visible()
    expect(page.locator("#latest-status")).to_have_text("affirming")
    button = page.get_by_role("button", name="Check out")
    expect(button).to_be_enabled()
    page.get_by_label("User identity").fill(USER)
    screenshot(page, "checkout")
    button.click()
    expect(page.locator("#confirm")).to_contain_text(f"Hand unit 1 (IMEI {pool.handsets[0].imei})"
                                                     f" to {USER}?")
    page.get_by_role("button", name="Confirm checkout").click()
    expect(page.get_by_text(f"unit 1 checked out to {USER}.")).to_be_visible()

    page.get_by_role("link", name="Pool").click()
    unit1 = page.locator(f'#pool tr[data-imei="{pool.handsets[0].imei}"]')
    expect(unit1).to_contain_text(USER)
    page.get_by_role("link", name="1 checked out now").click()
    expect(page.locator("#pool tbody tr")).to_have_count(1)

    page.get_by_role("link", name="Return").click()
    out = page.locator("#open-checkouts tbody tr")
    expect(out).to_have_count(1)
    expect(out.first).to_contain_text(USER)
    screenshot(page, "return")
    out.first.get_by_role("button", name=re.compile("^Return")).click()
    # The message names the desk operator who took the handset back, not the officer.
    expect(page.get_by_text(f"(out to {USER}) taken back by Dana at desk 1")).to_be_visible()
    expect(out).to_have_text(["No handset is checked out."])

    # The attestation was spent on that checkout: handing it out again needs a new one.
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Scan or type the handset's IMEI or label").fill(pool.handsets[0].imei)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("button", name="Check out")).to_be_disabled()
    expect(page.locator("#eligibility")).to_contain_text("already used for a checkout")

    # Both desk actions are in the audit log, by this operator.
    page.goto(f"/desk/audit?subject=imei:{pool.handsets[0].imei}")
    audit = page.locator("#audit tbody")
    expect(audit.locator("tr").filter(has_text="checkout.start")).to_contain_text("Dana at desk 1")
    expect(audit.locator("tr").filter(has_text="checkout.return")).to_contain_text("Dana at desk 1")


def test_check_out_is_disabled_for_a_contraindicated_handset(
    page: Page, live_server: LiveServer, tokens: Tokens, pool: Pool
) -> None:
    sign_in(page, tokens.desk)
    page.goto(f"/desk/checkout?q={pool.handsets[1].imei}")
    expect(page.get_by_role("heading", name="Check out unit 2")).to_be_visible()
    expect(page.locator("#latest-status")).to_have_text("contraindicated")
    expect(page.get_by_text("SIM_SWAPPED")).to_be_visible()
    # what it means, and what to do, beside it
    expect(page.locator("#reason-legend")).to_contain_text("paired with another handset")
    expect(page.get_by_role("button", name="Check out")).to_be_disabled()
    expect(page.locator("#eligibility")).to_contain_text("do not hand this handset out")


@pytest.mark.parametrize("web_config", [ServiceConfig(checkout_max_age=0.0)], indirect=True)
def test_server_refuses_a_stale_attestation_even_if_the_button_is_forced(
    page: Page, live_server: LiveServer, tokens: Tokens, pool: Pool
) -> None:
    sign_in(page, tokens.desk)
    page.goto(f"/desk/checkout?q={pool.handsets[0].imei}")
    button = page.get_by_role("button", name="Check out")
    expect(button).to_be_disabled()
    expect(page.locator("#eligibility")).to_contain_text("old")
    # Someone re-enables the button by hand: the service itself says no.
    button.evaluate("b => b.removeAttribute('disabled')")
    page.get_by_label("User identity").fill(USER)
    page.locator("form:has(#user)").evaluate(
        "f => f.insertAdjacentHTML('beforeend', '<input type=hidden name=confirmed value=yes>')")
    button.click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("Not checked out")
    expect(refusal).to_contain_text("old")
    page.goto("/desk/returns")
    expect(page.locator("#open-checkouts tbody tr")).to_have_text(["No handset is checked out."])
    # Its EAR lived as long as a checkout may wait (0 s here): signature good, token expired.
    page.goto(f"/desk/checkout?q={pool.handsets[0].imei}")
    page.get_by_role("link", name="Decoded result token").click()
    expect(page.locator("#ear-signature")).to_contain_text("signature valid; the token has expired")


def test_attestation_detail_decodes_the_ear_and_verifies_it(
    page: Page, live_server: LiveServer, tokens: Tokens, pool: Pool, screenshot: Screenshot
) -> None:
    sign_in(page, tokens.desk)
    unit1 = page.locator(f'#pool tr[data-imei="{pool.handsets[0].imei}"]')
    unit1.get_by_role("link", name="affirming").click()
    expect(page.locator("#ear-signature")).to_contain_text("signature valid")
    submods = page.locator("#submods tbody tr")
    expect(submods).to_have_count(3)
    for name in ("me", "usim", "pairing"):
        expect(submods.filter(has_text=name).first).to_contain_text("affirming")
    expect(page.locator("pre.json").first).to_contain_text('"alg": "ES256"')
    expect(page.locator("pre.json").nth(1)).to_contain_text("eat_profile")
    screenshot(page, "attestation")
