"""Registering the IdMS's OpenID Connect clients (CLI and API), and its signing key.

The key signs ID and access tokens; it is derived from the key-encryption key and is in
no table: a database copy cannot sign a token.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select, text

from server.cli.main import main
from server.core import operators
from server.core.config import IdmsConfig, ServiceConfig, StartupError
from server.core.keystore import KeyStore
from server.core.service import Service
from server.http.app import create_app
from server.idms import oidc, tokens
from server.store.models import AuditEntry, IdmsClient
from tests.cli_errors import one_line_refusal


def test_cli_registers_lists_and_removes_clients(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    Service.open(Path(data)).close()
    assert main(["idms", "client", "add", "org.example.mcptt", "--name", "MCPTT client",
                 "--redirect-uri", "org.example.mcptt:/cb", "--data", data, "--json"]) == 0
    native = json.loads(capsys.readouterr().out)
    assert native["scopes"] == ["openid", "3gpp:mc:ptt_service"] and "client_secret" not in native
    assert main(["idms", "client", "add", "mcptt-server", "--kind", "service", "--name",
                 "MCPTT server", "--data", data, "--json"]) == 0
    secret = json.loads(capsys.readouterr().out)["client_secret"]
    assert main(["idms", "client", "list", "--data", data, "--json"]) == 0
    listed = capsys.readouterr().out
    assert [c["client_id"] for c in json.loads(listed)] == ["mcptt-server", "org.example.mcptt"]
    assert secret not in listed
    with Service.open(Path(data), create=False) as svc, svc.db.read_session() as session:
        stored = session.scalars(select(IdmsClient)).all()
        assert all(secret not in repr(vars(row)) for row in stored)  # a digest only
        assert oidc.service_client(svc, "mcptt-server", secret, None) is not None
        assert oidc.service_client(svc, "mcptt-server", secret + "x", None) is None
    # A native client redirecting to another host, or a scope it may not have: refused.
    assert "redirect URI" in one_line_refusal(
        ["idms", "client", "add", "evil", "--name", "x", "--redirect-uri",
         "https://evil.example/cb", "--data", data], capsys)
    assert "scope" in one_line_refusal(
        ["idms", "client", "add", "greedy", "--name", "x", "--redirect-uri",
         "org.example.x:/cb", "--scope", "3gpp:mc:identity_lookup", "--data", data], capsys)
    assert main(["idms", "client", "remove", "org.example.mcptt", "--data", data]) == 0
    assert "not registered" in one_line_refusal(
        ["idms", "client", "remove", "org.example.mcptt", "--data", data], capsys)
    with Service.open(Path(data), create=False) as svc, svc.db.read_session() as session:
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("idms.client.%"))).all()
    assert actions == ["idms.client.add", "idms.client.add", "idms.client.remove"]


def test_api_registers_clients_for_admins_only(service: Service) -> None:
    client = create_app(service).test_client()
    admin = {"Authorization": f"Bearer {operators.create_token(service, 'admin')}"}
    desk = {"Authorization": f"Bearer {operators.create_token(service, 'desk')}"}
    body = {"client_id": "org.example.mcptt", "name": "MCPTT",
            "redirect_uris": ["org.example.mcptt:/cb"], "scopes": ["3gpp:mc:ptt_service"]}
    assert client.post("/v1/idms/native-clients", json=body, headers=desk).status_code == 403
    made = client.post("/v1/idms/native-clients", json=body, headers=admin)
    assert made.status_code == 201
    assert made.get_json()["scopes"] == ["openid", "3gpp:mc:ptt_service"]
    again = client.post("/v1/idms/native-clients", json=body, headers=admin)
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    bad = client.post("/v1/idms/native-clients", headers=admin,
                      json=body | {"client_id": "x", "redirect_uris": ["https://a.example/"]})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    service_client = client.post("/v1/idms/service-clients", headers=admin,
                                 json={"client_id": "mcptt-server", "name": "MCPTT server"})
    assert service_client.status_code == 201 and service_client.get_json()["client_secret"]
    listed = client.get("/v1/idms/clients", headers=admin).get_json()["items"]
    assert {c["client_id"] for c in listed} == {"org.example.mcptt", "mcptt-server"}
    assert client.delete("/v1/idms/clients/mcptt-server", headers=admin).status_code == 200
    assert client.delete("/v1/idms/clients/mcptt-server", headers=admin).status_code == 404


def test_the_signing_key_comes_from_the_kek_and_is_in_no_table(service: Service) -> None:
    signer = tokens.signer(service.keys)
    assert tokens.signer(service.keys) is signer  # one derivation per KEK
    other = tokens.signer(KeyStore(bytes(32)))
    assert other.kid != signer.kid
    scalar = signer.private_key.private_numbers().private_value.to_bytes(32, "big")
    with service.db.read_session() as session:
        for table in ("service_meta", "idms_clients", "idms_codes", "idms_sign_ins"):
            for row in session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                for value in row:
                    assert not (isinstance(value, bytes) and scalar in value)


def test_a_resource_server_refuses_tokens_that_do_not_verify_or_bind() -> None:
    signer = tokens.signer(KeyStore(bytes(range(32))))
    now = int(time.time())
    cert = b"the DER of a client certificate"
    claims = {"iss": "https://idms", "sub": "alice", "iat": now, "exp": now + 60, "sid": 7,
              "scope": "openid", "cnf": {"x5t#S256": tokens.certificate_thumbprint(cert)}}

    def token(extra: dict[str, object] | None = None, typ: str = "at+jwt") -> str:
        return jwt.encode(claims | (extra or {}), signer.private_key, algorithm="ES256",
                          headers={"typ": typ, "kid": signer.kid})

    public = signer.private_key.public_key()
    assert tokens.verify_access_token(token(), public, "https://idms", cert).sign_in == 7
    for bad, certificate, why in [
            (token(typ="JWT"), cert, "typ"), (token({"exp": now - 1}), cert, "expired"),
            (token({"iss": "https://other"}), cert, "issuer"),
            (token(), b"another certificate", "another client certificate"),
            (token(), None, "mutual TLS"), (token({"cnf": {}}), cert, "not bound"),
            (token()[:-4] + "AAAA", cert, "verify")]:
        with pytest.raises(tokens.TokenRefused, match=why):
            tokens.verify_access_token(bad, public, "https://idms", certificate)


def test_a_configured_issuer_is_the_one_discovery_and_tokens_name(tmp_path: Path) -> None:
    config = ServiceConfig(idms=IdmsConfig(enabled=True, issuer="https://idms.police.example"))
    with Service.open(tmp_path / "data", None, config) as svc:
        client = create_app(svc).test_client()
        meta = client.get("/.well-known/openid-configuration", base_url="https://other:8443",
                          environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert meta["issuer"] == "https://idms.police.example"
    assert meta["token_endpoint"] == "https://idms.police.example/idms/token"
    for wrong in ("http://idms.example", "https://idms.example/", "https://idms.example/a?b"):
        with pytest.raises(StartupError, match=r"idms\.issuer"):
            IdmsConfig(issuer=wrong)
