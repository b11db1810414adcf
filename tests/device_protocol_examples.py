"""The worked example messages of ``docs/device-protocol.md``, made by the simulated
attested handset (``server.agent.attested``, TEST-ONLY authority) against the service's
own API in this process.

``python -m tests.device_protocol_examples`` prints the document's example blocks
(``<!-- example: NAME -->`` then a JSON block); paste them over the old ones.
``tests/test_device_protocol.py`` checks that the blocks in the document are messages
the implementation makes and takes.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from attest import b64url
from attest.devicekey import DeviceSigner
from attest.evidence import canonical_json
from server.agent.attested import AttestedHandset, SimProperties, create
from server.agent.checkout import challenge_request
from server.core.config import ServiceConfig
from server.core.operators import create_token
from server.core.service import Service
from server.http.app import create_app
from server.pool import provisioning, registry
from server.store.models import utcnow
from tests.fixtures_attestation import TestCard, make_iccid

IMEI = "490154203237518"
EXAMPLES = ("registration-nonce-request", "registration-nonce", "registration-request",
            "registration", "challenge-request", "challenge", "evidence-submission",
            "verdict")


def make_examples(workdir: Path) -> dict[str, Any]:
    """Register the simulated handset and run one checkout with a fresh attestation;
    every request body and answer, by example name."""
    root = create(workdir / "handset", SimProperties(IMEI), utcnow())
    device = AttestedHandset.load(workdir / "handset")
    svc = Service.open(workdir / "data", config=ServiceConfig(attestation_roots=root))
    try:
        card = TestCard(make_iccid("8900101", 7), "001010000000007", secrets.token_bytes(16),
                        secrets.token_bytes(16))
        provisioning.import_batch(svc, f"ICCID,IMSI,KI,OPC\n{card.iccid},{card.imsi},"
                                       f"{card.k.hex()},{card.opc.hex()}\n", "one.csv",
                                  actor="example")
        token = create_token(svc, "provisioner", "examples")
        client = create_app(svc).test_client()
        auth = {"Authorization": f"Bearer {token}"}
        out: dict[str, Any] = {"registration-nonce-request": {"imei": IMEI}}
        out["registration-nonce"] = client.post("/v1/registration-nonces", json={
            "imei": IMEI}, headers=auth).get_json()
        key, chain = device.attest_new_key(b64url.decode(out["registration-nonce"]["nonce"]))
        out["registration-request"] = {"imei": IMEI, "attestation": chain.decode("ascii"),
                                       "nonce": out["registration-nonce"]["nonce"],
                                       "label": "PTT 0042"}
        out["registration"] = client.post("/v1/registrations",
                                          json=out["registration-request"],
                                          headers=auth).get_json()
        registry.pair(svc, IMEI, card.iccid, actor="example")

        signer = DeviceSigner(key)
        out["challenge-request"] = challenge_request(signer, IMEI)
        out["challenge"] = client.post("/v1/attestations",
                                       json=out["challenge-request"]).get_json()
        challenge = out["challenge"]
        evidence = {"attestation_id": challenge["id"], "nonce": challenge["nonce"],
                    "imei": IMEI, "imeisv": None, **card.facts(),
                    "outcome": card.answer(bytes.fromhex(challenge["rand"]),
                                           bytes.fromhex(challenge["autn"])),
                    "attestation": device.fresh_attestation(challenge["nonce"])}
        out["evidence-submission"] = {
            "evidence": evidence, "signature": b64url.encode(signer.sign(
                canonical_json(evidence)))}
        verdict = client.post(f"/v1/attestations/{challenge['id']}/evidence",
                              json=out["evidence-submission"]).get_json()
        verdict["ear"] = verdict["ear"][:40] + "…"  # the EAR (a JWT), shortened
        out["verdict"] = verdict
        return out
    finally:
        svc.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        examples = make_examples(Path(workdir))
    for name in EXAMPLES:
        print(f"<!-- example: {name} -->\n```json\n"
              f"{json.dumps(examples[name], indent=2, ensure_ascii=False)}\n```\n")


if __name__ == "__main__":
    main()
