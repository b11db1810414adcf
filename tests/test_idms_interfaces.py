"""Identity management through its thin interfaces: the ``simattest idms`` and ``desk
lost`` commands, the JSON API (problem+json), and the desk pages in headless Chromium."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server.cli.main import build_parser, main
from server.core import operators
from server.core.config import IdmsConfig, ServiceConfig
from server.core.service import Service
from server.http.app import create_app
from server.idms import credentials
from tests.cli_errors import one_line_refusal
from tests.fixtures_attestation import Pool, build_pool
from tests.fixtures_browser import LiveServer, Tokens, sign_in
from tests.test_idms import DOMAIN, PASSWORD, _attest, sqlite_only


@pytest.fixture
def service_config() -> ServiceConfig:
    return ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN))


@pytest.fixture
def web_config() -> ServiceConfig:
    return ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN))


def _store(service: Service, db_url: str) -> list[str]:
    return ["--data", str(service.data_dir.path), "--db", db_url]


# --- CLI ------------------------------------------------------------------------------

def test_no_command_takes_a_password_as_an_argument() -> None:
    from server.cli.main import _all_parsers

    options = {option for _, parser in _all_parsers(build_parser())
               for action in parser._actions for option in action.option_strings}
    assert "--password-file" in options
    assert not {o for o in options if o.startswith("--password") and o != "--password-file"}


def test_user_add_list_disable_and_reset_through_the_cli(
        service: Service, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    store = _store(service, db_url)
    assert main(["idms", "user", "add", "alice", "--mcptt-id", f"sip:alice@{DOMAIN}",
                 "--name", "Alice", "--agency", "Police", "--totp", "--password-file",
                 str(secret), "--json", *store]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["mc_id"] == "alice" and added["totp_uri"].startswith("otpauth://totp/")
    assert main(["idms", "user", "list", "--json", *store]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [u["mc_id"] for u in listed] == ["alice"] and "totp_uri" not in listed[0]
    # a taken MCPTT ID: one line, exit 2, naming it
    err = one_line_refusal(["idms", "user", "add", "bob", "--mcptt-id",
                            f"sip:alice@{DOMAIN}", "--name", "Bob", "--password-file",
                            str(secret), *store], capsys)
    assert "is already MC user alice's" in err
    # a new password from standard input
    monkeypatch.setattr("sys.stdin", io.StringIO("another long secret\n"))
    assert main(["idms", "user", "reset-password", "alice", "--password-file", "-",
                 *store]) == 0
    capsys.readouterr()
    assert main(["idms", "user", "disable", "alice", "--reason", "left", "--json",
                 *store]) == 0
    assert json.loads(capsys.readouterr().out)["enabled"] is False
    # the new password is right (TOTP asked next); the old one is not
    assert credentials.verify_credentials(service, "alice", "another long secret",
                                          address="192.0.2.1").outcome == "totp-required"
    assert credentials.verify_credentials(service, "alice", PASSWORD,
                                          address="192.0.2.2").outcome \
        == "invalid-credentials"


@sqlite_only
def test_a_password_never_comes_without_a_file_or_terminal(
        service: Service, db_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    err = one_line_refusal(["idms", "user", "add", "alice", "--mcptt-id",
                            f"sip:alice@{DOMAIN}", "--name", "Alice",
                            *_store(service, db_url)], capsys)
    assert "--password-file" in err


@sqlite_only
def test_prune_through_the_cli(service: Service, db_url: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["idms", "prune", "--days", "30", "--json", *_store(service, db_url)]) == 0
    assert json.loads(capsys.readouterr().out) == {"settled": 0, "pruned": 0,
                                                   "throttle_rows": 0}
    err = one_line_refusal(["idms", "prune", "--days", "-1", *_store(service, db_url)],
                           capsys)
    assert "retention must be 0..3650 days" in err


# --- API ------------------------------------------------------------------------------

def test_api_directory_roles_problems_and_lost_handset(service: Service) -> None:
    pool = build_pool(service, size=1)
    client = create_app(service).test_client()
    admin = {"Authorization": f"Bearer {operators.create_token(service, 'admin')}"}
    desk = {"Authorization": f"Bearer {operators.create_token(service, 'desk')}"}
    body = {"mc_id": "alice", "mcptt_id": f"sip:alice@{DOMAIN}", "display_name": "Alice",
            "password": PASSWORD}
    assert client.post("/v1/mc-users", json=body, headers=desk).status_code == 403
    added = client.post("/v1/mc-users", json=body, headers=admin)
    assert added.status_code == 201 and "password" not in added.get_json()
    again = client.post("/v1/mc-users", json={**body, "mc_id": "alice2"}, headers=admin)
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert again.get_json()["errors"][0]["field"] == "mcptt_id"
    for bad in ({"display_name": "A\x00"}, {"mcptt_id": "sip:" + "a" * 300 + "@x.org"},
                {"password": "short"}, {"mc_id": "al ice"}):
        refused = client.post("/v1/mc-users", json={**body, **bad}, headers=admin)
        assert refused.status_code == 422, bad
        assert refused.mimetype == "application/problem+json"
        assert PASSWORD not in refused.get_data(as_text=True)
    listed = client.get("/v1/mc-users?search=ali", headers=desk).get_json()
    assert [u["mc_id"] for u in listed["items"]] == ["alice"]
    imei = pool.handsets[0].imei
    lost = client.post(f"/v1/handsets/{imei}/lost", json={"note": "car 7"}, headers=desk)
    assert lost.status_code == 200 and lost.get_json()["lost"]["note"] == "car 7"
    att = _attest(service, pool.handsets[0], pool.cards[0])
    refused = client.post("/v1/checkouts", json={"attestation_id": att, "user": "alice"},
                          headers=desk)
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("handset-lost")
    assert client.post(f"/v1/handsets/{imei}/found", json={}, headers=desk).status_code == 200
    assert client.post(f"/v1/handsets/{imei}/found", json={},
                       headers=desk).status_code == 409
    # identity management on: free text is refused, the MC ID accepted
    free = client.post("/v1/checkouts", json={"attestation_id": att, "user": "Jane Doe"},
                       headers=desk)
    assert free.status_code == 422
    out = client.post("/v1/checkouts", json={"attestation_id": att, "user": "alice"},
                      headers=desk)
    assert out.status_code == 201 and out.get_json()["user"] == "alice"


# --- desk pages -----------------------------------------------------------------------

def test_desk_directory_and_lost_report(page: Page, live_server: LiveServer,
                                        tokens: Tokens, web_service: Service) -> None:
    pool: Pool = build_pool(web_service, size=1)
    sign_in(page, tokens.admin)
    page.goto("/desk/mc-users")
    page.get_by_label("MC ID").fill("alice")
    page.get_by_label("MCPTT ID").fill(f"sip:alice@{DOMAIN}")
    page.get_by_label("Display name").fill("Alice Example")
    page.get_by_label("Initial password").fill(PASSWORD)
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#mc-users")).to_contain_text(f"sip:alice@{DOMAIN}")
    page.get_by_role("button", name="Disable").click()
    expect(page.locator("#mc-users")).to_contain_text("disabled")
    page.get_by_role("button", name="Enable").click()
    expect(page.locator("#mc-users")).to_contain_text("enabled")
    # the handset: reported lost, then cleared
    page.goto("/desk/checkout/1")
    page.get_by_label("Note").fill("left in car 7")
    page.get_by_role("button", name="Report lost or stolen").click()
    expect(page.locator("#lost-state")).to_contain_text("reported lost")
    expect(page.locator("#lost-state")).to_contain_text("left in car 7")
    page.get_by_role("button", name="Clear the lost report").click()
    expect(page.locator("#lost-state")).to_have_text("no")
    assert pool.handsets[0].imei


def _sign_in_alice(svc: Service, imei: str) -> int:
    """What the OpenID Connect provider does on a sign-in: the identities of alice on
    the handset checked out to her (the service functions it calls)."""
    from sqlalchemy import select

    from server.idms import identities
    from server.store.models import McUser

    with svc.db.session() as session:
        user = session.scalar(select(McUser).where(McUser.mc_id == "alice"))
        assert user is not None
        checkout = identities.checkout_for_sign_in(session, imei, user.id)
        return identities.allocate_identities(session, svc.config.idms, checkout, user,
                                              actor="idms").id


def test_api_sign_ins_of_a_checkout_and_an_admin_ending_one(
        service: Service, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from server.idms import desk, users

    pool = build_pool(service, size=1)
    users.add_user(service, mc_id="alice", mcptt_id=f"sip:alice@{DOMAIN}",
                   display_name="Alice", password=PASSWORD, actor="test")
    imei = pool.handsets[0].imei
    out = desk.start_checkout(service, _attest(service, pool.handsets[0], pool.cards[0]),
                              "alice", "desk")
    identity_id = _sign_in_alice(service, imei)
    client = create_app(service).test_client()
    admin = {"Authorization": f"Bearer {operators.create_token(service, 'admin')}"}
    desk_token = {"Authorization": f"Bearer {operators.create_token(service, 'desk')}"}
    listed = client.get(f"/v1/checkouts/{out.id}/sign-ins", headers=desk_token).get_json()
    assert [(s["id"], s["mc_id"], s["valid"]) for s in listed["items"]] \
        == [(identity_id, "alice", True)]
    assert client.post(f"/v1/sign-ins/{identity_id}/end", headers=desk_token).status_code \
        == 403
    ended = client.post(f"/v1/sign-ins/{identity_id}/end", headers=admin).get_json()
    assert (ended["valid"], ended["end_reason"]) == (False, "ended-by-admin")
    assert client.post("/v1/sign-ins/4711/end", headers=admin).status_code == 404
    assert main(["idms", "identities", "--json", *_store(service, db_url)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(i["id"], i["end_reason"]) for i in shown] == [(identity_id, "ended-by-admin")]


def test_desk_shows_the_sign_in_and_an_admin_ends_it(
        page: Page, live_server: LiveServer, tokens: Tokens, web_service: Service) -> None:
    from server.idms import desk, users

    pool = build_pool(web_service, size=1)
    users.add_user(web_service, mc_id="alice", mcptt_id=f"sip:alice@{DOMAIN}",
                   display_name="Alice", password=PASSWORD, actor="test")
    desk.start_checkout(web_service, _attest(web_service, pool.handsets[0], pool.cards[0]),
                        "alice", "desk")
    _sign_in_alice(web_service, pool.handsets[0].imei)
    sign_in(page, tokens.admin)
    page.goto("/desk/checkout/1")
    expect(page.locator("#sign-ins")).to_contain_text("alice")
    expect(page.locator("#sign-ins")).to_contain_text("valid")
    page.get_by_role("button", name="End sign-in").click()
    expect(page.locator("#sign-ins")).to_contain_text("ended-by-admin")
