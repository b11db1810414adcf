"""``simattest aka milenage|tuak``: JSON against the published sets, tables, bad hex → exit 2."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from attest.aka.milenage import Milenage
from attest.aka.sqn import build_auts
from server.cli.hexarg import hex_bytes
from server.cli.main import main
from tests.aka_vectors import EXTRA_DIR, all_sets, keyed_params, load_vectors, tuak_lengths

MILENAGE = all_sets("milenage")
TUAK = all_sets("tuak")
SIMATTEST = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "simattest"
VECTOR_KEYS = ("mac_a", "mac_s", "res", "ck", "ik", "ak", "ak_star")


def _autn(s: dict[str, Any]) -> str:
    """AUTN = (SQN xor AK) || AMF || MAC-A from the published values."""
    concealed = int(s["sqn"], 16) ^ int(s["ak"], 16)
    return f"{concealed:012x}{s['amf']}{s['mac_a']}"


def _milenage_args(s: dict[str, Any], key: str = "op") -> list[str]:
    return ["aka", "milenage", "--k", s["k"], f"--{key}", s[key], "--rand", s["rand"],
            "--sqn", s["sqn"], "--amf", s["amf"]]


def _tuak_args(s: dict[str, Any], key: str = "top") -> list[str]:
    return ["aka", "tuak", "--k", s["k"], f"--{key}", s[key], "--rand", s["rand"],
            "--sqn", s["sqn"], "--amf", s["amf"],
            *[arg for option, value in tuak_lengths(s).items()
              for arg in (f"--{option.replace('_', '-')}", str(value))]]


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    data = json.loads(out.out)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(("s", "key"), keyed_params(MILENAGE, "milenage"))
def test_milenage_json(s: dict[str, Any], key: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = _run_json(_milenage_args(s, key), capsys)
    assert list(data) == ["opc", *VECTOR_KEYS, "autn", "sres", "kc"]
    if "opc" in s:
        assert data["opc"] == s["opc"]
    assert {k: data[k] for k in VECTOR_KEYS} == {k: s[k] for k in VECTOR_KEYS}
    assert data["autn"] == _autn(s)
    if "sres" in s:
        assert (data["sres"], data["kc"]) == (s["sres"], s["kc"])


@pytest.mark.parametrize(("s", "key"), keyed_params(TUAK, "tuak"))
def test_tuak_json(s: dict[str, Any], key: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = _run_json(_tuak_args(s, key), capsys)
    assert list(data) == ["topc", *VECTOR_KEYS, "autn"]
    if "topc" in s:
        assert data["topc"] == s["topc"]
    assert {k: data[k] for k in VECTOR_KEYS} == {k: s[k] for k in VECTOR_KEYS}
    assert data["autn"] == _autn(s)


def test_tuak_defaults_are_64_bit_res_and_mac(capsys: pytest.CaptureFixture[str]) -> None:
    # A set with the default 64-bit MAC and one Keccak iteration (TS 35.233 set 5 at least).
    s = next(s for s in TUAK if tuak_lengths(s)["mac_len"] == 64
             and tuak_lengths(s)["keccak_iterations"] == 1)
    key = "topc" if "topc" in s else "top"
    argv = ["aka", "tuak", "--k", s["k"], f"--{key}", s[key], "--rand", s["rand"],
            "--sqn", s["sqn"], "--amf", s["amf"]]
    data = _run_json(argv, capsys)
    assert data["mac_a"] == s["mac_a"]
    assert len(data["res"]) == 16 and len(data["ck"]) == 32 and len(data["ik"]) == 32


def test_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    s = MILENAGE[0]
    assert main(_milenage_args(s, "opc" if "opc" in s else "op")) == 0
    out = capsys.readouterr().out
    rows = {
        cells[0]: cells[1]
        for line in out.splitlines()
        if len(cells := line.split("\t")) == 2  # not a terminal: tab-separated
    }
    assert rows["MAC-A"] == s["mac_a"] and rows["RES"] == s["res"]
    assert rows["AK*"] == s["ak_star"] and "SRES" in rows and "Kc" in rows
    assert rows["OPc"] == s.get("opc", rows["OPc"]) and rows["Kc"] == s.get("kc", rows["Kc"])


# Input checks need a set with OP, OPc and TOP: the published ones in tests/data.
M = load_vectors("milenage", EXTRA_DIR)[0]
T = load_vectors("tuak", EXTRA_DIR)[1]


def _replace(argv: list[str], option: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(option) + 1] = value
    return out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (_replace(_milenage_args(M), "--rand", M["rand"][:30]),
         "--rand: expected 16 bytes (32 hex digits), got 15"),
        (_replace(_milenage_args(M), "--rand", M["rand"][:31]),
         "--rand: odd number of hex digits (31)"),
        (_replace(_milenage_args(M), "--sqn", "ff9bb4d0b6zz"),
         "--sqn: not hex (character 11 is not 0-9 or a-f)"),
        (_replace(_milenage_args(M), "--sqn", M["sqn"] + "00"),
         "--sqn: expected 6 bytes (12 hex digits), got 7"),
        (_replace(_milenage_args(M), "--amf", "b9"),
         "--amf: expected 2 bytes (4 hex digits), got 1"),
        (_replace(_milenage_args(M), "--k", M["k"] * 2),
         "--k: expected 16 bytes (32 hex digits), got 32"),
        (_replace(_milenage_args(M), "--k", M["k"][:-1] + "g"),
         "--k: not hex (character 32 is not 0-9 or a-f)"),
        (_replace(_milenage_args(M), "--op", M["op"][:-2]),
         "--op: expected 16 bytes (32 hex digits), got 15"),
        (_replace(_milenage_args(M, "opc"), "--opc", ""),
         "--opc: expected 16 bytes (32 hex digits), got 0"),
        (_replace(_tuak_args(T), "--k", T["k"][:40]),
         "--k: expected 16 or 32 bytes (32 or 64 hex digits), got 20"),
        (_replace(_tuak_args(T), "--top", T["top"][:32]),
         "--top: expected 32 bytes (64 hex digits), got 16"),
        (_replace(_tuak_args(T), "--res-len", "48"), "argument --res-len: invalid choice: 48"),
        (_replace(_tuak_args(T), "--keccak-iterations", "0"),
         "--keccak-iterations: expected a whole number ≥ 1"),
        ([*_milenage_args(M), "--opc", M["opc"]], "argument --opc: not allowed with argument --op"),
        (_milenage_args(M)[:-2], "the following arguments are required: --amf"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err
    for secret in (M["k"], M["op"], M["opc"], T["k"], T["top"]):
        assert secret[:20] not in err  # K/OP/TOP never echoed, not even in part


def test_console_script_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SIMATTEST), *_milenage_args(M), "--json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["res"] == M["res"]

    bad = subprocess.run(
        [str(SIMATTEST), *_replace(_milenage_args(M), "--rand", "abc")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr == "simattest aka milenage: --rand: odd number of hex digits (3)\n"
    assert "Traceback" not in bad.stderr


def test_hex_bytes_as_a_library_helper() -> None:
    assert hex_bytes("--data", None)(" 00FFaa\n") == b"\x00\xff\xaa"
    assert hex_bytes("--data", None)("") == b""
    assert hex_bytes("--k", (16, 32))("ab" * 32) == b"\xab" * 32
    with pytest.raises(argparse.ArgumentTypeError, match="--k: expected 16 or 32 bytes"):
        hex_bytes("--k", (16, 32))("ab" * 24)
    # Spec documents print values in groups; the groups are joined.
    assert hex_bytes("--rand", 16)("23553cbe 9637a89d 218ae64d ae47bf35") == bytes.fromhex(
        "23553cbe9637a89d218ae64dae47bf35"
    )
    with pytest.raises(argparse.ArgumentTypeError, match="character 4 is not"):
        hex_bytes("--data", None)("00 :11")
    with pytest.raises(argparse.ArgumentTypeError, match="odd number of hex digits"):
        hex_bytes("--data", None)("00 1")


def _auts_for(sqn_ms: str) -> str:
    card = Milenage(bytes.fromhex(M["k"]), op=bytes.fromhex(M["op"]))
    return build_auts(card, bytes.fromhex(M["rand"]), bytes.fromhex(sqn_ms)).hex()


def test_auts_gives_the_cards_sqn_ms(capsys: pytest.CaptureFixture[str]) -> None:
    data = _run_json([*_milenage_args(M), "--auts", _auts_for("0000000012ff")], capsys)
    assert data["sqn_ms"] == "0000000012ff"
    assert data["res"] == M["res"]


def test_tampered_auts_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    auts = _auts_for("0000000012ff")
    tampered = auts[:-1] + ("0" if auts[-1] != "0" else "1")
    assert main([*_milenage_args(M), "--auts", tampered, "--json"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("simattest: AUTS rejected: MAC-S does not verify")
    assert out.err.count("\n") == 1


def test_auts_of_the_wrong_size_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_milenage_args(M), "--auts", _auts_for("0000000012ff")[:26], "--json"]) == 2
    assert capsys.readouterr().err == "simattest: AUTS: expected 14 bytes, got 13\n"
