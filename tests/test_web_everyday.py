"""The desk in headless Chromium, for what an operator needs every day: what a verdict's
reasons and values mean, acknowledging alerts (desk and API), a handset's history with its
attestations, who took a handset back, sessions that end with a word, cards' verification
and the checkout policy on it, and an import form that never shows the transport key back.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from server.attestation.challenge import create_challenge
from server.attestation.evidence import Outcome, submit_evidence
from server.core import operators
from server.core.service import Service
from server.demo.batchgen import synth_cards, vendor_out_text
from server.http.app import create_app
from server.http.web.setup import SESSION_LIFETIME
from server.pool import registry
from server.store.models import Card
from tests.fixtures_attestation import Pool, TestCard, TestHandset, build_pool
from tests.fixtures_browser import LiveServer, Tokens, sign_in

USER = "Officer J. Doe, badge 4411"


def attest(svc: Service, handset: TestHandset, card: TestCard) -> Outcome:
    challenge = create_challenge(svc, handset.request(), client="127.0.0.1")
    evidence, signature = handset.evidence(challenge.to_json(), card)
    return submit_evidence(svc, challenge.id, evidence, signature, client="127.0.0.1")


@pytest.fixture
def alerts(web_service: Service) -> tuple[Pool, Outcome, Outcome]:
    """unit 1 genuine; unit 2 holding unit 3's card; unit 3 holding a commercial SIM."""
    pool = build_pool(web_service, size=3)
    assert attest(web_service, pool.handsets[0], pool.cards[0]).status == "affirming"
    swapped = attest(web_service, pool.handsets[1], pool.cards[2])
    commercial = attest(web_service, pool.handsets[2], pool.commercial)
    return pool, swapped, commercial


def test_alerts_explain_their_reasons_and_can_be_acknowledged(
    page: Page, live_server: LiveServer, tokens: Tokens,
    alerts: tuple[Pool, Outcome, Outcome],
) -> None:
    _, _, commercial = alerts
    sign_in(page, tokens.desk)
    badge = page.get_by_role("navigation", name="Main").locator(".badge")
    expect(badge).to_have_text("2")
    page.get_by_role("link", name=re.compile("^Alerts")).click()
    legend = page.locator("#reason-legend")
    expect(legend).to_contain_text("SIM_SWAPPED")
    expect(legend).to_contain_text("The card is a pooled card, but it is paired with another "
                                   "handset")
    expect(legend).to_contain_text("COMMERCIAL_SIM")
    expect(legend).to_contain_text("Next: put the handset's own pooled card back")
    rows = page.locator("#alerts tbody tr")
    # the commercial card refused the challenge: what that means is said beside it
    expect(rows.filter(has_text="COMMERCIAL_SIM")).to_contain_text(
        "mac_failure — the card refused the challenge")

    row = rows.filter(has_text="SIM_SWAPPED")
    row.get_by_label("Note").fill("bench typo: unit 2 got unit 3's card, swapped back")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").filter(has_text="acknowledged")).to_contain_text(
        "no longer counts on the badge")
    expect(badge).to_have_text("1")
    expect(rows).to_have_count(2)  # still listed
    expect(row).to_contain_text("acknowledged by operator:")
    expect(row).to_contain_text("Dana at desk 1")
    expect(row).to_contain_text("bench typo: unit 2 got unit 3's card, swapped back")
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)

    # By the API: who, when and the note; once only; only for alerts.
    url = f"{live_server.url}/v1/alerts/{commercial.attestation_id}/acknowledgement"
    auth = {"Authorization": f"Bearer {tokens.desk}"}
    blank = requests.post(url, json={"note": "  "}, headers=auth, timeout=10)
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "note"
    answer = requests.post(url, json={"note": "commercial SIM taken to provisioning"},
                           headers=auth, timeout=10)
    assert answer.status_code == 201
    ack = answer.json()
    assert (ack["note"], ack["acknowledged_by"]) == ("commercial SIM taken to provisioning",
                                                     "operator:1:Dana at desk 1")
    again = requests.post(url, json={"note": "again"}, headers=auth, timeout=10)
    assert again.status_code == 409 and again.json()["type"].endswith("/already-acknowledged")
    listed = requests.get(f"{live_server.url}/v1/alerts", headers=auth, timeout=10).json()
    assert (listed["total"], listed["unacknowledged"]) == (2, 0)
    page.reload()
    expect(badge).to_have_text("0")

    # Both acknowledgements are in the audit log.
    page.goto(f"/desk/audit?subject=attestation:{commercial.attestation_id}")
    expect(page.locator("#audit tbody tr").filter(has_text="alert.acknowledge")).to_contain_text(
        "commercial SIM taken to provisioning")


def test_an_affirming_attestation_is_not_an_alert(
    live_server: LiveServer, tokens: Tokens, alerts: tuple[Pool, Outcome, Outcome],
) -> None:
    pool = alerts[0]
    svc = live_server.service
    genuine = attest(svc, pool.handsets[0], pool.cards[0])
    answer = requests.post(
        f"{live_server.url}/v1/alerts/{genuine.attestation_id}/acknowledgement",
        json={"note": "x"}, headers={"Authorization": f"Bearer {tokens.desk}"}, timeout=10)
    assert answer.status_code == 409 and answer.json()["type"].endswith("/not-an-alert")


def test_attestation_page_and_handset_history_say_what_the_verdict_means(
    page: Page, live_server: LiveServer, tokens: Tokens,
    alerts: tuple[Pool, Outcome, Outcome],
) -> None:
    _, swapped, _ = alerts
    sign_in(page, tokens.desk)
    page.goto("/desk/alerts")
    page.locator("#alerts tbody tr").filter(has_text="SIM_SWAPPED").get_by_role(
        "link", name="Handset history").click()
    history = page.locator("#handset-attestations tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("contraindicated")
    expect(history.first).to_contain_text("SIM_SWAPPED")
    history.first.get_by_role("link", name=swapped.attestation_id).click()

    heading = page.get_by_role("heading", name=f"Attestation {swapped.attestation_id}")
    expect(heading).to_be_visible()
    expect(page.locator("#reason-legend")).to_contain_text(
        "paired with another handset")
    submods = page.locator("#submods tbody tr")
    expect(submods.filter(has_text="pairing")).to_contain_text(
        "instance-identity=97 recognised but compromised")
    expect(submods.filter(has_text="usim")).to_contain_text(
        "hardware=0 no claim (could not be checked)")
    expect(page.locator("#claims-legend")).to_contain_text(
        "whether the card proved it holds its pooled keys")


def test_a_return_names_the_desk_operator_who_took_the_handset_back(
    page: Page, live_server: LiveServer, tokens: Tokens,
    alerts: tuple[Pool, Outcome, Outcome],
) -> None:
    pool = alerts[0]
    sign_in(page, tokens.desk)
    page.goto(f"/desk/checkout?q={pool.handsets[0].imei}")
    page.get_by_label("User identity").fill(USER)
    page.get_by_role("button", name="Check out").click()
    page.get_by_role("button", name="Confirm checkout").click()
    page.goto("/desk/returns")
    page.locator("#open-checkouts tbody tr").first.get_by_role(
        "button", name=re.compile("^Return")).click()
    expect(page.get_by_role("status").filter(has_text="taken back")).to_contain_text(
        f"(out to {USER}) taken back by Dana at desk 1")
    page.goto(f"/desk/audit?subject=imei:{pool.handsets[0].imei}")
    expect(page.locator("#audit tbody tr").filter(has_text="checkout.return")).to_contain_text(
        "Dana at desk 1")


def test_a_revoked_or_expired_session_says_so_on_the_sign_in_page(
    chromium: Browser, page: Page, live_server: LiveServer, tokens: Tokens,
) -> None:
    svc = live_server.service
    sign_in(page, tokens.desk)
    desk = operators.authenticate(svc, tokens.desk)
    assert desk is not None
    operators.revoke(svc, desk.id, actor="test")
    page.goto("/desk/alerts")
    expect(page).to_have_url(re.compile(r"/desk/sign-in"))
    expect(page.get_by_role("alert")).to_contain_text(
        "Your session ended: your operator token has been revoked")

    # A session cookie from a sign-in one shift ago (made with the app's own session
    # signer, as the browser would still hold it).
    app = create_app(svc)
    provisioner = operators.authenticate(svc, tokens.provisioner)
    assert provisioner is not None
    with app.test_request_context():
        signer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        old = signer.dumps({"operator_id": provisioner.id, "_permanent": True,
                            "signed_in_at": int(time.time() - SESSION_LIFETIME.total_seconds()
                                                - 60)})
    context = chromium.new_context(base_url=live_server.url)
    context.add_cookies([{"name": "simattest_desk", "value": old, "url": live_server.url}])
    stale = context.new_page()
    stale.goto("/desk/pool")
    expect(stale).to_have_url(re.compile(r"/desk/sign-in"))
    expect(stale.get_by_role("alert")).to_contain_text(
        "Your session ended: sessions last 12 hours (one shift)")
    context.close()


def test_card_verification_is_explained_and_the_checkout_policy_applies(
    page: Page, live_server: LiveServer, tokens: Tokens,
    alerts: tuple[Pool, Outcome, Outcome],
) -> None:
    pool = alerts[0]
    svc = live_server.service
    # unit 1's card came from a file without key check value (test_provisioning shows
    # the import marks it so)
    with svc.db.session() as db:
        db.execute(update(Card).where(Card.iccid == pool.cards[0].iccid)
                   .values(verification=registry.UNCHECKED_KEY))
    sign_in(page, tokens.admin)
    page.goto(f"/desk/checkout?q={pool.handsets[0].imei}")
    expect(page.locator("#card-check")).to_contain_text("unchecked-key")
    expect(page.locator("#card-check")).to_contain_text("transport key the vendor file gave "
                                                        "no check value for")
    expect(page.get_by_role("button", name="Check out")).to_be_disabled()
    expect(page.locator("#eligibility")).to_contain_text(
        "was imported under a transport key that could not be checked")
    expect(page.locator("#eligibility")).to_contain_text("pool verify")

    # Back to plain unverified: checked out, with a warning.
    with svc.db.session() as db:
        db.execute(update(Card).where(Card.iccid == pool.cards[0].iccid)
                   .values(verification=registry.UNVERIFIED))
    page.reload()
    expect(page.locator("#eligibility")).to_contain_text(
        "Warning: card " + pool.cards[0].iccid + " has never been checked by simattest "
        "pool verify")
    page.get_by_label("User identity").fill(USER)
    page.get_by_role("button", name="Check out").click()
    page.get_by_role("button", name="Confirm checkout").click()
    expect(page.get_by_text(f"unit 1 checked out to {USER}.")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Warning")).to_contain_text(
        "has never been checked by simattest pool verify")

    page.goto("/desk/pool")
    unit1 = page.locator(f'#pool tr[data-imei="{pool.handsets[0].imei}"]')
    expect(unit1).to_contain_text("unverified")
    page.get_by_text("What the card check means").click()
    expect(page.locator("#card-check-legend")).to_contain_text(
        "Never checked by simattest pool verify")

    page.goto("/desk/provision/cards")
    legend = page.locator("#verification-legend")
    for state in registry.VERIFICATION_STATES:
        expect(legend).to_contain_text(state)
    expect(legend).to_contain_text("a card never verified is checked out with a warning")
    expect(page.locator("table").first).to_contain_text("imported without a profile")


def test_the_import_form_never_shows_the_transport_key_back(
    page: Page, live_server: LiveServer, tokens: Tokens,
) -> None:
    sign_in(page, tokens.provisioner)
    page.goto("/desk/provision/import")
    batch = vendor_out_text(synth_cards(2), bytes(range(16)))
    wrong = "0f" * 16
    page.get_by_label("Vendor batch file").set_input_files(
        files=[{"name": "b.out", "mimeType": "text/plain", "buffer": batch.encode()}])
    page.get_by_label("Transport key (optional)").fill(wrong)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text("key check value")
    expect(page.get_by_label("Transport key (optional)")).to_have_value("")
    assert wrong not in page.content().lower()

    # The same batch twice: the second time there is nothing to do, and it says so.
    plain = vendor_out_text(synth_cards(2, iccid_prefix="8949448888", imsi_prefix="00108"))
    for _ in range(2):
        page.get_by_label("Vendor batch file").set_input_files(
            files=[{"name": "p.out", "mimeType": "text/plain", "buffer": plain.encode()}])
        page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status").filter(has_text="Nothing imported")).to_contain_text(
        "all 2 cards are already in the pool; nothing to do")
