"""The IdMS's OpenID Connect flow end to end, and every refusal the issue lists.

A real ``simattest serve`` (gunicorn) with TLS and client certificates from a lab CA;
handsets attested by the real service functions (evidence signed with their device
keys, the card's answer from its own keys: ``tests.fixtures_attestation``), checked out
at the desk to MC users of the directory; the MC client is authlib's OAuth 2.0 client
for requests (``server.agent.mcclient``, which imports nothing of the IdMS), with PKCE
and the handset's device certificate.  Refusals are checked as the RFCs word them, with
their audit entries, and with nothing allocated.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pyotp
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import func, select, update

from server.agent import mcclient
from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.core.config import IdmsConfig, ServiceConfig
from server.core.labca import LabCA
from server.core.service import Service
from server.idms import desk as idms_desk
from server.idms import oidc, users
from server.pool.devicecerts import issue_device_certificate
from server.store.models import AuditEntry, IdmsCode, IdmsSignIn, McIdentity
from tests.fixtures_attestation import Pool, TestCard, TestHandset, build_pool
from tests.processes import SERVE_START_TIMEOUT, serve_process
from tests.test_tls import Namespace, netns  # noqa: F401 (the fixture)

CLIENT = "org.simattest.mcptt"
REDIRECT = "org.simattest.mcptt:/oidc/callback"
PASSWORD = "correct horse battery staple"
SCOPE = "openid 3gpp:mc:ptt_service"
CONFIG = ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain="mcptt.example.org"))


@dataclass
class Lab:
    url: str
    data: Path
    ca: Path
    pool: Pool
    certs: list[tuple[str, str]]  # (certificate, key) files of each handset
    service_secret: str
    log: Path
    totp: pyotp.TOTP  # erin's second factor

    def svc(self) -> Service:
        return Service.open(self.data, None, CONFIG, create=False)

    def count(self, model: Any) -> int:
        with self.svc() as svc, svc.db.read_session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def audit(self, action: str) -> list[dict[str, Any]]:
        with self.svc() as svc, svc.db.read_session() as session:
            return [dict(entry.details, actor=entry.actor, subject=entry.subject)
                    for entry in session.scalars(select(AuditEntry).where(
                        AuditEntry.action == action).order_by(AuditEntry.seq))]

    def sign_in(self, unit: int, user: str, password: str = PASSWORD, **kwargs: Any
                ) -> mcclient.McSession:
        return mcclient.sign_in(self.url, CLIENT, REDIRECT, user, password,
                                cert=self.certs[unit], ca=str(self.ca), **kwargs)


def _attest(svc: Service, handset: TestHandset, card: TestCard) -> str:
    challenge = create_challenge(svc, handset.request(), client="127.0.0.1")
    evidence, signature = handset.evidence(challenge.to_json(), card)
    outcome = submit_evidence(svc, challenge.id, evidence, signature, client="127.0.0.1")
    return outcome.attestation_id


def _check_out(svc: Service, pool: Pool, unit: int, mc_id: str) -> int:
    attestation = _attest(svc, pool.handsets[unit], pool.cards[unit])
    return idms_desk.start_checkout(svc, attestation, mc_id, actor="desk").id


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("idms")
    data, ca_dir = root / "data", root / "ca"
    config = root / "simattest.toml"
    config.write_text('[idms]\nenabled = true\nmcptt_domain = "mcptt.example.org"\n'
                      'alias_count = 2\n')
    now = dt.datetime.now(dt.UTC)
    ca = LabCA(ca_dir)
    ca.init(["localhost"], now)
    with Service.open(data, None, CONFIG) as svc:
        pool = build_pool(svc, size=7)
        certs = []
        for i, handset in enumerate(pool.handsets):
            cert = issue_device_certificate(svc, ca, handset.imei,
                                            handset.key.public_pem().decode(), now)
            key = root / f"device-{i}-key.pem"
            key.write_bytes(handset.key.private_pem())
            certs.append((str(cert), str(key)))
        for mc_id in ("alice", "bob", "carol", "dave", "frank", "gina"):
            users.add_user(svc, mc_id=mc_id, mcptt_id=f"sip:{mc_id}@mcptt.example.org",
                           display_name=mc_id.title(), password=PASSWORD, actor="admin")
        oidc.add_client(svc, CLIENT, "native", "MCPTT client", [REDIRECT],
                        SCOPE.split(), actor="admin")
        _view, secret = oidc.add_client(svc, "mcptt-server", "service", "MCPTT server", [],
                                        [oidc.LOOKUP_SCOPE], actor="admin")
        assert secret is not None
        _check_out(svc, pool, 0, "alice")
        _check_out(svc, pool, 1, "bob")
        _view, uri = users.add_user(svc, mc_id="erin", mcptt_id="sip:erin@mcptt.example.org",
                                    display_name="Erin", password=PASSWORD, actor="admin",
                                    totp=True)
        _check_out(svc, pool, 4, "erin")
        _check_out(svc, pool, 5, "frank")
    assert uri is not None
    totp = pyotp.parse_uri(uri)
    log = root / "serve.log"
    with serve_process(data, log, tls_ca=ca_dir / "ca.pem",
                       env=dict(os.environ, SIMATTEST_CONFIG=str(config)), extra=[
                           "--workers", "1", "--tls-cert", str(ca_dir / "server.pem"),
                           "--tls-key", str(ca_dir / "server-key.pem"),
                           "--client-ca", str(ca_dir / "ca.pem")]) as url:
        yield Lab(url, data, ca_dir / "ca.pem", pool, certs, secret, log, totp)


def _session(lab: Lab, unit: int | None = 0, **kwargs: Any) -> OAuth2Session:
    kwargs = {"redirect_uri": REDIRECT, "scope": SCOPE, "code_challenge_method": "S256",
              "token_endpoint_auth_method": "none"} | kwargs
    session = OAuth2Session(kwargs.pop("client_id", CLIENT), **kwargs)
    session.cert = None if unit is None else lab.certs[unit]
    session.verify = str(lab.ca)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    return session


def _authorize(lab: Lab, session: OAuth2Session, user: str = "alice",
               password: str = PASSWORD, **params: str) -> requests.Response:
    """The login form's POST; the response (not followed)."""
    verifier = params.pop("code_verifier", generate_token(64))
    uri, _state = session.create_authorization_url(f"{lab.url}/idms/authorize",
                                                   code_verifier=verifier, **params)
    return session.post(uri, data={"username": user, "password": password},
                        allow_redirects=False, timeout=30, withhold_token=True)


def _redirect_query(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code == 302, answer.text[:500]
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _code(lab: Lab, unit: int = 0, user: str = "alice") -> tuple[OAuth2Session, str, str]:
    """A fresh code for ``user`` on ``unit``: (session, code, verifier)."""
    session = _session(lab, unit)
    verifier = generate_token(64)
    query = _redirect_query(_authorize(lab, session, user, code_verifier=verifier))
    return session, query["code"], verifier


def _token(lab: Lab, code: str, verifier: str | None, unit: int | None = 0,
           redirect_uri: str = REDIRECT) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT,
            "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    return requests.post(f"{lab.url}/idms/token", data=form, timeout=30,
                         verify=str(lab.ca), cert=None if unit is None else lab.certs[unit])


def _oauth_error(answer: requests.Response, error: str, status: int = 400) -> str:
    assert answer.status_code == status, answer.text[:500]
    body = answer.json()
    assert body["error"] == error, body
    return str(body.get("error_description", ""))


def _x5t(cert_file: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(Path(cert_file).read_bytes()).public_bytes(
        serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


# --- the flow -------------------------------------------------------------------------

def test_discovery_and_jwks_describe_an_s256_only_mtls_bound_provider(lab: Lab) -> None:
    meta = requests.get(f"{lab.url}/.well-known/openid-configuration", verify=str(lab.ca),
                        timeout=30).json()
    assert meta["issuer"] == lab.url
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert {"openid", "3gpp:mc:ptt_service", "3gpp:mcptt:ptt_server"} <= set(
        meta["scopes_supported"])
    keys = requests.get(meta["jwks_uri"], verify=str(lab.ca), timeout=30).json()["keys"]
    assert [k["alg"] for k in keys] == ["ES256"] and "d" not in keys[0]


def test_sign_in_issues_bound_tokens_and_identities_that_the_lookup_resolves(
        lab: Lab) -> None:
    before = lab.count(McIdentity)
    signed_in = lab.sign_in(0, "alice")
    token = signed_in.token
    jwks = requests.get(f"{lab.url}/idms/jwks.json", verify=str(lab.ca), timeout=30).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    id_token = jwt.decode(token["id_token"], key, algorithms=["ES256"], audience=CLIENT,
                          issuer=lab.url)
    assert id_token["sub"] == "alice" and id_token["mcptt_id"] == "sip:alice@mcptt.example.org"
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"
    access = jwt.decode(token["access_token"], key, algorithms=["ES256"], issuer=lab.url,
                        options={"verify_aud": False})
    assert access["client_id"] == CLIENT and access["scope"] == SCOPE
    assert access["mcptt_id"] == "sip:alice@mcptt.example.org"
    assert access["cnf"] == {"x5t#S256": _x5t(lab.certs[0][0])}
    assert access["exp"] - access["iat"] == 300  # [idms] access_token_seconds default
    found = signed_in.identities()
    assert found["impi"].endswith("@mcptt.example.org") and found["impu"].startswith("sip:")
    assert len(found["aliases"]) == 2 and found["home_domain"] == "mcptt.example.org"
    assert lab.count(McIdentity) == before + 1
    for impu in (found["impu"], found["aliases"][1]):
        answer = requests.get(f"{lab.url}/idms/lookup", params={"impu": impu},
                              auth=("mcptt-server", lab.service_secret),
                              verify=str(lab.ca), timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["mcptt_id"] == "sip:alice@mcptt.example.org" and body["active"] is True
        text = answer.text
        assert lab.pool.handsets[0].imei not in text and "impi" not in text.lower()
    # The refresh (TS 33.180 clause B.5) rotates the refresh token.
    old = token["refresh_token"]
    renewed = signed_in.refresh()
    assert renewed["refresh_token"] != old
    again = requests.post(f"{lab.url}/idms/token", timeout=30, verify=str(lab.ca),
                          cert=lab.certs[0], data={"grant_type": "refresh_token",
                                                   "refresh_token": old, "client_id": CLIENT})
    _oauth_error(again, "invalid_grant")
    entries = lab.audit("idms.sign-in")
    assert entries[-1]["actor"] == "mc-user:alice"


def test_introspection_says_active_and_then_inactive_after_the_return(lab: Lab) -> None:
    with lab.svc() as svc:
        checkout = _check_out(svc, lab.pool, 2, "carol")
    signed_in = lab.sign_in(2, "carol")
    access = signed_in.token["access_token"]

    def introspect() -> dict[str, Any]:
        answer = requests.post(f"{lab.url}/idms/introspect", data={"token": access},
                               auth=("mcptt-server", lab.service_secret),
                               verify=str(lab.ca), timeout=30)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    assert introspect()["active"] is True
    assert introspect()["cnf"] == {"x5t#S256": _x5t(lab.certs[2][0])}
    impu = signed_in.identities()["impu"]
    with lab.svc() as svc:
        idms_desk.return_checkout(svc, checkout, actor="desk")
    assert introspect() == {"active": False}
    with pytest.raises(mcclient.SignInRefused, match="invalid_grant"):
        signed_in.refresh()
    gone = signed_in.oauth.get(signed_in.metadata["mc_identities_endpoint"], timeout=30)
    assert gone.status_code == 401
    assert gone.headers["Content-Type"] == "application/problem+json"
    looked_up = requests.get(f"{lab.url}/idms/lookup", params={"impu": impu},
                             auth=("mcptt-server", lab.service_secret),
                             verify=str(lab.ca), timeout=30).json()
    assert looked_up["active"] is False
    refusals = lab.audit("idms.sign-in.refused")
    assert refusals[-1]["reason"] == "returned"


def test_a_user_with_totp_needs_the_code_and_the_id_token_says_so(lab: Lab) -> None:
    answer = _authorize(lab, _session(lab, 4), "erin")
    assert answer.status_code == 401
    assert "one-time code" in mcclient._login_message(answer.text)
    signed_in = lab.sign_in(4, "erin", totp=lab.totp.now())
    jwks = requests.get(f"{lab.url}/idms/jwks.json", verify=str(lab.ca), timeout=30).json()
    id_token = jwt.decode(signed_in.token["id_token"], jwt.PyJWK(jwks["keys"][0]).key,
                          algorithms=["ES256"], audience=CLIENT)
    assert id_token["amr"] == ["pwd", "otp", "mfa"] and id_token["sub"] == "erin"


def _introspect(lab: Lab, access: str) -> dict[str, Any]:
    answer = requests.post(f"{lab.url}/idms/introspect", data={"token": access},
                           auth=("mcptt-server", lab.service_secret), verify=str(lab.ca),
                           timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_lost_report_and_disabling_the_user_end_sign_ins_at_once(lab: Lab) -> None:
    imei = lab.pool.handsets[5].imei
    signed_in = lab.sign_in(5, "frank")
    assert _introspect(lab, signed_in.token["access_token"])["active"] is True
    with lab.svc() as svc:
        idms_desk.report_lost(svc, imei, actor="desk")
    assert _introspect(lab, signed_in.token["access_token"]) == {"active": False}
    with pytest.raises(mcclient.SignInRefused, match="invalid_grant"):
        signed_in.refresh()
    assert lab.audit("idms.sign-in.refused")[-1]["reason"] == "lost"
    with lab.svc() as svc:
        idms_desk.clear_lost(svc, imei, actor="desk")
    again = lab.sign_in(5, "frank")
    assert _introspect(lab, again.token["access_token"])["active"] is True
    with lab.svc() as svc:
        users.disable_user(svc, "frank", actor="admin")
    try:
        assert _introspect(lab, again.token["access_token"]) == {"active": False}
        with pytest.raises(mcclient.SignInRefused, match="invalid_grant"):
            again.refresh()
        assert lab.audit("idms.sign-in.refused")[-1]["reason"] == "user-disabled"
    finally:
        with lab.svc() as svc:
            users.enable_user(svc, "frank", actor="admin")


def test_a_code_from_before_the_handset_was_checked_out_again_is_refused(lab: Lab) -> None:
    """The checkout the user signed in on, and the attestation it was granted on, are
    the ones the tokens need: returned and checked out again (to the same user, on a
    new attestation) in between, the code is refused."""
    with lab.svc() as svc:
        first = _check_out(svc, lab.pool, 6, "gina")
    _, code, verifier = _code(lab, 6, "gina")
    with lab.svc() as svc:
        idms_desk.return_checkout(svc, first, actor="desk")
        _check_out(svc, lab.pool, 6, "gina")
    _oauth_error(_token(lab, code, verifier, unit=6), "invalid_grant")
    assert lab.audit("idms.sign-in.refused")[-1]["reason"] == "checked-out-again"
    assert lab.sign_in(6, "gina").identities()["impu"]  # a new login works


# --- refusals -------------------------------------------------------------------------

def test_pkce_plain_or_missing_is_refused(lab: Lab) -> None:
    verifier = generate_token(64)
    session = _session(lab, code_challenge_method=None)
    uri, _state = session.create_authorization_url(
        f"{lab.url}/idms/authorize", code_challenge=verifier, code_challenge_method="plain")
    query = _redirect_query(session.post(uri, data={"username": "alice",
                                                    "password": PASSWORD},
                                         allow_redirects=False, timeout=30,
                                         withhold_token=True))
    assert query["error"] == "invalid_request" and "S256" in query["error_description"]
    session = _session(lab, code_challenge_method=None)
    uri, state = session.create_authorization_url(f"{lab.url}/idms/authorize")
    query = _redirect_query(session.get(uri, allow_redirects=False, timeout=30,
                                       withhold_token=True))
    assert query["error"] == "invalid_request" and query["state"] == state
    assert "code_challenge" in query["error_description"]


def test_a_code_is_single_use_and_its_replay_ends_the_sign_in(lab: Lab) -> None:
    _, code, verifier = _code(lab)
    first = _token(lab, code, verifier)
    assert first.status_code == 200, first.text
    _oauth_error(_token(lab, code, verifier), "invalid_grant")
    refresh = requests.post(f"{lab.url}/idms/token", timeout=30, verify=str(lab.ca),
                            cert=lab.certs[0], data={
                                "grant_type": "refresh_token", "client_id": CLIENT,
                                "refresh_token": first.json()["refresh_token"]})
    _oauth_error(refresh, "invalid_grant")
    assert lab.audit("idms.sign-in.end")[-1]["reason"] == "authorization code replayed"


def test_an_expired_code_is_refused(lab: Lab) -> None:
    _, code, verifier = _code(lab)
    with lab.svc() as svc, svc.db.session() as session:
        session.execute(update(IdmsCode).where(IdmsCode.code_sha256 == oidc.digest(code))
                        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    _oauth_error(_token(lab, code, verifier), "invalid_grant")


def test_wrong_redirect_uri_unknown_client_and_scope_not_allowed(lab: Lab) -> None:
    # At the authorization endpoint: never redirected to an unregistered URI.
    answer = _authorize(lab, _session(lab, redirect_uri="org.evil.app:/cb"))
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "text/html" in answer.headers["Content-Type"]
    answer = _authorize(lab, _session(lab, client_id="nobody"))
    assert answer.status_code == 400 and "Location" not in answer.headers
    refused = lab.audit("idms.protocol.refused")[-1]
    assert (refused["subject"], refused["client_id"]) == ("endpoint:/idms/authorize", "nobody")
    query = _redirect_query(_authorize(lab, _session(
        lab, scope="openid 3gpp:mc:video_service")))
    assert query["error"] == "invalid_scope"
    # At the token endpoint: the code's own redirect URI only.
    _, code, verifier = _code(lab)
    _oauth_error(_token(lab, code, verifier, redirect_uri="org.simattest.mcptt:/other"),
                 "invalid_grant")


def test_wrong_or_missing_code_verifier_is_refused(lab: Lab) -> None:
    _, code, _verifier = _code(lab)
    _oauth_error(_token(lab, code, generate_token(64)), "invalid_grant")
    refused = lab.audit("idms.protocol.refused")[-1]
    assert (refused["subject"], refused["error"]) == ("endpoint:/idms/token", "invalid_grant")
    assert code not in str(refused)  # never the code itself
    _, code, _verifier = _code(lab)
    _oauth_error(_token(lab, code, None), "invalid_request")


def test_wrong_password_and_unknown_user_get_the_same_answer(lab: Lab) -> None:
    before = lab.count(McIdentity)
    wrong = _authorize(lab, _session(lab, unit=3), "dave", "not the password at all")
    unknown = _authorize(lab, _session(lab, unit=3), "nobody-" + secrets.token_hex(4),
                         "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert mcclient._login_message(wrong.text) == mcclient._login_message(unknown.text)
    assert "Location" not in wrong.headers
    # At once again as dave from this address: the growing delay answers, not a lockout.
    throttled = _authorize(lab, _session(lab, unit=3), "dave", "not the password at all")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    reasons = [e["reason"] for e in lab.audit("idms.sign-in.refused")[-3:]]
    assert reasons == ["invalid-credentials", "invalid-credentials", "throttled"]
    assert lab.count(McIdentity) == before


def test_disabled_user_lost_handset_and_a_handset_not_checked_out_to_the_user(
        lab: Lab) -> None:
    before = lab.count(McIdentity)
    # bob holds unit 1; alice may not sign in on it, nor bob on unit 0 or unit 3.
    for unit, user, reason in [(1, "alice", "checkout-other-user"),
                               (0, "bob", "checkout-other-user"),
                               (3, "bob", "not-checked-out")]:
        query = _redirect_query(_authorize(lab, _session(lab, unit), user))
        assert query["error"] == "access_denied", query
        assert lab.audit("idms.sign-in.refused")[-1]["reason"] == reason
    # Without a handset's device certificate nobody gets to try a password: the same
    # refusal for the right and a wrong one, before any credential is checked.
    for password in (PASSWORD, "not the password at all"):
        with pytest.raises(mcclient.SignInRefused, match="access_denied"):
            mcclient.sign_in(lab.url, CLIENT, REDIRECT, "alice", password, cert=None,
                             ca=str(lab.ca))
        assert lab.audit("idms.sign-in.refused")[-1]["reason"] == "no-device-certificate"
    with lab.svc() as svc:
        idms_desk.report_lost(svc, lab.pool.handsets[1].imei, actor="desk")
    query = _redirect_query(_authorize(lab, _session(lab, 1), "bob"))
    assert query["error"] == "access_denied"
    assert lab.audit("idms.sign-in.refused")[-1]["reason"] == "lost"
    with lab.svc() as svc:
        idms_desk.clear_lost(svc, lab.pool.handsets[1].imei, actor="desk")
        users.disable_user(svc, "bob", actor="admin")
    try:
        answer = _authorize(lab, _session(lab, 1), "bob")
        assert answer.status_code == 403 and "disabled" in mcclient._login_message(answer.text)
    finally:
        with lab.svc() as svc:
            users.enable_user(svc, "bob", actor="admin")
    assert lab.count(McIdentity) == before


def test_a_contraindicated_attestation_ends_the_sign_in(lab: Lab) -> None:
    signed_in = lab.sign_in(1, "bob")
    assert signed_in.identities()["impu"]
    with lab.svc() as svc:
        # Unit 1 attested again holding unit 3's card: SIM swapped.
        _attest(svc, lab.pool.handsets[1], lab.pool.cards[3])
    with pytest.raises(mcclient.SignInRefused, match="invalid_grant"):
        signed_in.refresh()
    assert lab.audit("idms.sign-in.refused")[-1]["reason"] == "attestation-not-affirming"
    query = _redirect_query(_authorize(lab, _session(lab, 1), "bob"))
    assert query["error"] == "access_denied"


def test_a_token_over_another_client_certificate_or_none_is_refused(lab: Lab) -> None:
    signed_in = lab.sign_in(0, "alice")
    access = signed_in.token["access_token"]
    for cert in (lab.certs[3], None):
        answer = requests.get(f"{lab.url}/idms/identities", timeout=30, verify=str(lab.ca),
                              cert=cert, headers={"Authorization": f"Bearer {access}"})
        assert answer.status_code == 401
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    refresh = requests.post(f"{lab.url}/idms/token", timeout=30, verify=str(lab.ca),
                            cert=lab.certs[3], data={
                                "grant_type": "refresh_token", "client_id": CLIENT,
                                "refresh_token": signed_in.token["refresh_token"]})
    _oauth_error(refresh, "invalid_grant")
    # The code, too, only over the certificate it was issued over.
    _, code, verifier = _code(lab)
    _oauth_error(_token(lab, code, verifier, unit=3), "invalid_grant")


def test_the_lookup_refuses_a_device_token_and_strangers(lab: Lab) -> None:
    signed_in = lab.sign_in(0, "alice")
    impu = signed_in.identities()["impu"]
    with_token = signed_in.oauth.get(f"{lab.url}/idms/lookup", params={"impu": impu},
                                     timeout=30)
    assert with_token.status_code == 403
    assert with_token.headers["Content-Type"] == "application/problem+json"
    assert lab.audit("idms.protocol.refused")[-1]["error"] == "service-credential-required"
    wrong = requests.get(f"{lab.url}/idms/lookup", params={"impu": impu}, timeout=30,
                         auth=("mcptt-server", "guess"), verify=str(lab.ca))
    assert wrong.status_code == 401
    native = requests.post(f"{lab.url}/idms/introspect", timeout=30, verify=str(lab.ca),
                           data={"token": signed_in.token["access_token"]},
                           auth=(CLIENT, "x"))
    _oauth_error(native, "invalid_client", 401)


@pytest.mark.parametrize("path", ["/idms/authorize", "/idms/token", "/idms/introspect",
                                  "/idms/identities", "/idms/lookup"])
def test_oversized_repeated_and_control_character_parameters_are_refused(
        lab: Lab, path: str) -> None:
    for params in ({"client_id": "x" * 65}, [("scope", "openid"), ("scope", "openid")],
                   {"state": "a\x00b"}, {"impu": "sip:" + "a" * 300}):
        method = "GET" if path in ("/idms/authorize", "/idms/identities", "/idms/lookup") \
            else "POST"
        answer = requests.request(method, f"{lab.url}{path}", params=params, timeout=30,
                                  verify=str(lab.ca), cert=lab.certs[0])
        assert answer.status_code == 400, (path, params, answer.text[:300])
        kind = answer.headers["Content-Type"].partition(";")[0]
        expected = {"/idms/authorize": "text/html", "/idms/token": "application/json",
                    "/idms/introspect": "application/json"}.get(path,
                                                                "application/problem+json")
        assert kind == expected, (path, answer.text[:300])
    assert "\n" not in "".join(lab.log.read_text().splitlines()[-1:])


def test_plain_http_off_loopback_is_refused(
        netns: Namespace, lab: Lab, tmp_path: Path) -> None:  # noqa: F811
    """A plain HTTP request from another address than loopback (over a veth pair into a
    network namespace this test creates) is refused before anything is read."""
    config = tmp_path / "simattest.toml"
    config.write_text("[idms]\nenabled = true\n")
    url = f"http://{netns.address}:8080"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns.name, sys.executable, "-m", "server.cli.main",
             "serve", "--data", str(lab.data), "--bind", f"{netns.address}:8080",
             "--workers", "1"], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=dict(os.environ, SIMATTEST_CONFIG=str(config)))
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not come up"
            try:
                if requests.get(f"{url}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        before = lab.count(IdmsCode)
        token = requests.post(f"{url}/idms/token", timeout=30, data={
            "grant_type": "authorization_code", "code": "x", "client_id": CLIENT})
        assert "plain HTTP" in _oauth_error(token, "invalid_request")
        for path in ("/.well-known/openid-configuration", "/idms/authorize?client_id=x",
                     "/idms/identities", "/idms/lookup?impu=sip:x@y"):
            answer = requests.get(f"{url}{path}", timeout=30)
            assert answer.status_code == 403, (path, answer.text[:300])
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.json()["type"].endswith("/tls-required")
        assert lab.count(IdmsCode) == before
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


ODD = ["", "\x00", "a" * 5000, "%00", "\r\nX-Injected: 1", "３５６", "plain", "S256",
       "code", "openid", REDIRECT, CLIENT, "sip:x@mcptt.example.org", "-1", "[]", "null"]
NAMES = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
         "code_challenge", "code_challenge_method", "code", "code_verifier", "grant_type",
         "refresh_token", "token", "token_type_hint", "username", "password", "totp", "impu"]


def test_arbitrary_parameters_never_answer_5xx(lab: Lab) -> None:
    """Hypothesis draws an endpoint, parameters (names of the protocol and others, odd and
    arbitrary values) in the query or the form, and a client certificate or none: the
    answer is never a 5xx, and its kind is the endpoint's (RFC 6749 JSON, the login
    page, or problem+json)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    kinds = {"/idms/authorize": {"text/html"}, "/idms/token": {"application/json"},
             "/idms/introspect": {"application/json"},
             "/idms/identities": {"application/problem+json"},
             "/idms/lookup": {"application/problem+json"}}
    value = st.sampled_from(ODD) | st.text(max_size=60)
    params = st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=8), value),
                      max_size=6)
    sessions = {cert: requests.Session() for cert in (0, None)}
    for cert, session in sessions.items():
        session.verify = str(lab.ca)
        session.trust_env = False
        session.cert = None if cert is None else lab.certs[cert]

    @settings(max_examples=int(os.environ.get("SIMATTEST_FUZZ_EXAMPLES", "300")),
              deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(sorted(kinds)), st.sampled_from(["GET", "POST"]), params,
           st.booleans(), st.sampled_from([0, None]))
    def fuzz(path: str, method: str, pairs: list[tuple[str, str]], in_form: bool,
             cert: int | None) -> None:
        as_form = in_form and method == "POST"
        answer = sessions[cert].request(
            method, f"{lab.url}{path}", params=None if as_form else pairs,
            data=pairs if as_form else None, allow_redirects=False, timeout=30)
        assert answer.status_code < 500, (path, pairs, answer.text[:300])
        # 414: gunicorn refuses a request line past its limit before the app sees it
        # (problem+json whatever the endpoint: tests/test_serve_options.py).
        if answer.status_code >= 400 and answer.status_code not in (405, 414):
            kind = answer.headers["Content-Type"].partition(";")[0]
            assert kind in kinds[path], (path, answer.status_code, answer.text[:300])

    fuzz()
    for line in lab.log.read_text(errors="replace").split("\n")[:-1]:
        assert '"unhandled error"' not in line, line


def test_an_admin_ending_the_sign_in_at_the_desk_ends_its_tokens(lab: Lab) -> None:
    signed_in = lab.sign_in(0, "alice")
    access = signed_in.token["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    with lab.svc() as svc, svc.db.read_session() as session:
        identity_id = session.scalar(select(IdmsSignIn.identity_id).where(
            IdmsSignIn.id == claims["sid"]))
    assert identity_id is not None and _introspect(lab, access)["active"] is True
    with lab.svc() as svc:
        idms_desk.end_sign_in(svc, identity_id, actor="admin")
    assert _introspect(lab, access) == {"active": False}
    with pytest.raises(mcclient.SignInRefused, match="invalid_grant"):
        signed_in.refresh()
    assert lab.audit("idms.sign-in.refused")[-1]["reason"] == "ended-by-admin"
    gone = signed_in.oauth.get(signed_in.metadata["mc_identities_endpoint"], timeout=30)
    assert gone.status_code == 401


def test_the_mcptt_server_may_authenticate_with_its_pinned_tls_certificate(
        lab: Lab, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes

    from attest import certificates

    ca = LabCA(lab.ca.parent).issuer()
    key = certificates.new_key()
    cert = certificates.make_device_certificate(ca, "000000000000000", key.public_key(),
                                                dt.datetime.now(dt.UTC))
    cert_file, key_file = tmp_path / "mcptt-server.pem", tmp_path / "mcptt-server-key.pem"
    cert_file.write_bytes(certificates.certificate_pem(cert))
    key_file.write_bytes(certificates.private_key_pem(key))
    with lab.svc() as svc:
        oidc.add_client(svc, "mcptt-server-tls", "service", "MCPTT server (TLS)", [],
                        [oidc.LOOKUP_SCOPE], actor="admin",
                        certificate_sha256=cert.fingerprint(hashes.SHA256()).hex())
    impu = lab.sign_in(0, "alice").identities()["impu"]
    answer = requests.get(f"{lab.url}/idms/lookup", params={"impu": impu}, timeout=30,
                          verify=str(lab.ca), cert=(str(cert_file), str(key_file)))
    assert answer.status_code == 200 and answer.json()["active"] is True
    # A handset's certificate is not the MCPTT server's.
    handset = requests.get(f"{lab.url}/idms/lookup", params={"impu": impu}, timeout=30,
                           verify=str(lab.ca), cert=lab.certs[0])
    assert handset.status_code == 401
