"""A small provisioned pool for the attestation tests, and a card that answers challenges.

``TestCard`` plays the USIM's side of AKA with the real algorithms: it opens AUTN
(MAC-A check), runs the TS 33.102 Annex C.2 SQN array check and answers RES, AUTS or a
MAC failure, exactly the outcomes AUTHENTICATE has.  The end-to-end tests through a
real card stack (simulated UICC over PC/SC) live in ``tests/test_agent*.py``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attest import devicekey
from attest.aka.milenage import Milenage
from attest.aka.sqn import SqnArray, build_auts, open_autn
from attest.b64url import encode as b64url
from attest.evidence import canonical_json, challenge_request_bytes
from server.attestation.challenge import ChallengeRequest
from server.core.identifiers import luhn_digit
from server.core.service import Service
from server.pool import provisioning, registry

PS_UST = [10, 12, 19, 20, 21, 27, 33, 68, 85, 95, 101, 109]
PS_IST = [15]


def make_iccid(prefix: str, serial: int) -> str:
    body = f"{prefix}{serial:0{18 - len(prefix)}d}"
    return body + luhn_digit(body)


def make_imei(serial: int) -> str:
    body = f"35693803{serial:06d}"
    return body + luhn_digit(body)


@dataclass
class TestCard:
    """A USIM as the tests see it: identities, keys, and its own SQN state."""

    iccid: str
    imsi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    public_safety: bool = True
    sqn: SqnArray = field(default_factory=SqnArray)

    __test__ = False  # not a test class, despite the name

    def answer(self, rand: bytes, autn: bytes) -> dict[str, str]:
        """The card's outcome of AUTHENTICATE (3G context) as evidence JSON."""
        alg = Milenage(self.k, opc=self.opc)
        sqn, mac_ok = open_autn(alg, rand, autn)
        if not mac_ok:
            return {"outcome": "mac_failure"}
        if not self.sqn.accept(sqn):
            return {"outcome": "sync_failure", "auts": build_auts(alg, rand,
                                                                   self.sqn.sqn_ms).hex()}
        res, _ck, _ik, _ak = alg.f2345(rand)
        return {"outcome": "success", "res": res.hex()}

    def facts(self) -> dict[str, Any]:
        if self.public_safety:
            realm = "ims.mnc001.mcc001.3gppnetwork.org"
            return {"iccid": self.iccid, "imsi": self.imsi, "mnc_length": 2, "ust": PS_UST,
                    "prose": True,
                    "isim": {"impi": f"{self.imsi}@{realm}", "impu": [f"sip:{self.imsi}@{realm}"],
                             "ist": PS_IST}}
        return {"iccid": self.iccid, "imsi": self.imsi, "mnc_length": 2,
                "ust": [10, 12, 27, 33], "prose": False, "isim": None}

    def clone(self) -> TestCard:
        """Same ICCID and IMSI, another K: what a cloner without the key can make."""
        return TestCard(self.iccid, self.imsi, secrets.token_bytes(16), self.opc)


_LAST_SIGNED: dict[str, int] = {}


def signed_request(key: devicekey.DeviceSigner, imei: str) -> ChallengeRequest:
    """A challenge request for ``imei`` signed with ``key`` now — a millisecond after the
    last one for that IMEI at the latest, as the service takes each time once."""
    signed_at = max(time.time_ns() // 1_000_000, _LAST_SIGNED.get(imei, 0) + 1)
    _LAST_SIGNED[imei] = signed_at
    return ChallengeRequest(imei, signed_at, key.sign(challenge_request_bytes(imei, signed_at)))


@dataclass
class TestHandset:
    imei: str
    key: devicekey.DeviceSigner

    __test__ = False

    def request(self) -> ChallengeRequest:
        """This handset's signed request for a challenge."""
        return signed_request(self.key, self.imei)

    def request_json(self) -> dict[str, Any]:
        """The same as the body of ``POST /v1/attestations``."""
        request = self.request()
        return {"imei": request.imei, "signed_at": request.signed_at,
                "signature": b64url(request.signature)}

    def evidence(self, challenge: dict[str, str], card: TestCard,
                 outcome: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
        """Evidence for ``challenge`` with ``card`` in this handset, and its signature."""
        if outcome is None:
            outcome = card.answer(bytes.fromhex(challenge["rand"]),
                                  bytes.fromhex(challenge["autn"]))
        doc = {"attestation_id": challenge["id"], "nonce": challenge["nonce"],
               "imei": self.imei, "imeisv": None, **card.facts(), "outcome": outcome}
        return doc, b64url(self.key.sign(canonical_json(doc)))


@dataclass
class Pool:
    cards: list[TestCard]
    handsets: list[TestHandset]
    commercial: TestCard
    csv: str = field(repr=False)


def build_pool(svc: Service, size: int = 3, algorithm: devicekey.KeyAlgorithm = "ed25519"
               ) -> Pool:
    """Import ``size`` public-safety cards, register ``size`` handsets, pair i ↔ i."""
    cards = [TestCard(make_iccid("8900101", i + 1), f"00101{i + 1:010d}",
                      secrets.token_bytes(16), secrets.token_bytes(16)) for i in range(size)]
    lines = ["ICCID,IMSI,KI,OPC"] + [
        f"{c.iccid},{c.imsi},{c.k.hex().upper()},{c.opc.hex().upper()}" for c in cards]
    csv = "\n".join(lines) + "\n"
    provisioning.import_batch(svc, csv, "pool.csv", actor="test")
    handsets = []
    for i, card in enumerate(cards):
        handset = TestHandset(make_imei(i + 1), devicekey.generate(algorithm))
        registry.add_handset(svc, handset.imei, handset.key.public_pem().decode(),
                             actor="test", label=f"unit {i + 1}")
        registry.pair(svc, handset.imei, card.iccid, actor="test")
        handsets.append(handset)
    commercial = TestCard(make_iccid("8999970", 1), "999700000000001",
                          secrets.token_bytes(16), secrets.token_bytes(16), public_safety=False)
    return Pool(cards, handsets, commercial, csv)


@pytest.fixture
def pool(service: Service) -> Pool:
    return build_pool(service)


@dataclass
class ApiServer:
    """The app served over real HTTP on 127.0.0.1 (werkzeug's threaded server: a test
    harness only; the product serves through gunicorn)."""

    url: str
    service: Service


@pytest.fixture
def api_server(service: Service) -> Iterator[ApiServer]:
    from werkzeug.serving import make_server

    from server.http.app import create_app

    server = make_server("127.0.0.1", 0, create_app(service), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ApiServer(f"http://127.0.0.1:{server.server_port}", service)
    finally:
        server.shutdown()
        thread.join()


def provision_card_files(svc: Service, card_files: list[Path],
                         algorithm: devicekey.KeyAlgorithm = "ed25519"
                         ) -> list[TestHandset]:
    """Import the card files' keys as a vendor batch; register each file's IMEI with a new
    device key and pair it with that card."""
    from hw.cardfile import load_card_file
    from server.demo.batchgen import SynthCard, csv_text

    files = [load_card_file(p) for p in card_files]
    # OPc from the algorithm: a card file may give OP instead (TS 35.206 clause 4.1)
    synth = [SynthCard(f.iccid, f.imsi, f.ki, Milenage(f.ki, opc=f.opc, op=f.op).opc)
             for f in files]
    provisioning.import_batch(svc, csv_text(synth), "examples.csv", actor="test")
    handsets = []
    for f in files:
        assert f.imei is not None
        handset = TestHandset(f.imei, devicekey.generate(algorithm))
        registry.add_handset(svc, f.imei, handset.key.public_pem().decode(), actor="test")
        registry.pair(svc, f.imei, f.iccid, actor="test")
        handsets.append(handset)
    return handsets
