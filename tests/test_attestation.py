"""Challenge → evidence → verdict through the service functions, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select, text, update

from attest import devicekey, ear
from attest.aka.milenage import Milenage
from attest.aka.sqn import join_sqn
from attest.b64url import encode as b64url
from attest.evidence import canonical_json
from server.attestation.challenge import create_challenge
from server.attestation.copies import copies_of
from server.attestation.evidence import submit_evidence
from server.attestation.views import get_attestation
from server.core.errors import NotFound, NotSignedByHandset, ValidationError
from server.core.service import Service
from server.pool import registry
from server.store import audit_chain as audit
from server.store.models import Attestation, AuditEntry, utcnow
from tests.fixtures_attestation import Pool, TestHandset, make_imei, signed_request


def _challenge(svc: Service, handset: TestHandset) -> dict[str, str]:
    return create_challenge(svc, handset.request(), "127.0.0.1").to_json()


def _submit(svc: Service, doc: dict[str, Any], sig: str) -> dict[str, Any]:
    return submit_evidence(svc, doc["attestation_id"], doc, sig, "127.0.0.1").to_json()


def test_genuine_pair_is_affirming_with_a_verifiable_ear(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = _challenge(service, handset)
    assert challenge["app"] == "usim" and len(bytes.fromhex(challenge["rand"])) == 16
    assert len(challenge["nonce"]) >= 22  # ≥ 128 bits in base64url
    result = _submit(service, *handset.evidence(challenge, card))
    assert (result["status"], result["reasons"]) == ("affirming", [])
    claims = ear.verify(result["ear"], service.signer.jwks())
    assert claims["eat_nonce"] == challenge["nonce"]
    assert {n: s["ear_status"] for n, s in claims["submods"].items()} == {
        "me": "affirming", "usim": "affirming", "pairing": "affirming"}
    with service.db.read_session() as session:
        row = session.get(Attestation, challenge["id"])
        assert row is not None
        assert (row.state, row.status) == ("consumed", "affirming")
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert entry is not None
        assert (entry.action, entry.subject) == ("attestation", f"attestation:{challenge['id']}")
    assert audit.verify_chain(service.db).ok
    assert get_attestation(service, challenge["id"]).evidence["outcome"] == {  # type: ignore[index]
        "outcome": "success"}


def test_a_stored_challenge_holds_nothing_derived_from_the_card_keys(
    service: Service, pool: Pool,
) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = _challenge(service, handset)
    rand, autn = bytes.fromhex(challenge["rand"]), bytes.fromhex(challenge["autn"])
    xres = Milenage(card.k, opc=card.opc).f2345(rand)[0]
    with service.db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM attestations WHERE id = :id"),
                           {"id": challenge["id"]}).one()
    stored = [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
              for v in row]
    assert rand in stored
    for derived in (autn, xres, autn.hex().encode(), xres.hex().encode()):
        assert not any(derived in value for value in stored)
    # and yet the evidence is checked against XRES: a wrong RES is not genuine
    wrong = {"outcome": "success", "res": bytes(len(xres)).hex()}
    assert _submit(service, *handset.evidence(challenge, card, wrong))["status"] \
        == "contraindicated"


def test_each_challenge_uses_a_fresh_sqn_and_nonce(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    seen = set()
    for _ in range(3):
        challenge = _challenge(service, handset)
        seen.add(challenge["nonce"])
        assert _submit(service, *handset.evidence(challenge, card))["status"] == "affirming"
    assert len(seen) == 3


def test_commercial_sim_swapped_in(service: Service, pool: Pool) -> None:
    handset = pool.handsets[0]
    result = _submit(service, *handset.evidence(_challenge(service, handset),
                                                pool.commercial))
    assert (result["status"], result["reasons"]) == ("contraindicated", ["COMMERCIAL_SIM"])


def test_card_moved_from_another_pooled_handset(service: Service, pool: Pool) -> None:
    handset = pool.handsets[0]
    result = _submit(service, *handset.evidence(_challenge(service, handset),
                                                pool.cards[1]))
    assert (result["status"], result["reasons"]) == ("contraindicated", ["SIM_SWAPPED"])


def test_clone_with_the_right_identities_but_another_key(service: Service, pool: Pool) -> None:
    handset = pool.handsets[0]
    clone = pool.cards[0].clone()
    result = _submit(service, *handset.evidence(_challenge(service, handset), clone))
    assert (result["status"], result["reasons"]) == ("contraindicated", ["CLONED_SIM"])


def test_profile_mismatch_pooled_card_without_prose(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    doc, _ = handset.evidence(_challenge(service, handset), card)
    doc["prose"] = False
    doc["ust"] = [u for u in doc["ust"] if u != 101]
    result = _submit(service, doc, b64url(handset.key.sign(canonical_json(doc))))
    assert (result["status"], result["reasons"]) == ("warning", ["PROFILE_MISMATCH"])


def test_unknown_imei_gets_a_decoy_challenge_and_me_unknown(
    service: Service, pool: Pool
) -> None:
    handset = TestHandset(make_imei(999), devicekey.generate())
    challenge = _challenge(service, handset)
    result = _submit(service, *handset.evidence(challenge, pool.cards[2]))
    assert result["status"] == "contraindicated"
    assert "ME_UNKNOWN" in result["reasons"]
    # the card saw a random AUTN: a MAC failure, its SQN state untouched
    assert pool.cards[2].sqn.sqn_ms == bytes(6)


def test_invalid_imei_is_refused(service: Service) -> None:
    key = devicekey.generate()
    with pytest.raises(ValidationError, match=r"Luhn"):
        create_challenge(service, signed_request(key, "490154203237519"), "127.0.0.1")
    with pytest.raises(ValidationError, match="15 digits"):
        create_challenge(service, signed_request(key, "4901542032375"), "127.0.0.1")


@pytest.mark.parametrize("path", ["copy", "stored"])
def test_evidence_not_signed_by_the_handset_neither_burns_its_challenge_nor_counts_for_it(
        service: Service, pool: Pool, path: str) -> None:
    mine, other = pool.handsets[0], pool.handsets[1]
    limits = {f"imei:{mine.imei}": 1, "client:127.0.0.1": 100}
    challenge = _challenge(service, mine)
    if path == "stored":  # the evidence reaches a process without the challenge's copy
        copies_of(service).take(challenge["id"], utcnow())
    doc, sig = mine.evidence(challenge, pool.cards[0])
    for forged in (b64url(other.key.sign(canonical_json(doc))), b64url(bytes(64))):
        with pytest.raises(NotSignedByHandset, match="stays pending"):
            submit_evidence(service, doc["attestation_id"], doc, forged, "127.0.0.1", limits)
    assert get_attestation(service, doc["attestation_id"]).state == "pending"
    # The handset's own evidence is still taken, within its allowance of 1 a minute.
    outcome = submit_evidence(service, doc["attestation_id"], doc, sig, "127.0.0.1", limits)
    assert (outcome.status, outcome.reasons) == ("affirming", [])


def test_replay_of_a_valid_evidence(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    doc, sig = handset.evidence(_challenge(service, handset), card)
    assert _submit(service, doc, sig)["status"] == "affirming"
    replay = _submit(service, doc, sig)
    assert (replay["status"], replay["reasons"]) == ("contraindicated", ["CHALLENGE_REUSED"])
    # the original verdict stands
    assert get_attestation(service, doc["attestation_id"]).status == "affirming"


def _actors(svc: Service, attestation_id: str) -> list[tuple[str, str]]:
    with svc.db.read_session() as session:
        return [(row.action, row.actor) for row in session.scalars(
            select(AuditEntry).where(AuditEntry.subject == f"attestation:{attestation_id}")
            .order_by(AuditEntry.seq))]


def test_the_audit_log_names_a_handset_only_on_its_signature(service: Service,
                                                              pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    doc, sig = handset.evidence(_challenge(service, handset), card)
    assert _submit(service, doc, sig)["status"] == "affirming"
    assert _submit(service, doc, sig)["reasons"] == ["CHALLENGE_REUSED"]
    # Anyone may post evidence for a decoy: its audit entry names the address only.
    stranger = TestHandset(make_imei(998), devicekey.generate())
    decoy, decoy_sig = stranger.evidence(_challenge(service, stranger), card)
    assert _submit(service, decoy, decoy_sig)["reasons"] == ["ME_UNKNOWN"]
    assert _actors(service, doc["attestation_id"]) == [
        ("attestation", f"handset:{handset.imei}"),
        ("attestation.reused", f"handset:{handset.imei}"),  # its own evidence, replayed
    ]
    assert _actors(service, decoy["attestation_id"]) == [("attestation", "client:127.0.0.1")]


def test_evidence_for_an_expired_challenge(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = _challenge(service, handset)
    with service.db.session() as session:
        session.execute(update(Attestation).where(Attestation.id == challenge["id"])
                        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    result = _submit(service, *handset.evidence(challenge, card))
    assert (result["status"], result["reasons"]) == ("contraindicated", ["CHALLENGE_EXPIRED"])
    view = get_attestation(service, challenge["id"])
    assert (view.state, view.reasons) == ("expired", ["CHALLENGE_EXPIRED"])


def test_evidence_for_an_unknown_challenge(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = dict(_challenge(service, handset), id="doesNotExist")
    doc, sig = handset.evidence(challenge, card)
    with pytest.raises(NotFound, match="doesNotExist"):
        _submit(service, doc, sig)


def test_malformed_evidence_leaves_the_challenge_usable(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = _challenge(service, handset)
    doc, sig = handset.evidence(challenge, card)
    bad = dict(doc, iccid="12")
    with pytest.raises(ValidationError, match=r"evidence\.iccid"):
        _submit(service, bad, sig)
    with pytest.raises(ValidationError, match="base64url"):
        submit_evidence(service, challenge["id"], doc, "not base64url!", "127.0.0.1")
    assert get_attestation(service, challenge["id"]).state == "pending"
    assert _submit(service, doc, sig)["status"] == "affirming"


def test_sync_failure_resynchronises_and_issues_a_fresh_challenge(
    service: Service, pool: Pool
) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    # The card has seen far higher SEQs in our IND slot (e.g. a restored database).
    assert card.sqn.accept(join_sqn(5000, service.config.ind_slot))
    first = _challenge(service, handset)
    doc, sig = handset.evidence(first, card)
    assert doc["outcome"]["outcome"] == "sync_failure"
    result = _submit(service, doc, sig)
    assert result["status"] == "resync"
    fresh = result["challenge"]
    assert fresh["id"] != first["id"]
    final = _submit(service, *handset.evidence(fresh, card))
    assert (final["status"], final["reasons"]) == ("affirming", [])


def test_sync_failure_with_a_forged_auts_is_a_clone(service: Service, pool: Pool) -> None:
    handset = pool.handsets[0]
    challenge = _challenge(service, handset)
    result = _submit(service, *handset.evidence(
        challenge, pool.cards[0], {"outcome": "sync_failure", "auts": "11" * 14}))
    assert (result["status"], result["reasons"]) == ("contraindicated", ["CLONED_SIM"])


def test_two_concurrent_submissions_exactly_one_wins(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    doc, sig = handset.evidence(_challenge(service, handset), card)
    barrier = threading.Barrier(4)
    results: list[dict[str, Any]] = []

    def submit() -> None:
        barrier.wait()
        results.append(_submit(service, doc, sig))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["affirming", "contraindicated", "contraindicated", "contraindicated"]
    assert all(r["reasons"] == ["CHALLENGE_REUSED"] for r in results
               if r["status"] == "contraindicated")


def test_no_key_material_in_stored_rows_or_answers(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenge = _challenge(service, handset)
    result = _submit(service, *handset.evidence(challenge, card))
    text = repr(result) + repr(challenge) + repr(get_attestation(service, challenge["id"]))
    for secret in (card.k, card.opc):
        assert secret.hex() not in text.lower()


def test_card_for_handset_without_pairing(service: Service, pool: Pool) -> None:
    handset = pool.handsets[1]
    registry.unpair(service, handset.imei, actor="test")
    challenge = _challenge(service, handset)
    result = _submit(service, *handset.evidence(challenge, pool.cards[1]))
    assert result["status"] == "contraindicated"
    assert "HANDSET_NOT_PAIRED" in result["reasons"]
