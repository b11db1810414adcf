"""The storage-side admin commands through ``simattest`` itself: token bootstrap,
audit verify, key rotation, device keygen — exit codes, output and files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import update

from server import operators, registry
from server.batchgen import csv_text, synth_cards
from server.cli.main import main
from server.context import Service, ServiceConfig
from server.provisioning import import_batch
from server.store.models import AuditEntry


def _store(service: Service, db_url: str) -> list[str]:
    return ["--data", str(service.data_dir.path), "--db", db_url]


def test_token_create_prints_a_working_token_once(
        service: Service, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "token", "create", "--role", "desk", "--label", "desk 1",
                 *_store(service, db_url)]) == 0
    token = capsys.readouterr().out.strip()
    operator = operators.authenticate(service, token)
    assert operator is not None and (operator.role, operator.label) == ("desk", "desk 1")
    assert main(["admin", "token", "create", "--role", "admin", "--json",
                 *_store(service, db_url)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["role"] == "admin" and operators.authenticate(service, shown["token"])


def test_token_create_bootstraps_a_new_data_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "token", "create", "--role", "admin",
                 "--data", str(tmp_path / "new")]) == 0
    token = capsys.readouterr().out.strip()
    with Service.open(tmp_path / "new") as svc:
        assert operators.authenticate(svc, token) is not None


def test_tokens_are_listed_and_revoked(
        service: Service, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = {}
    for role, label in (("desk", "front desk"), ("provisioner", "stores")):
        assert main(["admin", "token", "create", "--role", role, "--label", label,
                     *_store(service, db_url)]) == 0
        tokens[label] = capsys.readouterr().out.strip()
    assert main(["admin", "token", "list", "--json", *_store(service, db_url)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(o["role"], o["label"], o["revoked_at"]) for o in listed] == [
        ("desk", "front desk", None), ("provisioner", "stores", None)]
    out = json.dumps(listed)
    assert all(token not in out and token[4:] not in out for token in tokens.values())

    desk_id = listed[0]["id"]
    assert main(["admin", "token", "revoke", str(desk_id), *_store(service, db_url)]) == 0
    assert f"revoked operator {desk_id}" in capsys.readouterr().out
    assert operators.authenticate(service, tokens["front desk"]) is None
    assert operators.authenticate(service, tokens["stores"]) is not None
    assert main(["admin", "token", "list", "--json", *_store(service, db_url)]) == 0
    assert [o["label"] for o in json.loads(capsys.readouterr().out)] == ["stores"]
    assert main(["admin", "token", "list", "--all", *_store(service, db_url)]) == 0
    table = capsys.readouterr().out
    assert "front desk" in table and "stores" in table

    # Revoking again, or an id nobody holds: one line, input error, nothing changed.
    for operator_id in (desk_id, 999):
        assert main(["admin", "token", "revoke", str(operator_id),
                     *_store(service, db_url)]) == 2
        assert capsys.readouterr().err.strip() == \
            f"simattest: no active operator {operator_id}"
    assert main(["audit", "verify", *_store(service, db_url)]) == 0


def test_bad_role_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["admin", "token", "create", "--role", "root"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_audit_verify_exit_codes(service: Service, db_url: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import_batch(service, csv_text(synth_cards(2)), "a.csv", actor="t")
    operators.create_token(service, "desk")
    assert main(["audit", "verify", "--json", *_store(service, db_url)]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "entries": 2, "ok": True, "first_broken": None, "reason": ""}
    with service.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor="x"))
    assert main(["audit", "verify", *_store(service, db_url)]) == 1
    assert "broken at entry 1" in capsys.readouterr().err


def test_wrong_kek_makes_commands_refuse(service: Service, db_url: str,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import_batch(service, csv_text(synth_cards(1)), "a.csv", actor="t")
    monkeypatch.setenv("SIMATTEST_KEK", "22" * 32)
    assert main(["audit", "verify", *_store(service, db_url)]) == 2
    err = capsys.readouterr().err
    assert "does not match" in err and "Traceback" not in err


def test_rotate_key_command(service: Service, db_url: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(2)
    import_batch(service, csv_text(cards), "a.csv", actor="t")
    service.close()
    assert main(["pool", "rotate-key", "--json", *_store(service, db_url)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cards"] == 2 and Path(report["retired_key_file"]).exists()
    with Service.open(service.data_dir.path, db_url) as svc:
        card = registry.get_card(svc, cards[0].iccid)
        assert card is not None and svc.keys.decrypt_secret(card.iccid, card.k_enc) == cards[0].k


@pytest.mark.parametrize("kind", ["ed25519", "p256"])
def test_device_keygen(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dev.pem"
    assert main(["device", "keygen", "--out", str(out), "--type", kind]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(out.read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / "dev.pub.pem").read_bytes())
    assert private.public_key() == public
    assert main(["device", "keygen", "--out", str(out)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_kek_file_option_keeps_the_key_outside_the_data_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kek = tmp_path / "kek.hex"
    kek.write_text("cd" * 32)
    data = tmp_path / "data"
    assert main(["admin", "token", "create", "--role", "admin", "--data", str(data),
                 "--kek-file", str(kek)]) == 0
    assert not (data / "kek.key").exists()
    capsys.readouterr()
    with Service.open(data, config=ServiceConfig(kek_file=kek)) as svc:
        import_batch(svc, csv_text(synth_cards(1)), "a.csv", actor="t")
    kek.write_text("ce" * 32)
    assert main(["audit", "verify", "--data", str(data), "--kek-file", str(kek)]) == 2
    assert "does not match" in capsys.readouterr().err
