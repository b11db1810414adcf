"""The attestation detail page's EAR check, on tokens a relying party could be handed."""

from __future__ import annotations

import time

from attest import ear
from attest.appraisal import stale
from server.core.keystore import Signer
from server.core.service import Service
from server.http.web.detail import decode_ear


def _token(signer: Signer, kid: str) -> str:
    claims = ear.claims(stale("reused"), nonce="bm9uY2U", iat=int(time.time()), ttl=600,
                        verifier=ear.VerifierId("https://simattest.dev", "test"))
    return ear.sign(claims, signer.private_key, kid)


def test_a_token_signed_by_the_service_verifies(web_service: Service) -> None:
    signer = web_service.signer
    decoded = decode_ear(_token(signer, signer.kid), signer.jwks())
    assert decoded.signature_ok
    assert decoded.header["kid"] == web_service.signer.kid
    assert decoded.claims["submods"]["usim"]["ear_status"] == "contraindicated"


def test_a_token_signed_by_another_key_with_the_same_kid_does_not(web_service: Service) -> None:
    other = Signer.from_pem(Signer.generate_pem())
    forged = _token(other, web_service.signer.kid)
    decoded = decode_ear(forged, web_service.signer.jwks())
    assert not decoded.signature_ok
    assert "signature" in decoded.verdict.lower()
