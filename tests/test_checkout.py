"""Checkout and return at the desk: only from a fresh affirming attestation, at most once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.checkout.desk import (
    AlreadyReturned,
    AttestationTooOld,
    AttestationUsed,
    CardNotVerified,
    NotAffirming,
    PairingChanged,
    active_checkouts,
    return_checkout,
    start_checkout,
)
from server.core.errors import NotFound, ValidationError
from server.core.operators import create_token
from server.core.service import Service
from server.http.app import create_app
from server.pool import registry
from server.pool.registry import AlreadyCheckedOut
from server.store import audit_chain as audit
from server.store.models import Attestation, Card, Pairing
from tests.fixtures_attestation import Pool, TestCard, TestHandset
from tests.test_registry_concurrency import _run


def _attest(svc: Service, handset: TestHandset, card: TestCard) -> str:
    challenge = create_challenge(svc, handset.request(), "127.0.0.1").to_json()
    doc, sig = handset.evidence(challenge, card)
    return submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1").attestation_id


def test_checkout_and_return(service: Service, pool: Pool) -> None:
    handset = pool.handsets[0]
    att = _attest(service, handset, pool.cards[0])
    view = start_checkout(service, att, "  Officer Jane Doe #4711 ", "operator:1:desk")
    assert (view.imei, view.iccid, view.user) == (handset.imei, pool.cards[0].iccid,
                                                  "Officer Jane Doe #4711")
    assert active_checkouts(service, [handset.imei])[handset.imei].id == view.id
    back = return_checkout(service, view.id, "operator:1:desk")
    assert back.returned_at is not None and back.returned_by == "operator:1:desk"
    assert active_checkouts(service, [handset.imei]) == {}
    with pytest.raises(AlreadyReturned):
        return_checkout(service, view.id, "operator:1:desk")
    # a new attestation may start the next checkout
    start_checkout(service, _attest(service, handset, pool.cards[0]), "J. Roe", "desk")
    assert audit.verify_chain(service.db).ok


def test_refused_for_a_contraindicated_attestation(service: Service, pool: Pool) -> None:
    att = _attest(service, pool.handsets[0], pool.cards[1])
    with pytest.raises(NotAffirming, match="SIM_SWAPPED"):
        start_checkout(service, att, "Jane", "desk")


def test_refused_for_an_old_attestation(service: Service, pool: Pool) -> None:
    att = _attest(service, pool.handsets[0], pool.cards[0])
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=service.config.checkout_max_age + 1)
    with service.db.session() as session:
        session.execute(update(Attestation).where(Attestation.id == att)
                        .values(appraised_at=old))
    with pytest.raises(AttestationTooOld, match="attest the handset again"):
        start_checkout(service, att, "Jane", "desk")


def test_one_checkout_per_attestation_and_per_handset(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    first = _attest(service, handset, card)
    second = _attest(service, handset, card)
    out = start_checkout(service, first, "Jane", "desk")
    # The handset is out: who has it says more than which attestation started it.
    with pytest.raises(AlreadyCheckedOut, match="checked out to Jane"):
        start_checkout(service, first, "John", "desk")
    with pytest.raises(AlreadyCheckedOut, match="checked out to Jane"):
        start_checkout(service, second, "John", "desk")
    # Back at the desk: the used attestation cannot start another checkout.
    return_checkout(service, out.id, "desk")
    with pytest.raises(AttestationUsed, match=f"was used for checkout {out.id}, which has "
                                              "been returned.*attest the handset again"):
        start_checkout(service, first, "John", "desk")


def test_concurrent_desks_exactly_one_checkout(service: Service, pool: Pool) -> None:
    att = _attest(service, pool.handsets[0], pool.cards[0])
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def desk(n: int) -> None:
        barrier.wait()
        try:
            start_checkout(service, att, f"user {n}", f"desk {n}")
            outcomes.append("ok")
        except AlreadyCheckedOut:
            outcomes.append("refused")

    threads = [threading.Thread(target=desk, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]


def test_bad_input(service: Service, pool: Pool) -> None:
    with pytest.raises(NotFound):
        start_checkout(service, "nope", "Jane", "desk")
    att = _attest(service, pool.handsets[0], pool.cards[0])
    for user in ("", "   ", "a" * 201, "Jane\x00Doe"):
        with pytest.raises(ValidationError, match="printable"):
            start_checkout(service, att, user, "desk")
    with pytest.raises(NotFound):
        return_checkout(service, 424242, "desk")


def test_checkout_api_needs_the_desk_role(service: Service, pool: Pool) -> None:
    client: FlaskClient = create_app(service).test_client()
    desk = {"Authorization": f"Bearer {create_token(service, 'desk', 'desk')}"}
    prov = {"Authorization": f"Bearer {create_token(service, 'provisioner', 'prov')}"}
    att = _attest(service, pool.handsets[0], pool.cards[0])
    body: dict[str, Any] = {"attestation_id": att, "user": "Jane"}
    latest = f"/v1/handsets/{pool.handsets[0].imei}/attestation"
    assert client.get(latest, headers=prov).status_code == 403
    assert client.get(latest, headers=desk).get_json()["id"] == att
    assert client.post("/v1/checkouts", json=body).status_code == 401
    assert client.post("/v1/checkouts", json=body, headers=prov).status_code == 403
    resp = client.post("/v1/checkouts", json=body, headers=desk)
    assert resp.status_code == 201
    checkout_id = resp.get_json()["id"]
    again = client.post("/v1/checkouts", json=body, headers=desk)
    assert again.status_code == 409
    assert again.get_json()["type"].endswith("/already-checked-out")
    assert client.post(f"/v1/checkouts/{checkout_id}/return", headers=desk).status_code == 200
    gone = client.post(f"/v1/checkouts/{checkout_id}/return", headers=desk)
    assert gone.status_code == 409 and gone.mimetype == "application/problem+json"


def test_refused_once_the_attested_pairing_has_ended(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    att = _attest(service, handset, card)
    registry.unpair(service, handset.imei, actor="t")
    with pytest.raises(PairingChanged, match=f"no longer paired with card {card.iccid}"):
        start_checkout(service, att, "Jane", "desk")
    # paired again, with another card: the attestation vouched for the old pair only
    registry.unpair(service, pool.handsets[1].imei, actor="t")
    registry.pair(service, handset.imei, pool.cards[1].iccid, actor="t")
    with pytest.raises(PairingChanged, match="attest it again"):
        start_checkout(service, att, "Jane", "desk")
    # paired again with the attested card: the same handset and card as attested
    registry.unpair(service, handset.imei, actor="t")
    registry.pair(service, handset.imei, card.iccid, actor="t")
    assert start_checkout(service, att, "Jane", "desk").iccid == card.iccid


def test_pairing_cannot_change_while_checked_out(service: Service, pool: Pool) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    view = start_checkout(service, _attest(service, handset, card), "Jane", "desk")
    with pytest.raises(AlreadyCheckedOut, match="checked out to Jane") as info:
        registry.unpair(service, handset.imei, actor="t")
    assert info.value.field == "imei"
    active = registry.active_pairing_for_imei(service, handset.imei)
    assert active is not None and active.card.iccid == card.iccid
    # a handset checked out before pairings were guarded may have lost its pairing
    with service.db.session() as session:
        session.execute(update(Pairing).where(Pairing.id == active.id)
                        .values(ended_at=dt.datetime.now(dt.UTC)))
    registry.unpair(service, pool.handsets[1].imei, actor="t")
    with pytest.raises(AlreadyCheckedOut, match="checked out to Jane"):
        registry.pair(service, handset.imei, pool.cards[1].iccid, actor="t")
    assert registry.active_pairing_for_imei(service, handset.imei) is None
    return_checkout(service, view.id, "desk")
    registry.pair(service, handset.imei, pool.cards[1].iccid, actor="t")


def test_pairing_conflicts_over_http(service: Service, pool: Pool) -> None:
    client: FlaskClient = create_app(service).test_client()
    desk = {"Authorization": f"Bearer {create_token(service, 'desk', 'desk')}"}
    prov = {"Authorization": f"Bearer {create_token(service, 'provisioner', 'prov')}"}
    first, second = pool.handsets[0], pool.handsets[1]
    stale = _attest(service, first, pool.cards[0])
    assert client.delete(f"/v1/handsets/{first.imei}/pairing", headers=prov).status_code == 200
    resp = client.post("/v1/checkouts", json={"attestation_id": stale, "user": "Jane"},
                       headers=desk)
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith("/pairing-changed")
    assert "no longer paired" in resp.get_json()["detail"]
    att = _attest(service, second, pool.cards[1])
    assert client.post("/v1/checkouts", json={"attestation_id": att, "user": "John"},
                       headers=desk).status_code == 201
    for resp in (client.delete(f"/v1/handsets/{second.imei}/pairing", headers=prov),
                 client.post("/v1/pairings", json={"imei": second.imei,
                                                   "iccid": pool.cards[0].iccid},
                             headers=prov)):
        assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
        assert resp.get_json()["type"].endswith("/already-checked-out")
        assert "checked out to John" in resp.get_json()["detail"]
    assert client.post("/v1/pairings", json={"imei": first.imei, "iccid": pool.cards[0].iccid},
                       headers=prov).status_code == 201


def _race_worker(barrier: Barrier, queue: Any, data: str, url: str, kind: str,
                 target: str) -> None:
    """``kind`` "checkout" starts a checkout from attestation ``target``; "unpair"
    unpairs handset ``target``."""
    with Service.open(Path(data), url) as svc:
        barrier.wait()
        try:
            if kind == "checkout":
                start_checkout(svc, target, "Jane", "desk")
            else:
                registry.unpair(svc, target, actor="t")
            queue.put((kind, target, "ok"))
        except (PairingChanged, AlreadyCheckedOut):
            queue.put((kind, target, "refused"))


def test_checkout_raced_by_unpair_never_both(service: Service, db_url: str,
                                            pool: Pool) -> None:
    atts = [_attest(service, h, c) for h, c in zip(pool.handsets, pool.cards, strict=True)]
    data = str(service.data_dir.path)
    results = {(kind, target): outcome for kind, target, outcome in _run(
        service, _race_worker,
        [(data, db_url, "checkout", att) for att in atts]
        + [(data, db_url, "unpair", h.imei) for h in pool.handsets])}
    for att, handset in zip(atts, pool.handsets, strict=True):
        checkout = results[("checkout", att)]
        # exactly one of the two happened, and the other was refused
        assert {checkout, results[("unpair", handset.imei)]} == {"ok", "refused"}
        out = handset.imei in active_checkouts(service, [handset.imei])
        paired = registry.active_pairing_for_imei(service, handset.imei) is not None
        assert (out, paired) == ((True, True) if checkout == "ok" else (False, False))
    assert audit.verify_chain(service.db).ok


@pytest.mark.parametrize(("policy", "verification", "outcome"), [
    ("warn", "unverified", "warning"), ("warn", "unchecked-key", "refused"),
    ("warn", "failed", "refused"), ("warn", "verified", "clean"),
    ("require", "unverified", "refused"), ("require", "verified", "clean"),
    ("off", "unchecked-key", "clean"),
])
def test_card_verification_policy_at_checkout(service: Service, pool: Pool, policy: str,
                                              verification: str, outcome: str) -> None:
    svc = service
    svc.config = dataclasses.replace(svc.config, card_verification=policy)  # type: ignore[arg-type]
    card = pool.cards[0]
    with svc.db.session() as db:
        db.execute(update(Card).where(Card.iccid == card.iccid).values(verification=verification))
    att = _attest(svc, pool.handsets[0], card)
    if outcome == "refused":
        with pytest.raises(CardNotVerified, match=f"card {card.iccid} .*pool verify"):
            start_checkout(svc, att, "J. Roe", "desk")
        assert active_checkouts(svc, [pool.handsets[0].imei]) == {}
        return
    view = start_checkout(svc, att, "J. Roe", "desk")
    if outcome == "warning":
        assert view.warnings == (f"card {card.iccid} has never been checked by simattest pool "
                                 "verify; run it when the card is next at the bench",)
        assert view.to_json()["warnings"] == list(view.warnings)
    else:
        assert view.warnings == ()
