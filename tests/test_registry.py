"""Registry on both databases: handsets, pairings with history, verification, SQN."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from attest.aka.sqn import split_sqn
from server.core.config import ServiceConfig
from server.core.errors import AlreadyExists, NotFound, PairingConflict, ValidationError
from server.core.service import Service
from server.demo.batchgen import csv_text, synth_cards
from server.pool import registry
from server.pool.provisioning import import_batch
from server.store import audit_chain as audit

IMEI_A = "490154203237518"
IMEI_B = "356938035643809"


def public_pem(kind: str = "ed25519") -> str:
    key = (ed25519.Ed25519PrivateKey.generate() if kind == "ed25519"
           else ec.generate_private_key(ec.SECP256R1()) if kind == "p256"
           else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def pool(service: Service) -> list[str]:
    cards = synth_cards(3)
    import_batch(service, csv_text(cards), "pool.csv", actor="t")
    registry.add_handset(service, IMEI_A, public_pem(), actor="t", label="unit 1")
    registry.add_handset(service, IMEI_B, public_pem("p256"), actor="t",
                         imeisv="3569380356438001")
    return [c.iccid for c in cards]


def test_handset_keys_and_identifiers(service: Service) -> None:
    handset = registry.add_handset(service, IMEI_A, public_pem("p256"), actor="t")
    assert handset.key_algorithm == "ecdsa-p256"
    with pytest.raises(AlreadyExists):
        registry.add_handset(service, IMEI_A, public_pem(), actor="t")
    with pytest.raises(ValidationError, match="Luhn") as info:
        registry.add_handset(service, "490154203237519", public_pem(), actor="t")
    assert info.value.field == "imei"
    with pytest.raises(ValidationError, match="Ed25519 or EC P-256"):
        registry.add_handset(service, IMEI_B, public_pem("rsa"), actor="t")
    with pytest.raises(ValidationError, match="not a PEM"):
        registry.add_handset(service, IMEI_B, "hello", actor="t")
    with pytest.raises(ValidationError, match="IMEISV does not belong"):
        registry.add_handset(service, IMEI_B, public_pem(), actor="t", imeisv="4901542032375101")


@pytest.mark.parametrize("label", ["x" * 201, "x" * 5000, "unit\x1b[31m 1", "unit\n1",
                                   "tab\there", "\u202eevil"])
def test_bad_labels_are_refused_and_nothing_is_stored(service: Service, label: str) -> None:
    with pytest.raises(ValidationError, match="printable characters") as info:
        registry.add_handset(service, IMEI_A, public_pem(), actor="t", label=label)
    assert info.value.field == "label"
    assert registry.get_handset(service, IMEI_A) is None


def test_good_labels_are_stored(service: Service) -> None:
    registry.add_handset(service, IMEI_A, public_pem(), actor="t", label=" Ünit 12 " + "x" * 190)
    registry.add_handset(service, IMEI_B, public_pem(), actor="t")
    handset_a = registry.get_handset(service, IMEI_A)
    handset_b = registry.get_handset(service, IMEI_B)
    assert handset_a is not None and handset_a.label == "Ünit 12 " + "x" * 190
    assert handset_b is not None and handset_b.label == ""


def test_pairing_one_active_per_side_with_history(service: Service, pool: list[str]) -> None:
    registry.pair(service, IMEI_A, pool[0], actor="t")
    with pytest.raises(PairingConflict, match=f"already paired with card {pool[0]}"):
        registry.pair(service, IMEI_A, pool[1], actor="t")
    with pytest.raises(PairingConflict, match=f"already paired with handset {IMEI_A}"):
        registry.pair(service, IMEI_B, pool[0], actor="t")
    ended = registry.unpair(service, IMEI_A, actor="t")
    assert ended.ended_at is not None and ended.card.iccid == pool[0]
    with pytest.raises(NotFound, match="no active pairing"):
        registry.unpair(service, IMEI_A, actor="t")
    registry.pair(service, IMEI_B, pool[0], actor="t")
    registry.pair(service, IMEI_A, pool[1], actor="t")
    active = registry.active_pairing_for_imei(service, IMEI_A)
    assert active is not None and active.card.iccid == pool[1]
    history = registry.pairing_history(service, IMEI_A)
    assert [(p.card.iccid, p.ended_at is None) for p in history] == [
        (pool[1], True), (pool[0], False)]
    chain = audit.verify_chain(service.db)
    assert chain.ok and chain.entries == 1 + 2 + 3 + 1  # import, 2 handsets, 3 pairings, 1 unpair


def test_a_never_used_card_can_be_removed_and_imported_again(service: Service) -> None:
    from server.core.operators import create_token
    from server.http.app import create_app

    cards = synth_cards(2)
    import_batch(service, csv_text(cards), "pool.csv", actor="t")
    registry.add_handset(service, IMEI_A, public_pem(), actor="t")
    registry.pair(service, IMEI_A, cards[1].iccid, actor="t")
    client = create_app(service).test_client()
    provisioner = {"Authorization": f"Bearer {create_token(service, 'provisioner')}"}
    desk = {"Authorization": f"Bearer {create_token(service, 'desk')}"}
    unused, paired = (f"/v1/cards/{c.iccid}" for c in cards)

    assert client.delete(unused, headers=desk).status_code == 403
    resp = client.delete(unused, headers=provisioner)
    assert resp.status_code == 200 and resp.get_json()["iccid"] == cards[0].iccid
    assert registry.get_card(service, cards[0].iccid) is None
    assert client.delete(unused, headers=provisioner).status_code == 404
    # What removal is for: the card can be imported again (say, with the right keys).
    again = synth_cards(1)[0]
    assert again.iccid == cards[0].iccid
    assert import_batch(service, csv_text([again]), "fixed.csv", actor="t").imported == 1

    # A card that was ever paired keeps its record: while paired, and once unpaired.
    resp = client.delete(paired, headers=provisioner)
    assert resp.status_code == 409 and "stays" in resp.get_json()["detail"]
    registry.unpair(service, IMEI_A, actor="t")
    assert client.delete(paired, headers=provisioner).status_code == 409
    assert registry.get_card(service, cards[1].iccid) is not None
    with pytest.raises(ValidationError):
        registry.remove_card(service, "89xx", actor="t")
    chain = audit.verify_chain(service.db)
    assert chain.ok


def test_one_device_key_one_handset(service: Service, pool: list[str]) -> None:
    shared = public_pem()
    registry.add_handset(service, "356938035643817", shared, actor="t")
    with pytest.raises(AlreadyExists, match="already registered for handset 356938035643817") \
            as info:
        registry.add_handset(service, "356938035643825", shared, actor="t")
    assert info.value.field == "public_key"
    assert registry.get_handset(service, "356938035643825") is None
    # The same handset again is named as such, whatever its key.
    with pytest.raises(AlreadyExists, match="handset 356938035643817 is already registered"):
        registry.add_handset(service, "356938035643817", public_pem(), actor="t")
    assert audit.verify_chain(service.db).entries == 1 + 2 + 1  # import, 2 handsets, 1 more


def test_pair_unknown_sides(service: Service, pool: list[str]) -> None:
    with pytest.raises(NotFound, match="handset"):
        registry.pair(service, "352099001761481", pool[0], actor="t")
    with pytest.raises(NotFound, match="card"):
        registry.pair(service, IMEI_A, "89494400000000009998", actor="t")
    with pytest.raises(ValidationError):
        registry.pair(service, IMEI_A, "123", actor="t")


def test_listing_and_search(service: Service, pool: list[str]) -> None:
    page = registry.list_handsets(service, search="unit", limit=10)
    assert page.total == 1 and page.items[0].imei == IMEI_A
    assert registry.list_handsets(service, search="3569").total == 1
    cards = registry.list_cards(service, limit=2)
    assert cards.total == 3 and len(cards.items) == 2
    registry.set_card_verification(service, pool[2], "failed", "MAC failure", actor="t")
    failed = registry.list_cards(service, verification="failed")
    assert [c.iccid for c in failed.items] == [pool[2]]
    assert failed.items[0].verification_reason == "MAC failure"


def test_card_json_has_no_key_material(service: Service, pool: list[str]) -> None:
    card = registry.get_card(service, pool[0])
    assert card is not None
    text = str(registry.card_json(card))
    assert "enc" not in text
    for secret in (card.k_enc, card.opc_enc):
        assert secret.hex() not in text


def test_sqn_reservation_uses_the_ind_slot_and_resync_never_goes_back(
        service: Service, pool: list[str]) -> None:
    first = registry.reserve_sqn(service, pool[0])
    second = registry.reserve_sqn(service, pool[0])
    assert split_sqn(first) == (1, 31) and split_sqn(second) == (2, 31)
    from attest.aka.sqn import join_sqn

    registry.resync_sqn(service, pool[0], join_sqn(500, 3))
    assert split_sqn(registry.reserve_sqn(service, pool[0])) == (501, 31)
    registry.resync_sqn(service, pool[0], join_sqn(10, 3))  # stale AUTS: no step back
    assert split_sqn(registry.reserve_sqn(service, pool[0])) == (502, 31)
    with pytest.raises(NotFound):
        registry.reserve_sqn(service, "89494400000000099999")


def test_ind_slot_is_configurable(service: Service, pool: list[str], db_url: str) -> None:
    with Service.open(service.data_dir.path, db_url, ServiceConfig(ind_slot=7)) as other:
        assert split_sqn(registry.reserve_sqn(other, pool[1])) == (1, 7)
