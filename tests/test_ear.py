"""EAR tokens: claims per draft-ietf-rats-ear, verified with nothing but a JWKS."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attest import ear
from attest.appraisal import ChallengeFacts, PooledCard, RegistryFacts, Verdict, appraise
from attest.errors import InputError
from attest.evidence import parse_evidence

VERIFIER = ear.VerifierId(developer="https://simattest.example", build="simattest 0.1.0")


def _jwks(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, object]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig", alg="ES256")
    return {"keys": [jwk]}


def _verdict() -> Verdict:
    card = PooledCard("8988211000000000018", "001010000000001", "490154203237518")
    ev = parse_evidence({
        "attestation_id": "att1", "nonce": "bm9uY2U", "imei": "490154203237518",
        "imeisv": None, "iccid": card.iccid, "imsi": card.imsi, "mnc_length": 2, "ust": [],
        "prose": True, "isim": None, "outcome": {"outcome": "success", "res": "01020304"},
    })
    facts = RegistryFacts(True, True, card, card, "public-safety", True)
    return appraise(ChallengeFacts("att1", "bm9uY2U", "490154203237518", b"\1\2\3\4"), ev, facts)


def test_relying_party_verifies_with_only_the_jwks() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    claims = ear.claims(_verdict(), nonce="bm9uY2U", verifier=VERIFIER, iat=1_900_000_000,
                        ttl=300)
    token = ear.sign(claims, key, "k1")
    jwks = _jwks(key, "k1")
    # what any relying party does with PyJWT alone
    header = jwt.get_unverified_header(token)
    signing_key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    decoded = jwt.decode(token, signing_key, algorithms=["ES256"],
                         options={"verify_exp": False, "verify_iat": False})
    assert header["alg"] == "ES256"
    assert decoded["eat_profile"] == "tag:ietf.org,2026:rats/ear#04"
    assert decoded["eat_nonce"] == "bm9uY2U"
    assert decoded["exp"] - decoded["iat"] == 300
    assert decoded["ear_verifier_id"] == {"developer": "https://simattest.example",
                                          "build": "simattest 0.1.0"}
    assert set(decoded["submods"]) == {"me", "usim", "pairing"}
    usim = decoded["submods"]["usim"]
    assert usim["ear_status"] == "affirming"
    assert usim["ear_trustworthiness_vector"]["hardware"] == 2
    assert usim["ear_appraisal_policy_ids"] == ["policy:simattest/checkout/v1"]


def test_verify_refuses_other_keys_and_expired_tokens() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    claims = ear.claims(_verdict(), nonce="n", verifier=VERIFIER, iat=1_000, ttl=60)
    token = ear.sign(claims, key, "k1")
    with pytest.raises(InputError, match="Signature has expired"):
        ear.verify(token, _jwks(key, "k1"))
    assert ear.verify(token, _jwks(key, "k1"), leeway=10**10)["iat"] == 1_000
    with pytest.raises(InputError, match="Signature verification failed"):
        ear.verify(token, _jwks(other, "k1"), leeway=10**10)
    with pytest.raises(InputError, match="no key with kid 'k1'"):
        ear.verify(token, _jwks(key, "k2"), leeway=10**10)
