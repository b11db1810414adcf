"""The device-facing HTTP API: shapes, problem+json for bad input, rate limits, JWKS, metrics."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from attest.b64url import encode as b64url
from server.core.config import ServiceConfig
from server.core.operators import create_token
from server.core.service import Service
from server.http.app import create_app
from server.store.models import Attestation
from tests.fixtures_attestation import Pool, TestHandset

PROBLEM = "application/problem+json"


@pytest.fixture
def service_config() -> ServiceConfig:
    # Small per-IMEI limit so the 429 test needs few requests; other tests stay below it.
    return ServiceConfig(rate_limit_per_imei=6, rate_limit_per_client=1000)


@pytest.fixture
def client(service: Service) -> FlaskClient:
    return create_app(service).test_client()


def _challenge(client: FlaskClient, handset: TestHandset) -> dict[str, Any]:
    resp = client.post("/v1/attestations", json=handset.request_json())
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def _unsigned(imei: Any, **extra: Any) -> dict[str, Any]:
    """A challenge request body that is well-formed but for its signature."""
    return {"imei": imei, "signed_at": time.time_ns() // 1_000_000,
            "signature": b64url(bytes(64)), **extra}


def test_challenge_then_evidence_over_http(client: FlaskClient, service: Service,
                                          pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = _challenge(client, handset)
    assert set(challenge) == {"id", "rand", "autn", "app", "nonce", "expires_at"}
    doc, sig = handset.evidence(challenge, card)
    resp = client.post(f"/v1/attestations/{challenge['id']}/evidence",
                       json={"evidence": doc, "signature": sig})
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["status"], body["reasons"]) == ("affirming", [])
    # a relying party: the JWKS document alone verifies the EAR
    jwks = client.get("/.well-known/jwks.json").get_json()
    kid = jwt.get_unverified_header(body["ear"])["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims = jwt.decode(body["ear"], key, algorithms=["ES256"])
    assert claims["submods"]["pairing"]["ear_status"] == "affirming"
    assert client.get("/metrics").status_code == 401  # for operators only
    desk = {"Authorization": f"Bearer {create_token(service, 'desk', 'desk 1')}"}
    metrics = client.get("/metrics", headers=desk).get_data(as_text=True)
    assert 'simattest_attestations_total{status="affirming"}' in metrics


@pytest.mark.parametrize(
    ("kwargs", "status", "slug"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "malformed-json"),
        ({"data": "imei=1", "content_type": "application/x-www-form-urlencoded"}, 415,
         "unsupported-media-type"),
        ({"json": _unsigned(356938035643809)}, 422, "validation-error"),
        ({"json": _unsigned("356938035643809", extra=1)}, 422, "validation-error"),
        ({"json": _unsigned("356938035643808")}, 422, "validation-error"),
        ({"json": {"imei": "356938035643809"}}, 422, "validation-error"),
        ({"json": _unsigned("356938035643809", signed_at="1")}, 422, "validation-error"),
        ({"json": _unsigned("356938035643809", signed_at=1.5)}, 422, "validation-error"),
        ({"json": _unsigned("356938035643809", signed_at=0)}, 422, "validation-error"),
        ({"json": _unsigned("356938035643809", signature="!")}, 422, "validation-error"),
        ({"json": ["356938035643809"]}, 422, "validation-error"),
        ({"data": "{" + " " * (2 << 20) + "}", "content_type": "application/json"}, 413,
         "body-too-large"),
    ],
)
def test_bad_challenge_requests(client: FlaskClient, kwargs: dict[str, Any], status: int,
                                slug: str) -> None:
    resp = client.post("/v1/attestations", **kwargs)
    assert resp.status_code == status
    assert resp.mimetype == PROBLEM
    assert resp.get_json()["type"].endswith("/" + slug)


def test_bad_evidence_requests(client: FlaskClient, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = _challenge(client, handset)
    doc, sig = handset.evidence(challenge, card)
    url = f"/v1/attestations/{challenge['id']}/evidence"
    resp = client.post(url, json={"evidence": dict(doc, ust="all"), "signature": sig})
    assert resp.status_code == 422
    assert "evidence.ust" in resp.get_json()["detail"]
    missing = {k: v for k, v in doc.items() if k != "iccid"}
    resp = client.post(url, json={"evidence": missing, "signature": sig})
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == [{"field": "evidence.iccid",
                                          "reason": "required field missing"}]
    resp = client.post(url, json={"evidence": dict(doc, outcome={"outcome": "x"}),
                                  "signature": sig})
    assert resp.get_json()["errors"][0]["field"] == "evidence.outcome.outcome"
    resp = client.post(url, json={"evidence": doc})
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "signature"
    resp = client.post("/v1/attestations/nope/evidence",
                       json={"evidence": doc, "signature": sig})
    assert resp.status_code == 404 and resp.mimetype == PROBLEM
    # none of that consumed the challenge
    resp = client.post(url, json={"evidence": doc, "signature": sig})
    assert resp.get_json()["status"] == "affirming"


def test_rate_limit_per_imei(client: FlaskClient, service: Service, pool: Pool) -> None:
    handset = pool.handsets[1]
    imei = handset.imei
    for _ in range(6):
        _challenge(client, handset)
    resp = client.post("/v1/attestations", json=handset.request_json())
    assert resp.status_code == 429 and resp.mimetype == PROBLEM
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert "imei" in resp.get_json()["detail"]
    # the refused request left nothing behind
    with service.db.read_session() as session:
        rows = session.scalar(select(func.count()).select_from(Attestation)
                              .where(Attestation.imei == imei))
    assert rows == 6
    # another handset is not affected
    _challenge(client, pool.handsets[2])


def test_nobody_without_the_device_key_locks_a_handset_out_or_burns_its_challenge(
        client: FlaskClient, service: Service, pool: Pool) -> None:
    handset, card, other = pool.handsets[1], pool.cards[1], pool.handsets[0]
    attacker = {"REMOTE_ADDR": "198.51.100.66"}
    captured = handset.request_json()  # the handset's own request, seen on the way
    real = client.post("/v1/attestations", json=captured)
    assert real.status_code == 201
    challenge = real.get_json()
    # Twice the per-IMEI allowance of challenge requests naming the handset: unsigned,
    # signed by another handset's key, and the handset's own request replayed.  Each
    # is answered as any IMEI's would be, with a challenge (a decoy).
    forged = {"imei": handset.imei, **{k: v for k, v in other.request_json().items()
                                      if k != "imei"}}
    decoys = []
    for body in [_unsigned(handset.imei), forged, captured] * 4:
        resp = client.post("/v1/attestations", json=body, environ_base=attacker)
        assert resp.status_code == 201, resp.get_json()
        decoys.append(resp.get_json())
    # Evidence naming the handset, for those decoys and for its real challenge.
    for decoy in decoys:
        doc, sig = other.evidence(decoy, card)
        resp = client.post(f"/v1/attestations/{decoy['id']}/evidence",
                           json={"evidence": dict(doc, imei=handset.imei), "signature": sig},
                           environ_base=attacker)
        assert resp.status_code == 200 and "ME_UNKNOWN" in resp.get_json()["reasons"]
    doc, sig = handset.evidence(challenge, card)
    for junk in (b64url(bytes(64)), b64url(other.key.sign(b"x"))):
        resp = client.post(f"/v1/attestations/{challenge['id']}/evidence",
                           json={"evidence": doc, "signature": junk}, environ_base=attacker)
        assert resp.status_code == 403 and resp.mimetype == PROBLEM
        assert resp.get_json()["type"].endswith("/signature-invalid")
    # The handset's challenge was neither burned nor its allowance spent.
    resp = client.post(f"/v1/attestations/{challenge['id']}/evidence",
                       json={"evidence": doc, "signature": sig})
    assert (resp.status_code, resp.get_json()["status"]) == (200, "affirming")
    again = _challenge(client, handset)
    doc, sig = handset.evidence(again, card)
    resp = client.post(f"/v1/attestations/{again['id']}/evidence",
                       json={"evidence": doc, "signature": sig})
    assert (resp.status_code, resp.get_json()["status"]) == (200, "affirming")


def test_desk_reads_attestations_and_alerts(client: FlaskClient, service: Service,
                                            pool: Pool) -> None:
    desk = {"Authorization": f"Bearer {create_token(service, 'desk', 'desk 1')}"}
    handset = pool.handsets[0]
    challenge = _challenge(client, handset)
    doc, sig = handset.evidence(challenge, pool.cards[1])
    client.post(f"/v1/attestations/{challenge['id']}/evidence",
                json={"evidence": doc, "signature": sig})
    assert client.get(f"/v1/attestations/{challenge['id']}").status_code == 401
    view = client.get(f"/v1/attestations/{challenge['id']}", headers=desk).get_json()
    assert (view["status"], view["reasons"]) == ("contraindicated", ["SIM_SWAPPED"])
    assert "res" not in view["evidence"]["outcome"]
    alerts = client.get("/v1/alerts", headers=desk).get_json()
    assert alerts["total"] == 1 and alerts["items"][0]["id"] == challenge["id"]


def test_desk_lists_attestations_and_checkouts(client: FlaskClient, service: Service,
                                               pool: Pool) -> None:
    from server.core.operators import create_token
    desk = {"Authorization": f"Bearer {create_token(service, 'desk', 'desk 1')}"}
    handset = pool.handsets[0]
    challenge = _challenge(client, handset)
    assert client.get("/v1/attestations").status_code == 401
    page = client.get(f"/v1/attestations?imei={handset.imei}&status=none",
                      headers=desk).get_json()
    assert (page["total"], [a["id"] for a in page["items"]]) == (1, [challenge["id"]])
    assert client.get("/v1/attestations?status=affirming", headers=desk).get_json()[
        "items"] == []
    resp = client.get("/v1/attestations?status=fine", headers=desk)
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    assert resp.get_json()["errors"][0]["field"] == "status"
    resp = client.get("/v1/attestations?imei=356938035640012", headers=desk)
    assert resp.status_code == 422 and "Luhn" in resp.get_json()["detail"]
    assert client.get("/v1/attestations?limit=501", headers=desk).status_code == 422
    # The device layer still answers anything but GET and POST on the collection.
    resp = client.put("/v1/attestations", json={})
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, POST"
    out = client.get("/v1/checkouts?open=true", headers=desk).get_json()
    assert (out["items"], out["total"]) == ([], 0)


def test_openapi_documents_the_attestation_endpoints(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/v1/attestations", "/v1/attestations/{attestation_id}/evidence",
                 "/v1/checkouts", "/v1/checkouts/{checkout_id}/return",
                 "/.well-known/jwks.json", "/metrics"):
        assert path in paths
