"""Importing vendor batch files on both databases: formats, validation, reports, keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from attest.aka.milenage import opc_from_op
from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.core.errors import KeyRotated, ValidationError
from server.core.identifiers import luhn_digit
from server.core.service import Service
from server.demo.batchgen import SynthCard, csv_text, synth_cards, vendor_out_text
from server.pool import registry
from server.pool.keyrotation import rotate_kek
from server.pool.provisioning import ImportRejected, import_batch
from server.store import audit_chain as audit
from server.store.models import Card
from tests.fixtures_attestation import build_pool

TK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


def _count(svc: Service) -> int:
    with svc.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Card)) or 0


def _secrets_of(svc: Service, iccid: str) -> tuple[bytes, bytes]:
    with svc.db.read_session() as session:
        card = session.scalar(select(Card).where(Card.iccid == iccid))
    assert card is not None
    return (svc.keys.decrypt_secret(iccid, card.k_enc),
            svc.keys.decrypt_secret(iccid, card.opc_enc))


def test_vendor_file_with_transport_key_stores_decrypted_keys_encrypted(
        service: Service) -> None:
    cards = synth_cards(5)
    report = import_batch(service, vendor_out_text(cards, TK), "batch7.out", TK, actor="t")
    assert (report.format, report.imported, report.rejected) == ("vendor-out", 5, [])
    assert report.ignored_columns == []
    for card in cards:
        assert _secrets_of(service, card.iccid) == (card.k, card.opc)
        with service.db.read_session() as session:
            row = session.scalar(select(Card).where(Card.iccid == card.iccid))
        assert row is not None and card.k not in row.k_enc and card.opc not in row.opc_enc
        assert row.verification == "unverified" and row.sqn_seq == 0


def test_csv_with_op_column_converts_to_opc(service: Service) -> None:
    op = bytes.fromhex("cdc202d5123e20f62b6d676ac72cb318")  # TS 35.207 test set 1 OP
    k = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
    text = ("iccid;imsi;ki;op;pin1;profile;EXTRA\n"
            f"89494400000000000005;001010000000001;{k.hex()};{op.hex()};1234;public-safety-usim-isim;x\n")
    report = import_batch(service, text, "op.csv", actor="t")
    assert report.imported == 1 and report.ignored_columns == ["EXTRA"]
    expected_opc = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")  # TS 35.207 set 1 OPc
    assert _secrets_of(service, "89494400000000000005") == (k, expected_opc)
    card = registry.get_card(service, "89494400000000000005")
    assert card is not None and card.profile == "public-safety-usim-isim"


def test_nineteen_digit_iccid_with_bcd_filler_is_stored_as_the_card_reads_it(
    service: Service,
) -> None:
    body = "894944000000000001"
    iccid = body + luhn_digit(body)  # 19 digits: EF.ICCID pads the 10th byte with F
    k, opc = os.urandom(16), os.urandom(16)
    text = f"ICCID,IMSI,KI,OPC\n{iccid}F,001010000000077,{k.hex()},{opc.hex()}\n"
    assert import_batch(service, text, "padded.csv", actor="t").imported == 1
    assert registry.get_card(service, iccid) is not None
    # the filler is only a filler at the end of a 19-digit number
    bad = f"ICCID,IMSI,KI,OPC\n{iccid[:10]}F{iccid[10:]},001010000000078,{k.hex()},{opc.hex()}\n"
    with pytest.raises(ImportRejected) as info:
        import_batch(service, bad, "bad.csv", actor="t")
    assert info.value.report.rejected[0].field == "ICCID"


def test_broken_row_names_line_and_field_and_imports_nothing(service: Service) -> None:
    cards = synth_cards(4)
    lines = vendor_out_text(cards, TK).splitlines()
    data_start = next(i for i, line in enumerate(lines) if line.startswith("var_out")) + 1
    broken = lines[data_start + 2].split()
    broken[0] = broken[0][:-1] + str((int(broken[0][-1]) + 1) % 10)  # wrong Luhn digit
    lines[data_start + 2] = " ".join(broken)
    short = lines[data_start + 3].split()[:-1]  # one value missing
    lines[data_start + 3] = " ".join(short)
    with pytest.raises(ImportRejected) as info:
        import_batch(service, "\n".join(lines), "bad.out", TK, actor="t")
    rejected = [(r.line, r.field) for r in info.value.report.rejected]
    assert rejected == [(data_start + 3, "ICCID"), (data_start + 4, "line")]
    assert "Luhn" in info.value.report.rejected[0].reason
    assert _count(service) == 0


def test_unknown_profile_is_a_rejected_row(service: Service) -> None:
    cards = synth_cards(3)
    profiles = ["public-safety-usim-isim", "nosuchprofile", ""]
    text = "ICCID,IMSI,KI,OPC,PROFILE\n" + "".join(
        f"{c.iccid},{c.imsi},{c.k.hex()},{c.opc.hex()},{p}\n"
        for c, p in zip(cards, profiles, strict=True))
    with pytest.raises(ImportRejected) as info:
        import_batch(service, text, "p.csv", actor="t")
    (row,) = info.value.report.rejected
    assert (row.line, row.field) == (3, "PROFILE")
    assert "commercial-usim, public-safety-usim-isim" in row.reason
    assert _count(service) == 0
    report = import_batch(service, text, "p.csv", partial=True, actor="t")
    assert report.imported == 2
    stored = registry.get_card(service, cards[0].iccid)
    assert stored is not None and stored.profile == "public-safety-usim-isim"
    assert registry.get_card(service, cards[1].iccid) is None


def test_partial_imports_the_good_rows(service: Service) -> None:
    cards = synth_cards(3)
    text = csv_text(cards) + "8949440000000000000X,001010000000009,00,11\n"
    report = import_batch(service, text, "p.csv", partial=True, actor="t")
    assert report.imported == 3
    assert [(r.line, r.field) for r in report.rejected] == [(5, "ICCID")]
    assert _count(service) == 3


def test_key_errors_never_echo_the_value(service: Service) -> None:
    bad_k = "0123456789abcdef0123456789abcd"  # 15 bytes
    text = f"ICCID,IMSI,KI,OPC\n89494400000000000005,001010000000001,{bad_k},{'ab' * 16}\n"
    with pytest.raises(ImportRejected) as info:
        import_batch(service, text, "k.csv", actor="t")
    (row,) = info.value.report.rejected
    assert (row.line, row.field) == (2, "KI")
    assert bad_k not in str(info.value.errors) and bad_k not in str(info.value)


def test_duplicates_in_file_and_against_the_pool(service: Service) -> None:
    cards = synth_cards(3)
    import_batch(service, csv_text(cards[:1]), "first.csv", actor="t")
    again = [*cards, SynthCard(cards[1].iccid, "001019999999999", os.urandom(16),
                               os.urandom(16))]
    with pytest.raises(ImportRejected) as info:
        import_batch(service, csv_text(again), "second.csv", actor="t")
    reasons = {(r.line, r.field): r.reason for r in info.value.report.rejected}
    assert reasons == {(2, "ICCID"): "already in the pool", (5, "ICCID"): "duplicate of line 3"}
    assert _count(service) == 1


def test_wrong_transport_key_is_caught_by_the_check_value(service: Service) -> None:
    text = vendor_out_text(synth_cards(2), TK)
    with pytest.raises(ValidationError, match="key check value") as info:
        import_batch(service, text, "b.out", bytes(16), actor="t")
    assert info.value.field == "transport_key"
    assert _count(service) == 0


def test_a_transport_key_without_a_check_value_is_imported_with_a_warning(
        service: Service) -> None:
    text = "\n".join(line for line in vendor_out_text(synth_cards(2), TK).splitlines()
                     if not line.upper().startswith("KCV"))
    report = import_batch(service, text, "b.out", bytes(16), actor="t")  # the wrong key
    assert report.imported == 2 and report.transport_key_unchecked
    # told apart from other unverified cards: checkout waits for pool verify
    with service.db.read_session() as db:
        assert set(db.scalars(select(Card.verification))) == {"unchecked-key"}
    assert "could not be checked" in report.warnings[0] and "pool verify" in report.warnings[0]
    assert report.to_json()["warnings"] == report.warnings
    with_kcv = import_batch(service, vendor_out_text(synth_cards(1, start=5), TK), "c.out", TK,
                            actor="t")
    assert with_kcv.warnings == [] and not with_kcv.transport_key_unchecked


def test_wrong_transport_key_is_caught_by_op_and_opc(service: Service) -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    op = os.urandom(16)
    enc = Cipher(algorithms.AES(TK), modes.ECB()).encryptor()  # noqa: S305
    k = os.urandom(16)
    text = ("var_out: ICCID/IMSI/KI/OPC\n"
            f"89494400000000000005 001010000000001 {enc.update(k).hex()} "
            f"{enc.update(opc_from_op(k, op)).hex()}\n")
    text = f"OP: {op.hex()}\n" + text
    assert import_batch(service, text, "ok.out", TK, actor="t").imported == 1
    text2 = text.replace("89494400000000000005", "89494400000000000013").replace(
        "001010000000001", "001010000000002")
    with pytest.raises(ImportRejected) as info:
        import_batch(service, text2, "wrong.out", bytes(16), actor="t")
    assert [(r.field, "wrong transport key" in r.reason)
            for r in info.value.report.rejected] == [("OPC", True)]


def test_transport_key_required_when_the_file_says_encrypted(service: Service) -> None:
    with pytest.raises(ValidationError, match="encrypted under transport key 1"):
        import_batch(service, vendor_out_text(synth_cards(1), TK), "b.out", actor="t")


def test_file_level_errors(service: Service) -> None:
    with pytest.raises(ValidationError, match="missing column"):
        import_batch(service, "ICCID,IMSI\n1,2\n", "x.csv", actor="t")
    with pytest.raises(ValidationError, match=r"not UTF-8 text \(byte 6\)"):
        import_batch(service, b"ICCID,\xff", "x.csv", actor="t")
    with pytest.raises(ValidationError, match="empty"):
        import_batch(service, b"", "x.csv", actor="t")


def test_a_vendor_file_without_its_var_out_line_is_told_so(service: Service) -> None:
    lines = vendor_out_text(synth_cards(2)).splitlines()
    without = [line for line in lines if not line.startswith("var_out")]
    data_line = next(i for i, line in enumerate(lines) if line.startswith("var_out")) + 1
    with pytest.raises(ValidationError, match=(
            rf"^line {data_line}: expected a 'key: value' header line or the 'var_out:' "
            "line naming the columns$")):
        import_batch(service, "\n".join(without), "x.out", actor="t")
    banner_only = [line for line in without if line.startswith("*")]
    with pytest.raises(ValidationError, match=r"^no 'var_out:' line naming the columns$"):
        import_batch(service, "\n".join(banner_only), "x.out", actor="t")


def test_an_empty_iccid_cell_is_called_empty(service: Service) -> None:
    card = synth_cards(1)[0]
    text = f"ICCID,IMSI,KI,OPC\n,{card.imsi},{card.k.hex()},{card.opc.hex()}\n"
    with pytest.raises(ImportRejected) as info:
        import_batch(service, text, "x.csv", actor="t")
    assert [r.to_json() for r in info.value.report.rejected] == [
        {"line": 2, "field": "ICCID", "reason": "ICCID is empty; it must be 18 to 20 digits"}]
    assert "import with partial" not in info.value.detail


def test_import_is_audited_and_the_chain_verifies(service: Service) -> None:
    report = import_batch(service, csv_text(synth_cards(2)), "a.csv", actor="operator:1")
    chain = audit.verify_chain(service.db)
    assert chain.ok and chain.entries == 1
    with service.db.read_session() as session:
        from server.store.models import AuditEntry

        entry = session.scalar(select(AuditEntry))
    assert entry is not None
    assert (entry.action, entry.actor, entry.details["sha256"]) == (
        "pool.import", "operator:1", report.sha256)


def test_rotate_kek_reencrypts_everything_and_keeps_old_key(service: Service,
                                                             db_url: str) -> None:
    cards = synth_cards(3)
    import_batch(service, csv_text(cards), "a.csv", actor="t")
    old_kek = service.data_dir.kek_path.read_text()
    report = rotate_kek(service, actor="t")
    assert report.cards == 3 and report.retired_key_file is not None
    assert Path(report.retired_key_file).read_text() == old_kek
    assert service.data_dir.kek_path.read_text() != old_kek
    service.close()
    with Service.open(service.data_dir.path, db_url) as svc:
        for card in cards:
            assert _secrets_of(svc, card.iccid) == (card.k, card.opc)
        assert audit.verify_chain(svc.db).ok


def test_pin_and_adm_columns_are_checked_and_encrypted(service: Service) -> None:
    good = ("ICCID,IMSI,KI,OPC,PIN1,PUK1,ADM1\n"
            f"89494400000000000005,001010000000001,{'11' * 16},{'22' * 16},1234,12345678,"
            "A1B2C3D4E5F60718\n")
    assert import_batch(service, good, "p.csv", actor="t").imported == 1
    with service.db.read_session() as session:
        card = session.scalar(select(Card))
    assert card is not None and card.adm1_enc is not None and card.pin1_enc is not None
    assert service.keys.decrypt_secret(card.iccid, card.adm1_enc) == b"A1B2C3D4E5F60718"
    assert b"1234" not in card.pin1_enc
    bad = good.replace("89494400000000000005", "89494400000000000013").replace(
        "001010000000001", "001010000000002").replace(",1234,", ",123456789,")
    with pytest.raises(ImportRejected) as info:
        import_batch(service, bad, "p.csv", actor="t")
    assert [(r.field, r.reason) for r in info.value.report.rejected] == [
        ("PIN1", "must be 4 to 8 digits")]


def test_a_running_server_adopts_a_key_rotated_by_another_process(
    service: Service, db_url: str,
) -> None:
    """``pool rotate-key`` from the CLI while the server runs: the server's next
    challenge, a challenge it issued before, and its next import all use the new key."""
    pool = build_pool(service, size=2)
    handset, card = pool.handsets[0], pool.cards[0]
    before = create_challenge(service, handset.request(), "127.0.0.1").to_json()
    with Service.open(service.data_dir.path, db_url) as cli:
        rotate_kek(cli, actor="admin")
    # the server still holds the retired key
    fresh = create_challenge(service, pool.handsets[1].request(), "127.0.0.1").to_json()
    doc, sig = pool.handsets[1].evidence(fresh, pool.cards[1])
    assert submit_evidence(service, fresh["id"], doc, sig, "127.0.0.1").status == "affirming"
    doc, sig = handset.evidence(before, card)
    assert submit_evidence(service, before["id"], doc, sig, "127.0.0.1").status == "affirming"
    with Service.open(service.data_dir.path, db_url) as cli:
        rotate_kek(cli, actor="admin")
    cards = synth_cards(2, start=500)
    import_batch(service, csv_text(cards), "after-rotation.csv", actor="t")
    service.close()
    with Service.open(service.data_dir.path, db_url) as svc:
        for c in cards:
            assert _secrets_of(svc, c.iccid) == (c.k, c.opc)


def test_a_server_without_access_to_the_rotated_key_answers_503_and_imports_nothing(
    service: Service, db_url: str, tmp_path: Path,
) -> None:
    with Service.open(service.data_dir.path, db_url) as cli:
        # the new key kept outside the data directory, where the server does not look
        rotate_kek(cli, actor="admin", new_key_file=tmp_path / "elsewhere.key")
    with pytest.raises(KeyRotated):
        import_batch(service, csv_text(synth_cards(1, start=900)), "x.csv", actor="t")
    assert _count(service) == 0
