"""``docs/device-protocol.md``'s worked examples are messages this implementation makes and
takes: the requests pass the API's own request models, the signatures verify with the
registered device key over the bytes the service checks, the attestation chains verify
(to the root they carry: the TEST-ONLY authority that made them) with the nonces the
service issued as their attestationChallenge, and the answers have the members the
service answers with.  When the protocol changes, ``python -m
tests.device_protocol_examples`` makes new examples, and the one-line check below
(``test_the_generator_makes_what_the_document_shows``) fails until they are pasted in.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import orjson

from attest import b64url
from attest.android.certfile import load_chain
from attest.android.chain import verify_chain
from attest.android.keydescription import SecurityLevel
from attest.android.roots import TrustStore
from attest.devicekey import load_public_key
from attest.evidence import canonical_json, challenge_request_bytes, parse_evidence
from server.http.api.request_models import (
    ChallengeRequest,
    EvidenceSubmission,
    NewAttestedHandset,
    NewRegistrationNonce,
)
from tests.device_protocol_examples import EXAMPLES, make_examples

DOC = Path(__file__).resolve().parent.parent / "docs" / "device-protocol.md"
BLOCK = re.compile(r"^<!-- example: (?P<name>[\w-]+) -->\n```json\n(?P<body>.*?)^```$",
                   re.S | re.M)


def _examples() -> dict[str, Any]:
    return {m["name"]: orjson.loads(m["body"]) for m in BLOCK.finditer(DOC.read_text())}


def _verified(chain: bytes | list[str], challenge: str, at: dt.datetime) -> Any:
    data = chain if isinstance(chain, bytes) else b"".join(b64url.decode(c) for c in chain)
    certificates = load_chain(data)
    verified = verify_chain(certificates, TrustStore.of([certificates[-1]], "the example"),
                            None, at)
    assert verified.key_description.attestation_challenge == b64url.decode(challenge)
    return verified


def test_the_documented_messages_are_the_protocol() -> None:
    ex = _examples()
    assert set(ex) == set(EXAMPLES)
    # registration: the nonce issued goes into the chain as attestationChallenge
    NewRegistrationNonce.model_validate(ex["registration-nonce-request"])
    assert set(ex["registration-nonce"]) == {"imei", "nonce", "expires_at"}
    request = NewAttestedHandset.model_validate(ex["registration-request"])
    assert request.nonce == ex["registration-nonce"]["nonce"]
    issued = dt.datetime.fromisoformat(ex["registration-nonce"]["expires_at"])
    registration = _verified(request.attestation.encode(), request.nonce, issued)
    kd = registration.key_description
    assert kd.attestation_security_level is SecurityLevel.TRUSTED_ENVIRONMENT
    assert request.imei in kd.imeis
    registered = ex["registration"]
    assert registered["public_key"] == registration.leaf_public_key_pem.decode()
    assert (registered["key_kind"], registered["attestation"]["device_locked"],
            registered["attestation"]["verified_boot_state"]) == ("tee", True, "verified")
    device_key = load_public_key(registration.leaf_public_key_pem)
    # checkout: the challenge request and the evidence signed by the registered key
    challenge_request = ChallengeRequest.model_validate(ex["challenge-request"])
    assert device_key.verify(
        challenge_request_bytes(challenge_request.imei, challenge_request.signed_at),
        b64url.decode(challenge_request.signature))
    challenge = ex["challenge"]
    assert set(challenge) == {"id", "rand", "autn", "app", "nonce", "expires_at"}
    submission = EvidenceSubmission.model_validate(ex["evidence-submission"])
    evidence = ex["evidence-submission"]["evidence"]
    parsed = parse_evidence(evidence)
    assert (parsed.attestation_id, parsed.nonce) == (challenge["id"], challenge["nonce"])
    assert device_key.verify(canonical_json(evidence), b64url.decode(submission.signature))
    # the fresh attestation: bound to this checkout's nonce
    fresh = _verified(evidence["attestation"], challenge["nonce"],
                      dt.datetime.fromisoformat(challenge["expires_at"]))
    assert fresh.leaf_public_key_pem != registration.leaf_public_key_pem
    assert set(ex["verdict"]) == {"attestation_id", "status", "reasons", "ear"}
    assert ex["verdict"]["status"] == "affirming"


def test_the_generator_makes_what_the_document_shows(tmp_path: Path) -> None:
    """Same messages, member for member (the values are new each run: keys, nonces)."""
    made, shown = make_examples(tmp_path), _examples()

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value[:1]]
        return type(value).__name__

    assert {name: shape(made[name]) for name in EXAMPLES} == \
        {name: shape(shown[name]) for name in EXAMPLES}
