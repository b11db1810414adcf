"""``pool verify``: the self-check AKA against each inserted card's imported keys,
through simulated cards (``sim:``) and a real pcscd + vpcd stack (``pcsc:*``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update

from attest.aka.sqn import join_sqn, split_sqn
from server.cli.main import main
from server.core.service import Service
from server.demo.batchgen import SynthCard, csv_text, synth_cards
from server.pool import registry
from server.pool.provisioning import import_batch
from server.pool.verify import expand_readers, verify_pool
from server.store import audit_chain as audit
from server.store.models import Card
from tests.fixtures_pcsc import CardSlots


def card_file(directory: Path, card: SynthCard, *, k: bytes | None = None,
              imsi: str | None = None) -> Path:
    """A personalised simulated card; ``k`` overrides the key (a clone without the key),
    ``imsi`` the IMSI."""
    path = directory / f"{card.iccid}.yaml"
    path.write_text(yaml.safe_dump({
        "profile": "commercial-usim", "iccid": card.iccid, "imsi": imsi or card.imsi,
        "ki": (k or card.k).hex(), "opc": card.opc.hex()}))
    return path


@pytest.fixture
def pool(service: Service) -> list[SynthCard]:
    cards = synth_cards(3)
    import_batch(service, csv_text(cards), "pool.csv", actor="t")
    return cards


def _state(svc: Service, iccid: str) -> tuple[str, str | None, int]:
    with svc.db.read_session() as session:
        card = session.scalar(select(Card).where(Card.iccid == iccid))
    assert card is not None
    return card.verification, card.verification_reason, card.sqn_seq


def test_genuine_clone_and_stranger(service: Service, pool: list[SynthCard],
                                    tmp_path: Path) -> None:
    stranger = synth_cards(1, iccid_prefix="8949449999")[0]
    uris = [f"sim:{card_file(tmp_path, pool[0])}",
            f"sim:{card_file(tmp_path, pool[1], k=os.urandom(16))}",
            f"sim:{card_file(tmp_path, stranger)}"]
    seen: list[str] = []
    outcomes = verify_pool(service, uris, actor="t", on_done=lambda o: seen.append(o.reader))
    assert sorted(seen) == sorted(uris)
    assert [(o.iccid, o.state, o.reason) for o in outcomes] == [
        (pool[0].iccid, "verified", "self-check AKA passed"),
        (pool[1].iccid, "failed", "MAC_FAILURE"),
        (stranger.iccid, "not-in-pool", "ICCID not in the pool"),
    ]
    assert _state(service, pool[0].iccid)[:2] == ("verified", "self-check AKA passed")
    assert _state(service, pool[1].iccid)[:2] == ("failed", "MAC_FAILURE")
    assert _state(service, pool[2].iccid)[:2] == ("unverified", None)
    assert audit.verify_chain(service.db).ok


def test_card_ahead_in_sqn_is_resynchronised(service: Service, pool: list[SynthCard],
                                             tmp_path: Path, pcsc_cards: CardSlots) -> None:
    """A database restored from an old backup hands out an SQN the card has seen: the
    card answers AUTS, the service resynchronises and never goes back."""
    inserted = pcsc_cards.insert(card_file(tmp_path, pool[0]))
    registry.resync_sqn(service, pool[0].iccid, join_sqn(5000, 0))
    (first,) = verify_pool(service, [inserted.uri], actor="t")
    assert first.state == "verified" and _state(service, pool[0].iccid)[2] == 5001
    with service.db.session() as session:  # the "restored backup"
        session.execute(update(Card).where(Card.iccid == pool[0].iccid).values(sqn_seq=0))
    (second,) = verify_pool(service, [inserted.uri], actor="t")
    assert second.state == "verified"
    seq = _state(service, pool[0].iccid)[2]
    assert seq == 5002  # SEQ_MS 5001 from the AUTS, plus the second challenge
    assert split_sqn(registry.reserve_sqn(service, pool[0].iccid)) == (5003, 31)


def test_right_keys_wrong_imsi_fails(service: Service, pool: list[SynthCard],
                                     tmp_path: Path) -> None:
    path = card_file(tmp_path, pool[1], imsi="001019999999999")
    (outcome,) = verify_pool(service, [f"sim:{path}"], actor="t")
    assert (outcome.state, outcome.reason) == ("failed", "IMSI_MISMATCH")
    assert _state(service, pool[1].iccid)[:2] == ("failed", "IMSI_MISMATCH")


def test_reader_error_is_reported_not_recorded(service: Service, pool: list[SynthCard],
                                               tmp_path: Path) -> None:
    (outcome,) = verify_pool(service, [f"sim:{tmp_path / 'missing.yaml'}"], actor="t")
    assert outcome.state == "error" and "missing.yaml" in outcome.reason


def test_pcsc_star_verifies_every_inserted_card(
        service: Service, db_url: str, pool: list[SynthCard], tmp_path: Path,
        pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]) -> None:
    pcsc_cards.insert(card_file(tmp_path, pool[0]))
    pcsc_cards.insert(card_file(tmp_path, pool[2], k=os.urandom(16)), t0=True)
    assert len(expand_readers(["pcsc:*"])) == 2
    code = main(["pool", "verify", "--readers", "pcsc:*", "--json",
                 "--data", str(service.data_dir.path), "--db", db_url])
    outcomes = json.loads(capsys.readouterr().out)
    assert code == 1  # one card failed
    assert sorted((o["iccid"], o["state"]) for o in outcomes) == sorted(
        [(pool[0].iccid, "verified"), (pool[2].iccid, "failed")])
    assert _state(service, pool[0].iccid)[0] == "verified"


def test_no_reader_with_a_card(pcsc_cards: CardSlots, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pool", "verify", "--readers", "pcsc:*", "--data", str(tmp_path)]) == 2
    assert "no reader with a card" in capsys.readouterr().err
