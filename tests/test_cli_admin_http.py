"""The HTTP admin commands against a real ``simattest serve`` (gunicorn) process:
pool import, device add, pair, unpair — output, exit codes, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.cli.main import main
from server.core import operators
from server.core.service import Service
from server.demo.batchgen import synth_cards, vendor_out_text
from tests.fixtures_attestation import make_imei
from tests.fixtures_db import free_port
from tests.processes import serve_process
from tests.test_registry import IMEI_A, IMEI_B, public_pem

TK = "000102030405060708090a0b0c0d0e0f"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(base URL, provisioner token, data dir) of a gunicorn server on SQLite."""
    data = tmp_path_factory.mktemp("serve") / "data"
    with Service.open(data) as svc:
        token = operators.create_token(svc, "provisioner", "cli test")
    with serve_process(data, data.parent / "serve.log", ["--workers", "2"]) as url:
        yield url, token, data


@pytest.fixture
def env(server: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    url, token, data = server
    monkeypatch.setenv("SIMATTEST_SERVER", url)
    monkeypatch.setenv("SIMATTEST_TOKEN", token)
    return data


def test_pool_import_device_pair_unpair(env: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(2, iccid_prefix="8949441111")
    batch = tmp_path / "batch.out"
    batch.write_text(vendor_out_text(cards, bytes.fromhex(TK)))
    assert main(["pool", "import", str(batch), "--transport-key", TK, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["imported"], report["rejected"]) == (2, [])

    key = tmp_path / "dev.pub.pem"
    key.write_text(public_pem())
    assert main(["device", "add", "--imei", IMEI_A, "--key", str(key), "--label", "u1"]) == 0
    assert IMEI_A in capsys.readouterr().out
    assert main(["pair", "--imei", IMEI_A, "--iccid", cards[0].iccid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["active"] is True
    assert main(["unpair", "--imei", IMEI_A, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["active"] is False

    # Every step landed in the hash chain, through the gunicorn workers.
    assert main(["audit", "verify", "--json", "--data", str(env)]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert chain["ok"] and chain["entries"] >= 5


def test_a_batch_under_an_unchecked_wrong_key_is_removed_and_imported_again(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(2, iccid_prefix="8949443333", imsi_prefix="00103")
    batch = tmp_path / "nokcv.out"
    batch.write_text("\n".join(line for line in vendor_out_text(cards, bytes.fromhex(TK))
                               .splitlines() if not line.upper().startswith("KCV")) + "\n")
    wrong = "0f" * 16
    assert main(["pool", "import", str(batch), "--transport-key", wrong]) == 0
    captured = capsys.readouterr()
    assert "imported 2 of 2" in captured.out
    assert "simattest: warning: the file has no key check value" in captured.err
    assert wrong not in captured.out + captured.err

    iccids = [c.iccid for c in cards]
    assert main(["pool", "remove", *iccids]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"removed card {iccid} from the pool" for iccid in iccids]
    assert main(["pool", "import", str(batch), "--transport-key", TK]) == 0
    assert "imported 2 of 2" in capsys.readouterr().out
    # A paired card stays; the refusal is one line naming it.
    key = tmp_path / "dev.pub.pem"
    key.write_text(public_pem())
    imei = make_imei(77)  # a handset no other test of this module's server registers
    assert main(["device", "add", "--imei", imei, "--key", str(key)]) == 0
    assert main(["pair", "--imei", imei, "--iccid", iccids[0]]) == 0
    capsys.readouterr()
    assert main(["pool", "remove", iccids[0]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simattest: card {iccids[0]} has been paired or challenged")
    assert "HTTP" not in err and "/v1/" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_batch_already_imported_says_there_is_nothing_to_do(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(2, iccid_prefix="8949445555", imsi_prefix="00105")
    batch = tmp_path / "again.out"
    batch.write_text(vendor_out_text(cards))
    assert main(["pool", "import", str(batch)]) == 0
    capsys.readouterr()
    assert main(["pool", "import", str(batch)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "all 2 cards are already in the pool; nothing to do"
    assert "--partial" not in captured.out + captured.err


def test_a_file_cut_short_is_refused_naming_both_numbers(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(3, iccid_prefix="8949446666", imsi_prefix="00106")
    batch = tmp_path / "cut.out"
    batch.write_text("\n".join(vendor_out_text(cards).splitlines()[:-1]) + "\n")  # Quantity: 3
    assert main(["pool", "import", str(batch), "--partial"]) == 2
    err = capsys.readouterr().err
    assert "the header says Quantity: 3 but the file has 2 card lines" in err
    assert "nothing imported" in err and len(err.strip().splitlines()) == 1
    # nothing of it was imported: the two whole rows import once the file is complete
    batch.write_text(vendor_out_text(cards))
    assert main(["pool", "import", str(batch)]) == 0
    assert "imported 3 of 3" in capsys.readouterr().out


def test_partial_is_suggested_only_when_there_are_good_rows(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(3, iccid_prefix="8949447777", imsi_prefix="00107")
    batch = tmp_path / "one-bad.csv"
    rows = [f"{c.iccid},{c.imsi},{c.k.hex()},{c.opc.hex()}" for c in cards]
    batch.write_text("ICCID,IMSI,KI,OPC\n" + "\n".join([rows[0], rows[1], "1,2,3,4"]) + "\n")
    assert main(["pool", "import", str(batch)]) == 2
    assert "run again with --partial to import the 2 good rows" in capsys.readouterr().err
    batch.write_text("ICCID,IMSI,KI,OPC\n1,2,3,4\n5,6,7,8\n")
    assert main(["pool", "import", str(batch)]) == 2
    err = capsys.readouterr().err
    assert "2 of 2 rows rejected" in err and "--partial" not in err


def test_rejected_import_prints_every_row_and_exits_2(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(3, iccid_prefix="8949442222", imsi_prefix="00102")
    lines = vendor_out_text(cards).splitlines()
    lines[-1] = lines[-1].replace(cards[2].imsi, "00101ABC")
    batch = tmp_path / "bad.out"
    batch.write_text("\n".join(lines) + "\n")
    assert main(["pool", "import", str(batch), "--json"]) == 2
    captured = capsys.readouterr()
    problem = json.loads(captured.out)
    assert problem["errors"] == [{"line": len(lines), "field": "IMSI",
                                  "reason": "IMSI must be 6 to 15 digits"}]
    assert "nothing imported" in captured.err


def test_a_file_rejected_wholesale_shows_the_first_rows(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli.pool import MAX_ROWS_SHOWN

    cards = synth_cards(MAX_ROWS_SHOWN + 20, iccid_prefix="8949444444", imsi_prefix="00104")
    batch = tmp_path / "swapped.csv"  # IMSI and ICCID columns swapped: every row is bad
    batch.write_text("ICCID,IMSI,KI,OPC\n" + "".join(
        f"{c.imsi},{c.iccid},{c.k.hex()},{c.opc.hex()}\n" for c in cards))
    assert main(["pool", "import", str(batch)]) == 2
    out = capsys.readouterr().out
    assert f"… and {len(cards) - MAX_ROWS_SHOWN} more rejected rows (--json lists them all)" \
        in out
    assert main(["pool", "import", str(batch), "--json"]) == 2
    assert len(json.loads(capsys.readouterr().out)["errors"]) == len(cards)


def test_service_refusals_are_one_line_with_exit_2(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k.pem"
    key.write_text(public_pem())
    assert main(["device", "add", "--imei", "490154203237519", "--key", str(key)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "HTTP" not in err and "Luhn" in err
    assert main(["pair", "--imei", IMEI_B, "--iccid", "89494400000000000005"]) == 2
    assert f"handset {IMEI_B} is not registered" in capsys.readouterr().err
    # -v adds the request and its HTTP status, for whoever debugs.
    assert main(["pair", "-v", "--imei", IMEI_B, "--iccid", "89494400000000000005"]) == 2
    assert "POST /v1/pairings: HTTP 404" in capsys.readouterr().err


def test_bad_token_and_unreachable_server(env: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIMATTEST_TOKEN", "sat_wrong")
    assert main(["unpair", "--imei", IMEI_A]) == 2
    assert "token" in capsys.readouterr().err
    monkeypatch.setenv("SIMATTEST_SERVER", f"http://127.0.0.1:{free_port()}")
    assert main(["unpair", "--imei", IMEI_A]) == 3
    err = capsys.readouterr().err
    assert "cannot reach the attestation service" in err and "connection refused" in err
    assert "ConnectionError" not in err and "Errno" not in err
    monkeypatch.delenv("SIMATTEST_SERVER")
    assert main(["unpair", "--imei", IMEI_A]) == 2
    assert "--server" in capsys.readouterr().err



def test_a_refused_field_is_named_once(env: Path, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with Service.open(env) as svc:
        desk = operators.create_token(svc, "desk")
    assert main(["desk", "checkout", "--attestation", "a1", "--user", "",
                 "--token", desk]) == 2
    assert capsys.readouterr().err.startswith(
        "simattest: user: expected ")
    # The detail already names it: not "imei: IMEI must …".
    key = tmp_path / "k.pub.pem"
    key.write_text(public_pem())
    assert main(["device", "add", "--imei", "35693803560001A", "--key", str(key)]) == 2
    assert capsys.readouterr().err == (
        "simattest: IMEI must be 15 digits; character 15 "
        "('A') is not a digit\n")


def test_device_add_never_sends_a_private_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "keygen", "--out", str(tmp_path / "handset-4.pem")]) == 0
    capsys.readouterr()
    # Nothing listens there: a connection attempt would fail with exit 3.
    monkeypatch.setenv("SIMATTEST_SERVER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("SIMATTEST_TOKEN", "sat_unused")
    assert main(["device", "add", "--imei", IMEI_A,
                 "--key", str(tmp_path / "handset-4.pem")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simattest: {tmp_path / 'handset-4.pem'}: is a private key; ")
    assert str(tmp_path / "handset-4.pub.pem") in err and "cannot reach" not in err


def test_partial_import_that_imports_nothing_fails(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cards = synth_cards(2, iccid_prefix="8949443333", imsi_prefix="00103")
    lines = vendor_out_text(cards).splitlines()
    lines[-2:] = [line.replace(c.imsi, "00101ABC") for line, c in zip(lines[-2:], cards,
                                                                     strict=True)]
    batch = tmp_path / "all-bad.out"
    batch.write_text("\n".join(lines) + "\n")
    assert main(["pool", "import", str(batch), "--partial"]) == 2
    captured = capsys.readouterr()
    assert captured.out.count("IMSI must be 6 to 15 digits") == 2
    assert captured.err == f"simattest: {batch}: all 2 rows rejected; nothing imported\n"
    # Without --partial: no advice to import "the good rows" when there are none.
    assert main(["pool", "import", str(batch)]) == 2
    assert capsys.readouterr().err == "simattest: 2 of 2 rows rejected; nothing imported\n"


def test_a_file_without_card_rows_is_an_input_error(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "header.csv"
    batch.write_text("ICCID,IMSI,KI,OPC\n")
    assert main(["pool", "import", str(batch), "--partial"]) == 2
    assert capsys.readouterr().err == (
        f"simattest: {batch}: no card rows (only a header?); nothing imported\n")


@pytest.mark.parametrize("content, message", [
    (b"\x00\xff\xfe", "not UTF-8 text (byte 1)"),
    (None, "no such file"),
])
def test_unreadable_import_files_are_said_in_words(
        env: Path, tmp_path: Path, content: bytes | None, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "binary.bin"
    if content is not None:
        batch.write_bytes(content)
    assert main(["pool", "import", str(batch)]) == 2
    assert capsys.readouterr().err == f"simattest: {batch}: {message}\n"


@pytest.mark.parametrize("argv, message", [
    (["unpair", "--imei", "../handsets"], "simattest unpair: --imei: expected digits"),
    (["desk", "checkout", "--imei", "1?x", "--user", "J"],
     "simattest desk checkout: --imei: expected digits"),
    (["pool", "remove", "8900101000000000019", "89/x"],
     "simattest pool remove: ICCID: expected digits"),
])
def test_identifiers_that_go_into_a_path_are_digits(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--server", "http://127.0.0.1:9", "--token", "t"])
    assert info.value.code == 2
    assert capsys.readouterr().err == message + "\n"
