"""The desk shows each handset's hardware facts: software key or attested key, boot state,
bootloader, patch levels, what the policy concluded; the pool filters "software key" and
"tampered" (headless Chromium against the app over real HTTP).

Handset A is registered from a TEST-ONLY key attestation and attested with a fresh one
showing an unlocked bootloader; handset B has a bare public key (a software key).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Page, expect

from attest import b64url, devicekey
from attest.android.testauthority import AttestedProperties, TestAttestationAuthority
from attest.evidence import canonical_json
from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.core.config import ServiceConfig
from server.core.service import Service
from server.pool import attested, registry
from server.store.models import utcnow
from tests.fixtures_attestation import Pool, build_pool, signed_request
from tests.fixtures_browser import LiveServer, Tokens, sign_in

NOW = utcnow()
_LAST_MONTH = NOW.date().replace(day=1) - dt.timedelta(days=1)
PATCH = _LAST_MONTH.year * 100 + _LAST_MONTH.month
AUTHORITY = TestAttestationAuthority.create(NOW)


@pytest.fixture
def web_config(tmp_path_factory: pytest.TempPathFactory) -> ServiceConfig:
    roots = tmp_path_factory.mktemp("roots") / "test-root.pem"
    roots.write_bytes(AUTHORITY.roots_pem())
    return ServiceConfig(attestation_roots=roots)


def _props(challenge: bytes, imei: str, **changes: object) -> AttestedProperties:
    return dataclasses.replace(AttestedProperties(
        challenge=challenge, os_patch_level=PATCH, vendor_patch_level=PATCH * 100 + 5,
        boot_patch_level=PATCH * 100 + 5, imeis=(imei,)), **changes)


@pytest.fixture
def pool(web_service: Service, tmp_path: Path) -> tuple[Pool, str]:
    """Unit 1 re-registered from an attestation (IMEI ...), then attested unlocked."""
    svc = web_service
    pool = build_pool(svc, size=2)
    card = pool.cards[0]
    imei = "490154203237518"
    nonce = attested.issue_registration_nonce(svc, imei, actor="test").nonce
    key = ec.generate_private_key(ec.SECP256R1())
    attested.add_attested_handset(svc, imei, AUTHORITY.issue_pem(
        key.public_key(), _props(b64url.decode(nonce), imei)).decode(), nonce,
        actor="test", label="unit A")
    registry.unpair(svc, pool.handsets[0].imei, actor="test")
    registry.pair(svc, imei, card.iccid, actor="test")
    signer = devicekey.DeviceSigner(key)
    challenge = create_challenge(svc, signed_request(signer, imei), "127.0.0.1").to_json()
    leaf = ec.generate_private_key(ec.SECP256R1())
    chain = AUTHORITY.issue(leaf.public_key(), _props(b64url.decode(challenge["nonce"]),
                                                      imei, device_locked=False))
    doc = {"attestation_id": challenge["id"], "nonce": challenge["nonce"], "imei": imei,
           "imeisv": None, **card.facts(),
           "outcome": card.answer(bytes.fromhex(challenge["rand"]),
                                  bytes.fromhex(challenge["autn"])),
           "attestation": [b64url.encode(c.public_bytes(serialization.Encoding.DER))
                           for c in chain]}
    outcome = submit_evidence(svc, challenge["id"], doc,
                              b64url.encode(signer.sign(canonical_json(doc))), "127.0.0.1")
    assert (outcome.status, outcome.reasons) == ("contraindicated", ["ME_BOOTLOADER_UNLOCKED"])
    return pool, outcome.attestation_id


def test_desk_shows_hardware_facts_and_filters_software_key_and_tampered(
        page: Page, live_server: LiveServer, tokens: Tokens, pool: tuple[Pool, str]) -> None:
    sign_in(page, tokens.desk)
    attested_row = page.locator('#pool tr[data-imei="490154203237518"]')
    expect(attested_row).to_contain_text("TEE key (attested)")
    expect(page.locator(f'#pool tr[data-imei="{pool[0].handsets[1].imei}"]')) \
        .to_contain_text("software key")
    page.goto("/desk/pool?device=tampered")
    expect(page.locator("#pool tbody tr")).to_have_count(1)
    expect(page.locator("#pool tbody tr")).to_contain_text("unit A")
    page.goto("/desk/pool?device=software-key")
    expect(page.locator("#pool tbody tr")).to_have_count(2)  # units 1 and 2
    expect(page.locator("#pool")).not_to_contain_text("unit A")
    # the handset page: registration facts and the policy's conclusion
    page.goto("/desk/pool")
    page.get_by_role("link", name="unit A").click()
    expect(page.locator("#key-kind")).to_have_text("TEE key (attested)")
    expect(page.locator("#boot")).to_contain_text("verified boot, bootloader locked")
    expect(page.locator("#patch-levels")).to_contain_text(f"OS {PATCH}")
    expect(page.locator("#registration-policy")).to_contain_text("no findings")
    # the attestation: what the fresh attestation showed
    page.goto(f"/desk/attestations/{pool[1]}")
    hardware = page.locator("#hardware")
    expect(hardware).to_contain_text("yes: bound to this challenge's nonce")
    expect(hardware).to_contain_text("bootloader unlocked")
    expect(hardware).to_contain_text("policy:simattest/device/v1#")


def test_provisioner_registers_a_handset_from_its_key_attestation(
        page: Page, live_server: LiveServer, tokens: Tokens) -> None:
    imei = "356938035643809"
    sign_in(page, tokens.provisioner)
    page.goto("/desk/provision/")
    page.get_by_role("link", name="From its key attestation").click()
    page.locator("#nonce-imei").fill(imei)
    page.get_by_role("button", name="Get a nonce").click()
    nonce = page.locator("#nonce-value").inner_text()
    expect(page.locator("#reg-nonce")).to_have_value(nonce)
    expect(page.locator("#reg-imei")).to_have_value(imei)

    def chain(**changes: object) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        return AUTHORITY.issue_pem(key.public_key(),
                                   _props(b64url.decode(nonce), imei, **changes)).decode()

    # an unlocked handset: refused, the reason next to the chain, nothing registered
    page.locator("#reg-attestation").fill(chain(device_locked=False))
    page.get_by_role("button", name="Register handset").click()
    expect(page.locator(".flash.error")).to_contain_text(
        "Not registered: attestation: the handset's bootloader is unlocked "
        "(ME_BOOTLOADER_UNLOCKED)")
    assert registry.get_handset(live_server.service, imei) is None
    page.locator("#reg-label").fill("PTT 0042")
    page.locator("#reg-attestation").fill(chain())
    page.get_by_role("button", name="Register handset").click()
    expect(page.locator(".flash.ok")).to_contain_text(
        f"Handset {imei} registered from its key attestation (TEE key (attested))")
    handset = registry.get_handset(live_server.service, imei)
    assert handset is not None and registry.key_kind(handset) == "tee"
