"""Challenge requests are the handset's own: a party without its device key neither
spends its allowance nor learns whether an IMEI is registered, and a handset registered
after its IMEI was first asked for is served at once.

The equal-work test records which operations a request sets off (store calls with what
they count and bind, signature checks, AKA computations), on real databases, for a
registered IMEI asked for without its key and for an unregistered one — never timings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from attest import devicekey
from attest.b64url import encode as b64url
from attest.devicekey import DevicePublicKey
from attest.evidence import canonical_json
from server.attestation import challenge as challenge_module
from server.attestation import handset_keys
from server.attestation.challenge import create_challenge
from server.attestation.copies import copies_of
from server.attestation.evidence import submit_evidence
from server.core.service import Service
from server.pool import registry
from server.store.attestations import AttestationStore
from server.store.models import Handset, utcnow
from tests.fixtures_attestation import (
    Pool,
    TestHandset,
    build_pool,
    make_imei,
    signed_request,
)


class _Recording:
    """The service's store, noting each call: its name, the scopes it counts and whether
    it binds the request to a handset."""

    def __init__(self, store: AttestationStore, calls: list[str]) -> None:
        self._store, self._calls = store, calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        def call(*args: Any) -> Any:
            limits = next((a for a in args if isinstance(a, dict)), None)
            scopes = sorted({key.partition(":")[0] for key in limits or {}})
            self._calls.append(f"store.{name} counts={scopes} "
                               f"proof={args[-1] is not None if name == 'issue' else '-'}")
            return method(*args)
        return call


@pytest.fixture
def calls(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    recorded: list[str] = []
    monkeypatch.setattr(service, "store", _Recording(service.store, recorded))
    verify = DevicePublicKey.verify

    def recording_verify(self: DevicePublicKey, message: bytes, signature: bytes) -> bool:
        recorded.append(f"verify {self.algorithm}")
        return verify(self, message, signature)

    monkeypatch.setattr(DevicePublicKey, "verify", recording_verify)
    card_algorithm = challenge_module.card_algorithm

    def recording_card_algorithm(svc: Service, card: Any) -> Any:
        recorded.append(f"card algorithm {card.algorithm}")
        return card_algorithm(svc, card)

    monkeypatch.setattr(challenge_module, "card_algorithm", recording_card_algorithm)
    return recorded


def _limits(imei: str, per_imei: int = 1) -> dict[str, int]:
    return {f"imei:{imei}": per_imei, "client:192.0.2.9": 100}


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_a_registered_and_an_unregistered_imei_asked_for_without_the_key_do_the_same_work(
        service: Service, calls: list[str], algorithm: devicekey.KeyAlgorithm) -> None:
    # A pool of one kind of device key: an unregistered IMEI is checked with a
    # throw-away key of that kind (a P-256 check costs more than an Ed25519 one).
    pool = build_pool(service, algorithm=algorithm)
    outsider = devicekey.generate(algorithm)  # the prober's own key: not the handset's
    registered, unregistered = pool.handsets[0].imei, make_imei(977)
    work: dict[str, list[list[str]]] = {registered: [], unregistered: []}
    for _ in range(2):  # the first time each key is read, then kept
        for imei in (registered, unregistered):
            calls.clear()
            answer = create_challenge(service, signed_request(outsider, imei), "192.0.2.9",
                                      _limits(imei))
            assert set(answer.to_json()) == {"id", "rand", "autn", "app", "nonce",
                                              "expires_at"}
            work[imei].append(list(calls))
    assert work[registered] == work[unregistered]
    first, second = work[registered]
    assert first == ["store.handset_key counts=[] proof=-", f"verify {algorithm}",
                     "store.issue counts=['client'] proof=False", "card algorithm milenage"]
    assert second == first[1:]
    # Twice the per-IMEI allowance of 1 was asked for; the handset still gets its own.
    handset, card = pool.handsets[0], pool.cards[0]
    mine = create_challenge(service, handset.request(), "192.0.2.9", _limits(handset.imei))
    doc, sig = handset.evidence(mine.to_json(), card)
    assert submit_evidence(service, mine.id, doc, sig, "192.0.2.9").status == "affirming"


def _decoy_kinds(svc: Service, imeis: list[str], calls: list[str]) -> dict[str, str]:
    """The kind of key each unregistered IMEI's request was checked with."""
    outsider = devicekey.generate()
    kinds = {}
    for imei in imeis:
        calls.clear()
        create_challenge(svc, signed_request(outsider, imei), "192.0.2.9")
        kinds[imei] = next(c for c in calls if c.startswith("verify ")).removeprefix("verify ")
    return kinds


def test_unregistered_imeis_are_checked_with_the_pools_mix_of_key_kinds_each_its_own(
        service: Service, calls: list[str], monkeypatch: pytest.MonkeyPatch, db_url: str,
        tmp_path: Path) -> None:
    """A prober sees each unregistered IMEI behave, every time and on every worker, as a
    registered handset of one kind, the kinds in the pool's proportions."""
    build_pool(service, size=2)  # two Ed25519 handsets, and two P-256 ones:
    for serial in (901, 902):
        registry.add_handset(service, make_imei(serial),
                             devicekey.generate("ecdsa-p256").public_pem().decode(),
                             actor="test")
    unregistered = [make_imei(1000 + i) for i in range(120)]
    kinds = _decoy_kinds(service, unregistered, calls)
    assert 0.25 < sum(k == "ecdsa-p256" for k in kinds.values()) / len(kinds) < 0.75
    assert _decoy_kinds(service, unregistered, calls) == kinds  # each IMEI keeps its kind
    # Another process holding the same keys (a second service on the data directory and
    # database) checks each IMEI with the same kind.
    with Service.open(tmp_path / "data", db_url, service.config) as other:
        monkeypatch.setattr(other, "store", service.store)  # recorded as well
        assert _decoy_kinds(other, unregistered, calls) == kinds
    # Once every handset has a P-256 key, so does every unregistered IMEI — after the
    # mix is read again (every MIX_SECONDS).
    with service.db.session() as session:
        session.execute(update(Handset).values(key_algorithm="ecdsa-p256"))
    assert _decoy_kinds(service, unregistered, calls) == kinds
    monkeypatch.setattr(handset_keys, "MIX_SECONDS", 0.0)
    assert set(_decoy_kinds(service, unregistered, calls).values()) == {"ecdsa-p256"}


def test_a_replayed_request_gets_a_decoy_and_counts_nothing_for_the_handset(
        service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    request = handset.request()
    # An allowance of 2: the challenge and its evidence; the replay must not count.
    first = create_challenge(service, request, "192.0.2.9", _limits(handset.imei, 2))
    replayed = create_challenge(service, request, "198.51.100.3", _limits(handset.imei, 2))
    doc, sig = handset.evidence(replayed.to_json(), card)
    # The card refuses the decoy's AUTN; its verdict names no handset.
    assert doc["outcome"] == {"outcome": "mac_failure"}
    verdict = submit_evidence(service, replayed.id, doc, sig, "198.51.100.3")
    assert "ME_UNKNOWN" in verdict.reasons
    doc, sig = handset.evidence(first.to_json(), card)
    assert submit_evidence(service, first.id, doc, sig, "192.0.2.9",
                           _limits(handset.imei, 2)).status == "affirming"


def test_a_handset_registered_after_its_imei_was_asked_for_is_served_at_once(
        service: Service, pool: Pool) -> None:
    late = TestHandset(make_imei(976), devicekey.generate())
    create_challenge(service, late.request(), "192.0.2.9")  # unregistered: a decoy
    registry.add_handset(service, late.imei, late.key.public_pem().decode(), actor="test")
    card = pool.cards[2]
    registry.unpair(service, pool.handsets[2].imei, actor="test")
    registry.pair(service, late.imei, card.iccid, actor="test")
    challenge = create_challenge(service, late.request(), "192.0.2.9")
    doc, sig = late.evidence(challenge.to_json(), card)
    assert submit_evidence(service, challenge.id, doc, sig, "192.0.2.9").status == "affirming"


@pytest.mark.parametrize("path", ["copy", "stored"])
def test_evidence_naming_another_handset_counts_for_the_one_that_signed_it(
        service: Service, pool: Pool, path: str) -> None:
    victim, other = pool.handsets[0], pool.handsets[1]
    # As the device endpoint names the limits: after the IMEI the evidence names.
    limits = {f"imei:{victim.imei}": 2, "client:192.0.2.9": 100}
    for _ in range(2):
        challenge = create_challenge(service, other.request(), "192.0.2.9")
        if path == "stored":
            copies_of(service).take(challenge.id, utcnow())
        doc, sig = other.evidence(challenge.to_json(), pool.cards[1])
        doc["imei"] = victim.imei
        sig = b64url(other.key.sign(canonical_json(doc)))
        verdict = submit_evidence(service, challenge.id, doc, sig, "192.0.2.9", limits)
        assert "IMEI_MISMATCH" in verdict.reasons
    mine = create_challenge(service, victim.request(), "192.0.2.9", limits)
    doc, sig = victim.evidence(mine.to_json(), pool.cards[0])
    assert submit_evidence(service, mine.id, doc, sig, "192.0.2.9", limits).status \
        == "affirming"
