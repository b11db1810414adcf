"""Provisioning pages in headless Chromium: vendor import report, handsets, pairings, cards."""

from __future__ import annotations

import secrets
from pathlib import Path

from playwright.sync_api import Page, expect

from attest import devicekey
from server.core.service import Service
from server.pool import registry
from tests.fixtures_attestation import make_iccid, make_imei
from tests.fixtures_browser import LiveServer, Screenshot, Tokens, sign_in


def vendor_csv(iccids: list[str]) -> str:
    lines = ["ICCID,IMSI,KI,OPC"]
    for i, iccid in enumerate(iccids):
        lines.append(f"{iccid},00101{i + 1:010d},{secrets.token_hex(16)},{secrets.token_hex(16)}")
    return "\n".join(lines) + "\n"


def upload(page: Page, path: Path, partial: bool = False) -> None:
    page.goto("/desk/provision/import")
    page.get_by_label("Vendor batch file").set_input_files(str(path))
    if partial:
        page.get_by_label("Import the good rows even if some rows are rejected").check()
    page.get_by_role("button", name="Import").click()


def test_import_with_a_broken_row_shows_the_report_and_imports_nothing(
    page: Page, live_server: LiveServer, tokens: Tokens, tmp_path: Path, screenshot: Screenshot
) -> None:
    good = [make_iccid("8900101", 1), make_iccid("8900101", 2)]
    broken = good[1][:-1] + str((int(good[1][-1]) + 1) % 10)  # wrong Luhn check digit
    path = tmp_path / "batch-42.csv"
    path.write_text(vendor_csv([good[0], broken, make_iccid("8900101", 3)]))
    sign_in(page, tokens.provisioner)

    upload(page, path)
    report = page.locator("#import-report")
    expect(report).to_contain_text("batch-42.csv")
    expect(page.locator("#imported-count")).to_have_text("0")
    expect(page.locator("#rejected-count")).to_have_text("1")
    rejected = page.locator("#rejected-rows tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected.first.locator("th")).to_have_text("3")  # line 3 of the file
    expect(rejected.first).to_contain_text("ICCID")
    expect(page.get_by_role("alert")).to_contain_text("nothing imported")
    html = page.content()
    assert all(line.split(",")[2] not in html for line in path.read_text().splitlines()[1:])
    screenshot(page, "import-report")
    page.goto("/desk/provision/cards")
    expect(page.get_by_text("0 cards.")).to_be_visible()

    upload(page, path, partial=True)
    expect(page.locator("#imported-count")).to_have_text("2")
    expect(page.locator("#rejected-count")).to_have_text("1")
    page.goto("/desk/provision/cards")
    expect(page.get_by_text("2 cards.")).to_be_visible()


def test_the_import_report_shows_what_was_ignored(
    page: Page, live_server: LiveServer, tokens: Tokens, tmp_path: Path
) -> None:
    path = tmp_path / "batch-43.csv"
    rows = vendor_csv([make_iccid("8900101", 7)]).splitlines()
    path.write_text("\n".join([rows[0] + ",COLOUR", rows[1] + ",red"]) + "\n")
    sign_in(page, tokens.provisioner)
    upload(page, path)
    expect(page.locator("#imported-count")).to_have_text("1")
    expect(page.get_by_role("note")).to_contain_text("columns ignored")
    expect(page.get_by_role("note")).to_contain_text("COLOUR")


def test_register_pair_and_unpair_a_handset(
    page: Page, live_server: LiveServer, tokens: Tokens, tmp_path: Path
) -> None:
    iccid = make_iccid("8900101", 7)
    path = tmp_path / "one.csv"
    path.write_text(vendor_csv([iccid]))
    imei = make_imei(7)
    key = devicekey.generate("ecdsa-p256")
    sign_in(page, tokens.admin)
    upload(page, path)
    expect(page.locator("#imported-count")).to_have_text("1")

    page.get_by_role("link", name="Provisioning").click()
    page.get_by_role("link", name="Register a handset").click()
    wrong_luhn = imei[:-1] + str((int(imei[-1]) + 1) % 10)
    page.get_by_label("IMEI", exact=True).fill(wrong_luhn)
    page.get_by_label("Label").fill("Engine 7 radio")
    page.get_by_label("Device public key (PEM)").fill(key.public_pem().decode())
    page.get_by_role("button", name="Register handset").click()
    # The registry's own check, shown next to the field it names.
    expect(page.locator(".field:has(#imei) .error")).to_have_text(
        "IMEI check digit (Luhn) is wrong")
    expect(page.get_by_label("IMEI", exact=True)).to_have_attribute("aria-invalid", "true")

    page.get_by_label("IMEI", exact=True).fill(imei)
    page.get_by_label("Device public key (PEM)").fill("not a key")
    page.get_by_role("button", name="Register handset").click()
    expect(page.get_by_role("alert")).to_contain_text("not a PEM public key")

    page.get_by_label("Device public key (PEM)").fill(key.public_pem().decode())
    page.get_by_role("button", name="Register handset").click()
    expect(page.get_by_text(f"Handset {imei} registered (ecdsa-p256 key).")).to_be_visible()

    # The registration page leads on to pairing, with the IMEI filled in.
    expect(page.get_by_label("Handset IMEI")).to_have_value(imei)
    page.get_by_label("Card ICCID").fill(iccid)
    page.get_by_role("button", name="Pair", exact=True).click()
    expect(page.get_by_text(f"Handset {imei} paired with card {iccid}.")).to_be_visible()
    expect(page.locator("table")).to_contain_text("active")

    page.get_by_label("Handset IMEI").fill(make_imei(8))
    page.get_by_label("Card ICCID").fill(iccid)
    page.get_by_role("button", name="Pair", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("not registered")

    page.goto(f"/desk/provision/pairings?imei={imei}")
    page.get_by_role("button", name="Unpair").click()
    expect(page.get_by_text(f"Handset {imei} unpaired from card {iccid}.")).to_be_visible()
    expect(page.get_by_role("button", name="Unpair")).to_have_count(0)

    page.goto(f"/desk/audit?subject=imei:{imei}")
    actions = page.locator("#audit tbody th")
    expect(actions).to_have_text(["pairing.end", "pairing.create", "handset.add"])


def test_cards_page_shows_the_verification_state(
    page: Page, live_server: LiveServer, tokens: Tokens, web_service: Service, tmp_path: Path,
    screenshot: Screenshot,
) -> None:
    iccids = [make_iccid("8900101", n) for n in (1, 2, 3)]
    path = tmp_path / "three.csv"
    path.write_text(vendor_csv(iccids))
    sign_in(page, tokens.provisioner)
    upload(page, path)
    # What `simattest pool verify` records after the self-check AKA on each card.
    registry.set_card_verification(web_service, iccids[0], "verified", "RES matches",
                                   actor="pool verify")
    registry.set_card_verification(web_service, iccids[1], "failed", "MAC failure: wrong K",
                                   actor="pool verify")
    page.goto("/desk/provision/cards")
    rows = page.locator("tbody tr")
    expect(rows.filter(has_text=iccids[0])).to_contain_text("verified")
    expect(rows.filter(has_text=iccids[1])).to_contain_text("failed")
    expect(rows.filter(has_text=iccids[1])).to_contain_text("MAC failure: wrong K")
    expect(rows.filter(has_text=iccids[2])).to_contain_text("unverified")
    page.get_by_label("Verification").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    screenshot(page, "cards")
