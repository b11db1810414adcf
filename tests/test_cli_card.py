"""``simattest read`` and ``simattest auth`` as a bench engineer runs them.

The reader is the in-process simulated card (``sim:`` URIs over the example card files);
the PC/SC path through a real pcscd is exercised by the PC/SC tests. Expected values are
computed with the AKA library from the card file's test keys (TS 35.208 test set 1),
independently of the card-side code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from attest.aka.gsm import c2, c3
from attest.aka.milenage import Milenage
from attest.aka.sqn import join_sqn, resync
from attest.aka.tuak import Tuak
from server.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SIMATTEST = ROOT / ".venv" / "bin" / "simattest"
EXAMPLES = ROOT / "card_profiles" / "examples"
PS = f"sim:{EXAMPLES / 'ps-001.yaml'}"
KI = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
RAND = bytes(range(16))
ALG = Milenage(bytes.fromhex(KI), opc=bytes.fromhex(OPC))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def autn(seq: int) -> str:
    return ALG.vector(RAND, join_sqn(seq, 0), bytes.fromhex("8000")).autn.hex()


# --- read ------------------------------------------------------------------------------


def test_read_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "read", "--reader", PS, "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert set(doc) == {"iccid", "imsi", "mnc_length", "ust", "ust_names", "prose", "isim",
                        "apdu_count"}
    assert doc["iccid"] == "8900101000000000019"
    assert doc["imsi"] == "001010000000001"
    assert doc["isim"]["impu"][1] == "tel:+15550100001"
    assert doc["apdu_count"] <= 16


def test_read_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "read", "--reader", PS)
    assert code == 0
    assert "8900101000000000019" in out
    assert "sip:unit-0001@mcptt.example.org" in out
    assert "present" in out  # DF.ProSe


def test_read_table_says_when_ef_ad_states_no_mnc_length() -> None:
    # Older cards (3-byte EF.AD, or a reserved value): the JSON has null, people read why.
    from hw.identity import Identities, IsimIdentities
    from server.cli.card import _identity_rows

    ids = Identities("8900101000000000019", "001010000000001", None, (27,), False, None, 7,
                     bytes.fromhex("A0000000871002"), None)
    assert ("MNC length", "not stated (EF.AD)") in _identity_rows(ids)
    assert ids.to_json()["mnc_length"] is None
    # An ISIM whose IMPI and DOMAIN were never personalised.
    blank = IsimIdentities(None, None, ("tel:+15550100001",), (15,), ())
    rows = _identity_rows(dataclasses.replace(ids, isim=blank))
    assert ("IMPI", "(not personalised)") in rows and ("DOMAIN", "(not personalised)") in rows


def test_read_pin_card(capsys: pytest.CaptureFixture[str]) -> None:
    pin_card = f"sim:{EXAMPLES / 'ps-pin.yaml'}"
    code, _, err = run(capsys, "read", "--reader", pin_card)
    assert code == 1
    assert "6982" in err and "--pin" in err
    code, out, _ = run(capsys, "read", "--reader", pin_card, "--pin", "1234", "--json")
    assert code == 0 and json.loads(out)["imsi"] == "001010000000006"


def test_pin_given_for_a_card_without_pin_protection(capsys: pytest.CaptureFixture[str]) -> None:
    # ps-001 has PIN1 disabled: --pin is harmless, read and self-check go on.
    code, out, err = run(capsys, "read", "--reader", PS, "--pin", "1234", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["iccid"] == "8900101000000000019"
    code, out, err = run(capsys, "auth", "--reader", PS, "--pin", "1234", "--ki", KI, "--opc", OPC)
    assert (code, err) == (0, "") and out.startswith("PASS")


def test_read_bad_pin_format_is_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "read", "--reader", f"sim:{EXAMPLES / 'ps-pin.yaml'}", "--pin", "12")
    assert code == 2
    assert err == "simattest: PIN must be 4 to 8 decimal digits\n"


# --- auth with RAND/AUTN --------------------------------------------------------------------


def test_auth_success(capsys: pytest.CaptureFixture[str]) -> None:
    v = ALG.vector(RAND, join_sqn(1, 0), bytes.fromhex("8000"))
    code, out, _ = run(
        capsys, "auth", "--reader", PS, "--rand", RAND.hex(), "--autn", autn(1), "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "outcome": "success",
        "res": v.res.hex(),
        "ck": v.ck.hex(),
        "ik": v.ik.hex(),
        "kc": c3(v.ck, v.ik).hex(),
    }


def test_auth_isim_has_no_kc(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("auth", "--reader", PS, "--app", "isim", "--rand", RAND.hex(), "--autn", autn(1))
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["outcome"] == "success" and doc["kc"] is None


def test_auth_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    v = ALG.vector(RAND, join_sqn(1, 0), bytes.fromhex("8000"))
    argv = ("auth", "--reader", PS, "--app", "isim", "--rand", RAND.hex(), "--autn", autn(1))
    code, out, _ = run(capsys, *argv)
    assert code == 0
    rows = {
        cells[0]: cells[1]
        for line in out.splitlines()
        if len(cells := line.split("\t")) == 2  # not a terminal: tab-separated
    }
    assert rows["outcome"] == "success" and rows["RES"] == v.res.hex()
    assert rows["CK"] == v.ck.hex() and rows["Kc"] == "(none)"


def test_auth_gsm_context(capsys: pytest.CaptureFixture[str]) -> None:
    v = ALG.vector(RAND, join_sqn(1, 0), bytes.fromhex("8000"))
    code, out, _ = run(
        capsys, "auth", "--reader", PS, "--context", "gsm", "--rand", RAND.hex(), "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "outcome": "success",
        "sres": c2(v.res).hex(),
        "kc": c3(v.ck, v.ik).hex(),
    }


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_auth_sync_failure_prints_auts_and_exits_1(as_json: bool) -> None:
    # Through the installed console script, as a shell script runs it: a stale AUTN (SEQ 0
    # while the card holds 0) is refused; the exit code says so, the AUTS is printed.
    argv = ["auth", "--reader", PS, "--rand", RAND.hex(), "--autn", autn(0)]
    proc = subprocess.run([str(SIMATTEST), *argv, *(["--json"] if as_json else [])],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (1, "")
    if as_json:
        doc = json.loads(proc.stdout)
        assert set(doc) == {"outcome", "auts"} and doc["outcome"] == "sync_failure"
        auts = bytes.fromhex(doc["auts"])
    else:
        # Piped, the table is tab-separated lines: field, value.
        fields = dict(line.split("\t") for line in proc.stdout.splitlines()[1:])
        assert fields["outcome"] == "sync_failure"
        auts = bytes.fromhex(fields["AUTS"])
    assert resync(ALG, RAND, auts) == join_sqn(0, 0)  # MAC-S verifies: SQN_MS of a new card


def test_auth_mac_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "auth", "--reader", PS, "--rand", RAND.hex(), "--autn", "00" * 16, "--json"
    )
    assert (code, json.loads(out)) == (1, {"outcome": "mac_failure"})


def test_auth_context_not_supported_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("auth", "--reader", PS, "--app", "isim", "--context", "gsm", "--rand", RAND.hex())
    code, out, _ = run(capsys, *argv, "--json")
    assert (code, json.loads(out)) == (1, {"outcome": "context_not_supported"})


def test_auth_pin_needed_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    pin_card = f"sim:{EXAMPLES / 'ps-pin.yaml'}"
    code, out, _ = run(
        capsys, "auth", "--reader", pin_card, "--rand", RAND.hex(), "--autn", autn(1), "--json"
    )
    assert (code, json.loads(out)) == (1, {"outcome": "pin_needed"})


def test_auth_card_removed_mid_authenticate_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    # APDU 1: EF.DIR record 1; 2: SELECT ADF.USIM; 3: AUTHENTICATE.
    code, out, err = run(
        capsys, "auth", "--reader", PS + "?remove_at=3", "--rand", RAND.hex(), "--autn", autn(1)
    )
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1 and "removed during APDU 3" in err


# --- self-check ------------------------------------------------------------------------------


def test_selfcheck_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "auth", "--reader", PS, "--ki", KI, "--opc", OPC)
    assert code == 0
    assert out.startswith("PASS")


def test_selfcheck_json_and_isim(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "auth",
        "--reader",
        PS,
        "--app",
        "isim",
        "--ki",
        KI,
        "--opc",
        OPC,
        "--sqn",
        "000000000040",
        "--json",
    )
    assert code == 0
    assert json.loads(out) == {
        "verdict": "PASS",
        "reason": None,
        "sqn": "000000000040",
        "sqn_ms": None,
        "attempts": 1,
    }


def test_selfcheck_wrong_key_fails_with_reason(capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "00" + KI[2:]
    code, out, err = run(capsys, "auth", "--reader", PS, "--ki", wrong, "--opc", OPC)
    assert code == 1
    assert out == "FAIL MAC_FAILURE: the card rejected AUTN: it does not hold these keys\n"
    assert wrong not in out + err and OPC not in out + err


def test_selfcheck_with_op(capsys: pytest.CaptureFixture[str]) -> None:
    op = "cdc202d5123e20f62b6d676ac72cb318"
    code, out, _ = run(capsys, "auth", "--reader", PS, "--ki", KI, "--op", op, "--json")
    assert code == 0 and json.loads(out)["verdict"] == "PASS"


def test_selfcheck_pin_card(capsys: pytest.CaptureFixture[str]) -> None:
    pin_card = f"sim:{EXAMPLES / 'ps-pin.yaml'}"
    ki, opc = "fe2d57f0439c1f33b68a4b4da0f3610c", "1c3ca6be7abae8a4120221acf9a03d0a"
    code, out, _ = run(capsys, "auth", "--reader", pin_card, "--ki", ki, "--opc", opc, "--json")
    assert (code, json.loads(out)["reason"]) == (1, "PIN_NEEDED")
    code, out, _ = run(
        capsys, "auth", "--reader", pin_card, "--ki", ki, "--opc", opc, "--pin", "1234", "--json"
    )
    assert (code, json.loads(out)["verdict"]) == (0, "PASS")


def test_selfcheck_reports_a_resynchronisation(capsys: pytest.CaptureFixture[str]) -> None:
    # SQN 0 is not fresh on a card whose SQN_MS is 0: AUTS, resync, SEQ 1 passes.
    code, out, _ = run(capsys, "auth", "--reader", PS, "--ki", KI, "--opc", OPC, "--sqn", "0" * 12)
    assert code == 0
    assert out == (
        "PASS (USIM answers AKA as its keys say; SQN 000000000020, after resynchronising to "
        "SQN_MS 000000000000)\n"
    )


# --- TUAK cards (TS 35.231): self-check and AUTN with a longer MAC ---------------------------

TUAK_K = "ab" * 16
TUAK_TOP = "55" * 32


def test_selfcheck_of_a_tuak_card(capsys: pytest.CaptureFixture[str]) -> None:
    card = f"sim:{EXAMPLES / 'ps-tuak.yaml'}"  # TS 35.233 test set 1: RES 32 bits
    args = ("auth", "--reader", card, "--ki", TUAK_K, "--top", TUAK_TOP, "--res-len", "32")
    code, out, err = run(capsys, *args)
    assert (code, err) == (0, "") and out.startswith("PASS (USIM")
    topc = Tuak(bytes.fromhex(TUAK_K), top=bytes.fromhex(TUAK_TOP)).topc.hex()
    code, out, _ = run(
        capsys, "auth", "--reader", card, "--app", "isim", "--ki", TUAK_K, "--topc", topc,
        "--res-len", "32", "--json",
    )
    assert code == 0 and json.loads(out)["verdict"] == "PASS"
    assert TUAK_TOP not in out and topc not in out
    # The card's RES length matters: AK comes from the same Keccak run as RES, so with the
    # default 64-bit RES the SQN the card recovers is wrong and it rejects the MAC.
    code, out, _ = run(capsys, "auth", "--reader", card, "--ki", TUAK_K, "--top", TUAK_TOP)
    assert code == 1 and out.startswith("FAIL MAC_FAILURE")


def test_auth_with_a_128_bit_mac_takes_a_24_byte_autn(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (EXAMPLES / "ps-tuak.yaml").read_text().replace("mac_len: 64", "mac_len: 128")
    card_file = tmp_path / "tuak-mac128.yaml"
    card_file.write_text(text)
    alg = Tuak(bytes.fromhex(TUAK_K), top=bytes.fromhex(TUAK_TOP), res_len=32, mac_len=128)
    vector = alg.vector(RAND, join_sqn(1, 0), bytes.fromhex("8000"))
    assert len(vector.autn) == 24
    code, out, err = run(
        capsys, "auth", "--reader", f"sim:{card_file}", "--rand", RAND.hex(),
        "--autn", vector.autn.hex(), "--json",
    )
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["outcome"], doc["res"], doc["ck"]) == ("success", vector.res.hex(), vector.ck.hex())
    code, out, _ = run(
        capsys, "auth", "--reader", f"sim:{card_file}", "--ki", TUAK_K, "--top", TUAK_TOP,
        "--res-len", "32", "--mac-len", "128", "--json",
    )
    assert code == 0 and json.loads(out)["verdict"] == "PASS"


# --- bad input: exit 2, one line, nothing sent, no secret echoed -----------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--rand", "00" * 15, "--autn", "00" * 16),
            "simattest auth: --rand: expected 16 bytes (32 hex digits), got 15",
        ),
        (
            ("--rand", "0" * 31, "--autn", "00" * 16),
            "simattest auth: --rand: odd number of hex digits (31)",
        ),
        (
            ("--rand", "zz" * 16, "--autn", "00" * 16),
            "simattest auth: --rand: not hex (character 1 is not 0-9 or a-f)",
        ),
        (
            ("--rand", "00" * 16, "--autn", "00" * 17),
            "simattest auth: --autn: expected 16 or 24 or 40 bytes (32 or 48 or 80 hex digits), "
            "got 17",
        ),
        (("--rand", "00" * 16), "simattest: --autn is needed for the 3g context"),
        (
            (),
            "simattest: give --rand (and --autn), or --ki with --opc/--op/--topc/--top for a "
            "self-check",
        ),
        (
            ("--ki", KI),
            "simattest: the self-check needs --opc or --op (Milenage) or --topc or --top (TUAK) "
            "with --ki",
        ),
        (
            ("--ki", KI, "--opc", OPC, "--rand", "00" * 16),
            "simattest: the self-check makes its own RAND/AUTN: drop --rand/--autn",
        ),
        (
            ("--opc", OPC),
            "simattest: --opc, --op, --topc, --top, --sqn and the TUAK options belong to the "
            "self-check: give --ki too",
        ),
        (
            ("--rand", "00" * 16, "--autn", "00" * 16, "--res-len", "32"),
            "simattest: --opc, --op, --topc, --top, --sqn and the TUAK options belong to the "
            "self-check: give --ki too",
        ),
        (
            ("--ki", KI, "--opc", OPC, "--mac-len", "128"),
            "simattest: --mac-len is a TUAK option; Milenage (--opc/--op) has none",
        ),
        (
            ("--ki", KI * 2, "--opc", OPC),
            "simattest: --ki: Milenage takes a 16-byte K, got 32 bytes",
        ),
        (
            ("--ki", KI, "--topc", OPC),
            "simattest auth: --topc: expected 32 bytes (64 hex digits), got 16",
        ),
        (
            ("--ki", KI, "--opc", OPC, "--top", OPC * 2),
            "simattest auth: argument --top: not allowed with argument --opc",
        ),
        (("--ki", KI, "--opc", "1" * 31), "simattest auth: --opc: odd number of hex digits (31)"),
        (
            ("--ki", KI, "--opc", OPC, "--sqn", "00" * 5),
            "simattest auth: --sqn: expected 6 bytes (12 hex digits), got 5",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, "auth", "--reader", PS, *args)
    assert code == 2
    assert out == ""
    assert err == message + "\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("rread",), "simattest: argument COMMAND: invalid choice: 'rread' (choose from "),
        (("read", "--reader", PS, "--bogus"), "simattest: unrecognized arguments: --bogus"),
    ],
)
def test_top_level_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_key_value_is_never_echoed_in_errors(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "465b5ce8b199b49faa5f0a2ee238a6bX"
    code, _, err = run(capsys, "auth", "--reader", PS, "--ki", secret, "--opc", OPC)
    assert code == 2
    assert secret not in err and "465b5ce8" not in err


def test_unknown_reader_and_missing_card_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "read", "--reader", "usb:0")
    assert code == 2 and "unknown scheme 'usb'" in err
    code, _, err = run(capsys, "read", "--reader", "sim:/nonexistent/card.yaml")
    assert code == 2 and "/nonexistent/card.yaml" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["read", "--reader", PS + "?remove_at=4"],
        ["auth", "--reader", PS, "--rand", "0" * 31, "--autn", "00" * 16],
        ["auth", "--reader", PS + "?remove_at=3", "--ki", KI, "--opc", OPC],
    ],
)
def test_console_script_errors_have_no_traceback(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli.main", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode in (2, 3)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("simattest")


def test_ctrl_c_while_the_card_answers_is_one_line_and_exit_130() -> None:
    # -vv logs each APDU as it goes out: once the first one is logged the command is
    # waiting for the card (0.5 s per APDU), and Ctrl-C lands there.
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "-vv", "read", "--reader",
         PS + "?latency=0.5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if " > 00B2" in line:  # READ RECORD of EF.DIR, the first APDU
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    # 130, or death by SIGINT (CPython re-raises it at exit when a C extension's import
    # saw the interrupt); a shell reports both as 130.
    assert proc.returncode in (130, -signal.SIGINT)
    assert out == "" and "Traceback" not in err
    assert err.splitlines()[-1] == "simattest: interrupted"


@pytest.mark.parametrize("fmt", [["--json"], []])
def test_a_closed_standard_output_is_no_traceback_and_not_success(fmt: list[str]) -> None:
    # The reading end is closed before the command starts, so every write to standard
    # output fails (`simattest read --json | head -1` once head has exited).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "server.cli.main", "read", "--reader",
                               PS, *fmt], cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write_end)
    assert proc.returncode == 128 + signal.SIGPIPE
    assert proc.stderr == ""


def test_a_card_file_that_is_not_text_is_said_in_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "binary.bin"
    card.write_bytes(b"iccid: \xff\n")
    code, _, err = run(capsys, "read", "--reader", f"sim:{card}")
    assert (code, err) == (2, f"simattest: {card}: not UTF-8 text (byte 7)\n")
