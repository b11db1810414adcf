"""Desk sign-in, sign-out, session cookie, CSRF and roles — in headless Chromium."""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
from pathlib import Path
from urllib.parse import quote

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, Page, expect

from attest import devicekey
from server.core import operators
from server.core.service import Service
from server.http.app import create_app
from tests.fixtures_browser import LiveServer, Screenshot, Tokens, serve, sign_in


def test_sign_in_shows_pool_and_sign_out_ends_the_session(
    page: Page, live_server: LiveServer, tokens: Tokens, screenshot: Screenshot
) -> None:
    page.goto("/desk/pool")
    expect(page).to_have_url(re.compile(r"/desk/sign-in\?next=/desk/pool$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "sign-in")

    page.get_by_label("Operator token").fill("sat_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("This token is not valid or has been revoked.")).to_be_visible()

    page.get_by_label("Operator token").fill(tokens.desk)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/desk/pool$"))
    expect(page.get_by_role("heading", name="Handset pool")).to_be_visible()
    expect(page.locator(".whoami")).to_contain_text("Dana at desk 1 (desk)")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("Signed out.")).to_be_visible()
    page.goto("/desk/pool")
    expect(page).to_have_url(re.compile(r"/desk/sign-in"))


def test_a_revoked_operator_is_signed_out_at_the_next_page(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    sign_in(page, tokens.desk)
    operator = operators.authenticate(live_server.service, tokens.desk)
    assert operator is not None
    operators.revoke(live_server.service, operator.id, actor="test admin")
    page.goto("/desk/alerts")
    expect(page).to_have_url(re.compile(r"/desk/sign-in"))
    page.get_by_label("Operator token").fill(tokens.desk)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("This token is not valid or has been revoked.")).to_be_visible()


def test_sign_in_never_redirects_off_site(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    for target in ("//evil.example/desk", "/\\evil.example/desk", "https://evil.example/"):
        page.context.clear_cookies()
        page.goto(f"/desk/sign-in?next={quote(target)}")
        page.get_by_label("Operator token").fill(tokens.desk)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{live_server.url}/desk/pool")


def test_session_cookie_holds_no_token_and_is_httponly_strict(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    sign_in(page, tokens.desk)
    cookies = {c["name"]: c for c in page.context.cookies()}
    cookie = cookies["simattest_desk"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain HTTP on loopback
    assert tokens.desk not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # invisible to scripts


def _self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def test_cookie_is_secure_over_tls(
    chromium: Browser, web_service: Service, tokens: Tokens, tmp_path: Path
) -> None:
    with serve(create_app(web_service), _self_signed_tls(tmp_path)) as url:
        context = chromium.new_context(base_url=url, ignore_https_errors=True)
        try:
            page = context.new_page()
            sign_in(page, tokens.desk)
            cookie = {c["name"]: c for c in context.cookies()}["simattest_desk"]
            assert cookie["secure"] is True
            assert cookie["httpOnly"] is True
        finally:
            context.close()


def test_a_form_posted_without_its_csrf_token_is_refused(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    sign_in(page, tokens.provisioner)
    page.goto("/desk/provision/pairings")
    page.get_by_label("Handset IMEI").fill("356938035640011")
    page.get_by_label("Card ICCID").fill("8900101000000000019")
    page.locator("form:has(#iccid) input[name=csrf_token]").evaluate("e => e.remove()")
    page.get_by_role("button", name="Pair").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    # Refused before the view ran: nothing reached the registry or the audit log.
    page.goto("/desk/audit")
    expect(page.locator("#audit")).not_to_contain_text("pairing")


def test_a_forged_cross_site_form_does_nothing(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    sign_in(page, tokens.admin)
    # A page from another origin posting to the desk: SameSite=Strict keeps the session
    # cookie off the request, so it arrives signed out and without a CSRF token.
    page.goto("about:blank")
    page.set_content(
        f'<form method="post" action="{live_server.url}/desk/sign-out">'
        '<button>go</button></form>'
    )
    page.get_by_role("button", name="go").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    page.goto("/desk/pool")
    expect(page.get_by_role("heading", name="Handset pool")).to_be_visible()


def test_the_json_api_with_a_bearer_token_needs_no_csrf_token(
    live_server: LiveServer, tokens: Tokens
) -> None:
    key = devicekey.generate()
    response = requests.post(
        f"{live_server.url}/v1/handsets",
        json={"imei": "356938035640011", "label": "api unit",
              "public_key": key.public_pem().decode()},
        headers={"Authorization": f"Bearer {tokens.provisioner}"}, timeout=10,
    )
    assert response.status_code == 201, response.text


def test_desk_token_cannot_reach_provisioning(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    sign_in(page, tokens.desk)
    expect(page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Provisioning")).to_have_count(0)
    for path in ("/desk/provision/", "/desk/provision/import", "/desk/provision/handsets",
                 "/desk/provision/pairings", "/desk/provision/cards"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed for your role")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_provisioner_token_cannot_check_out(
    page: Page, live_server: LiveServer, tokens: Tokens
) -> None:
    sign_in(page, tokens.provisioner)
    for path in ("/desk/checkout", "/desk/returns"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path


def test_two_workers_on_one_data_directory_accept_each_others_sessions(
    web_service: Service, tokens: Tokens
) -> None:
    # gunicorn workers each build their own app on the same data directory.
    second = Service.open(web_service.data_dir.path)
    try:
        first_client = create_app(web_service).test_client()
        second_client = create_app(second).test_client()
        sign_in_page = first_client.get("/desk/sign-in").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', sign_in_page)
        assert csrf is not None
        first_client.post("/desk/sign-in", data={"token": tokens.desk,
                                                  "csrf_token": csrf.group(1)})
        cookie = first_client.get_cookie("simattest_desk")
        assert cookie is not None
        second_client.set_cookie("simattest_desk", cookie.value)
        assert second_client.get("/desk/pool").status_code == 200
    finally:
        second.close()


def test_the_desk_session_stays_on_desk_pages(web_service: Service, tokens: Tokens) -> None:
    # Signed in, "/" still leads to the pool; API answers never touch the desk cookie.
    client = create_app(web_service).test_client()
    sign_in_page = client.get("/desk/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', sign_in_page)
    assert csrf is not None
    client.post("/desk/sign-in", data={"token": tokens.desk, "csrf_token": csrf.group(1)})
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/desk/pool")
    assert client.get("/desk/pool").status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 200
    assert "Set-Cookie" not in health.headers
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and "Set-Cookie" not in jwks.headers
