"""The storage-side admin commands through ``simattest`` itself: token bootstrap,
audit verify, key rotation, device keygen — exit codes, output and files."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text, update

from server.cli.main import main
from server.core import operators
from server.core.config import ServiceConfig
from server.core.service import Service
from server.demo.batchgen import csv_text, synth_cards
from server.pool import registry
from server.pool.provisioning import import_batch
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
    report = json.loads(capsys.readouterr().out)
    assert report == {"entries": 2, "ok": True, "first_broken": None, "reason": "",
                      "head": report["head"]}
    assert report["head"].startswith("2:") and len(report["head"]) == 2 + 64
    with service.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor="x"))
    assert main(["audit", "verify", *_store(service, db_url)]) == 1
    assert "broken at entry 1" in capsys.readouterr().err


def _rewrite_history(service: Service, seq: int, actor: str) -> None:
    """What someone with write access to the database can do: change an entry and
    recompute every hash after it, and the head."""
    from server.store import audit_chain as audit
    from server.store.models import AuditHead

    with service.db.session() as session:
        prev = audit.GENESIS_HASH
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            if entry.seq == seq:
                entry.actor = actor
            entry.prev_hash = prev
            entry.hash = prev = audit.entry_hash(entry.seq, entry.at, entry.actor, entry.action,
                                                 entry.subject, entry.details, prev)
        head = session.scalars(select(AuditHead)).one()
        head.hash = prev


def test_a_checkpoint_catches_a_rewritten_history(
        service: Service, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        operators.create_token(service, "desk")
    assert main(["audit", "verify", *_store(service, db_url)]) == 0
    out = capsys.readouterr().out
    (head,) = [line.split()[1] for line in out.splitlines() if line.startswith("head ")]
    assert main(["audit", "verify", "--checkpoint", head, *_store(service, db_url)]) == 0
    assert "1 matched" in capsys.readouterr().out
    operators.create_token(service, "admin")  # the log grows: the checkpoint still holds
    assert main(["audit", "verify", "--checkpoint", head, *_store(service, db_url)]) == 0
    capsys.readouterr()

    _rewrite_history(service, 2, "operator:9:mallory")
    assert main(["audit", "verify", *_store(service, db_url)]) == 0  # the chain alone: fooled
    capsys.readouterr()
    assert main(["audit", "verify", "--checkpoint", head, *_store(service, db_url)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("audit log broken at entry 3: hash differs from the checkpoint")

    assert main(["audit", "verify", "--checkpoint", "99:" + "0" * 64,
                 *_store(service, db_url)]) == 1
    assert "ends at entry 4, before checkpoint 99" in capsys.readouterr().err
    assert main(["audit", "verify", "--checkpoint", "3:abc", *_store(service, db_url)]) == 2
    assert "expected SEQ:HASH" in capsys.readouterr().err


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
    kek.chmod(0o600)
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


@pytest.mark.parametrize("argv", [
    ["audit", "verify"],
    ["pool", "verify", "--readers", "sim:none.yaml"],
    ["pool", "rotate-key"],
])
def test_commands_on_existing_storage_refuse_a_missing_data_directory(
        tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "typo"
    assert main([*argv, "--data", str(typo)]) == 2
    err = capsys.readouterr().err
    assert err == (f"simattest: data directory {typo} does not exist (mistyped --data?); "
                   "`simattest serve` or `simattest admin token create --data DIR` "
                   "creates one\n")
    assert not typo.exists()


def test_a_data_directory_without_its_database_is_refused_not_filled(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["audit", "verify", "--data", str(tmp_path / "empty")]) == 2
    assert "holds no database simattest.db" in capsys.readouterr().err
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_database_kept_outside_the_data_directory_needs_no_file_in_it(
        service: Service, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # The service fixture's SQLite file (or PostgreSQL) lives outside the data directory.
    assert not (service.data_dir.path / "simattest.db").exists()
    assert main(["audit", "verify", *_store(service, db_url)]) == 0
    assert "intact" in capsys.readouterr().out
    assert not (service.data_dir.path / "simattest.db").exists()


@pytest.mark.parametrize("where", ["file/sub", "file"])
def test_a_data_directory_that_cannot_be_created_is_one_line(
        tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a directory")
    assert main(["admin", "token", "create", "--role", "admin",
                 "--data", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"simattest: data directory {tmp_path}")
    assert ("cannot create it (Not a directory)" in err if "/" in where
            else "exists and is not a directory" in err)


def test_audit_verify_reports_an_unreadable_log_in_one_line(
        service: Service, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    operators.create_token(service, "desk")
    with service.db.session() as session:
        session.execute(text("DROP TABLE audit_head"))
    assert main(["audit", "verify", *_store(service, db_url)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("simattest: audit log unreadable (") and err.count("\n") == 1
    assert "audit_head" in err
    assert main(["audit", "verify", "--json", *_store(service, db_url)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["first_broken"]) == (False, None)


@pytest.mark.parametrize("new_file, message", [
    ("missing/new.hex", "directory {data}/missing does not exist"),
    ("kek.key", "holds the current key-encryption key; give a new file"),
    ("taken.hex", "exists; refusing to overwrite a key file"),
])
def test_rotate_key_refuses_a_bad_new_key_file_and_changes_nothing(
        tmp_path: Path, new_file: str, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    with Service.open(data) as svc:
        import_batch(svc, csv_text(synth_cards(1)), "a.csv", actor="t")
    (data / "taken.hex").write_text("keep me")
    before = _key_files(data)
    assert main(["pool", "rotate-key", "--data", str(data),
                 "--new-kek-file", str(data / new_file)]) == 2
    err = capsys.readouterr().err
    assert message.format(data=data) in err and err.count("\n") == 1
    assert _key_files(data) == before


def _key_files(data: Path) -> dict[str, bytes]:
    """Every file in ``data`` but the database's (which SQLite may touch on opening)."""
    return {p.name: p.read_bytes() for p in data.iterdir()
            if not p.name.startswith("simattest.db")}


def test_device_keygen_into_a_missing_directory_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no" / "dir" / "h.pem"
    assert main(["device", "keygen", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"simattest: {out}: directory {out.parent} does not exist\n")


def test_an_unexpected_os_error_is_one_line_naming_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with Service.open(tmp_path / "data"):
        pass

    # A file failure no command anticipates, e.g. the disk filling up.
    def disk_full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/some/where")

    monkeypatch.setattr("server.store.audit_chain.verify_chain", disk_full)
    assert main(["audit", "verify", "--data", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == "simattest: /some/where: No space left on device\n"


# Mounts `$1` read-only in a private mount namespace, then runs the rest (exit 99: cannot).
_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99; shift; exec "$@"'


@pytest.mark.parametrize("argv, message", [
    (["audit", "verify", "--data", "{ro}/data"],
     "data directory {ro}/data: not writable (read-only filesystem); SQLite writes beside "
     "its database (the WAL journal) even to read it"),
    (["admin", "token", "create", "--role", "admin", "--data", "{ro}/new"],
     "data directory {ro}/new: cannot create it (Read-only file system)"),
])
def test_a_read_only_data_directory_is_one_line(tmp_path: Path, argv: list[str],
                                                message: str) -> None:
    # Never skipped: util-linux's unshare is part of every Debian system.
    assert shutil.which("unshare"), "unshare(1) (util-linux) is needed for this test"
    ro = tmp_path / "ro"
    with Service.open(ro / "data"):
        pass
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", _READ_ONLY, "sh", str(ro), sys.executable, "-m",
         "server.cli.main", *(a.format(ro=ro) for a in argv)],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode != 99, f"cannot mount a read-only filesystem: {proc.stderr}"
    assert (proc.returncode, proc.stderr) == (2, f"simattest: {message.format(ro=ro)}\n")
