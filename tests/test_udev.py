"""udev/60-simattest.rules: syntax of every line, agreement with KNOWN_MODEMS, install."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from attest.errors import TransportError
from hw.discovery import KNOWN_MODEMS, RULES_FILE, InstallPlan, install_plan, install_rules
from server.cli.main import main

# udev(7): KEY[{attr}] OP "value"; match keys take == / !=, assignment keys = += -= :=.
_TOKEN = re.compile(
    r'\s*(?P<key>[A-Z_]+)(\{(?P<attr>[^}]*)\})?(?P<op>==|!=|\+=|-=|:=|=)"(?P<value>[^"]*)"\s*(,|$)'
)
MATCH_KEYS = {
    "ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "ENV", "ATTR", "ATTRS", "DRIVERS", "TAG"
}
ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "SYMLINK", "GOTO", "LABEL", "IMPORT", "TAG", "RUN", "OWNER"}
ATTR_REQUIRED = {"ENV", "ATTR", "ATTRS", "IMPORT"}


def parse_rules(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    """Every rule as (key, attr, operator, value) tuples; fails on any malformed line."""
    rules = []
    logical = ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.endswith("\\"):
            logical += line[:-1]
            continue
        line, logical = logical + line, ""
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pos, tokens = 0, []
        while pos < len(line):
            m = _TOKEN.match(line, pos)
            assert m, f"line {number}: cannot parse from column {pos + 1}: {line[pos:]!r}"
            key, attr, op, value = m["key"], m["attr"], m["op"], m["value"]
            if op in ("==", "!="):
                assert key in MATCH_KEYS, f"line {number}: {key} is not a match key"
            else:
                assert key in ASSIGN_KEYS, f"line {number}: {key} cannot be assigned"
            assert (attr is not None) == (key in ATTR_REQUIRED), f"line {number}: {key}{{}} use"
            tokens.append((key, attr, op, value))
            pos = m.end()
        rules.append(tokens)
    return rules


RULES = parse_rules(RULES_FILE.read_text())


def test_rules_file_sorts_before_modemmanager_and_after_serial() -> None:
    # ModemManager reads ID_MM_* from its 80-* rules; 60-serial.rules sets ID_USB_INTERFACE_NUM.
    assert RULES_FILE.name < "80" and RULES_FILE.name > "60-serial.rules"


def test_parser_rejects_what_udev_rejects() -> None:
    for bad in ('SUBSYSTEM="tty"x', 'GROUP=="pcscd"', "ENV=\"x\"", 'KERNEL=="tty', "SYMLINK+=at"):
        with pytest.raises(AssertionError):
            parse_rules(bad)


def test_every_goto_has_its_label_and_nothing_after_it() -> None:
    gotos = {v for rule in RULES for k, _, op, v in rule if k == "GOTO"}
    labels = [v for rule in RULES for k, _, _, v in rule if k == "LABEL"]
    assert gotos == {"simattest_end"} and labels == ["simattest_end"]
    assert RULES[-1] == [("LABEL", None, "=", "simattest_end")]


def test_ccid_readers_go_to_group_pcscd() -> None:
    ccid = [r for r in RULES if ("GROUP", None, "=", "pcscd") in r]
    assert len(ccid) == 1
    assert ("ENV", "ID_USB_INTERFACES", "==", "*:0b????:*") in ccid[0]
    assert ("ENV", "DEVTYPE", "==", "usb_device") in ccid[0]


def _match(rule: list[tuple[str, str | None, str, str]], key: str, attr: str) -> set[str]:
    values = [v for k, a, op, v in rule if k == key and a == attr and op == "=="]
    return set(values[0].split("|")) if values else set()


def test_every_known_modem_is_hidden_from_modemmanager() -> None:
    ignore = [r for r in RULES if ("ENV", "ID_MM_DEVICE_IGNORE", "=", "1") in r]
    covered = {
        (vid, pid)
        for r in ignore
        for vid in _match(r, "ATTRS", "idVendor")
        for pid in _match(r, "ATTRS", "idProduct")
    }
    assert covered == {(m.vendor_id, m.product_id) for m in KNOWN_MODEMS}


def test_links_agree_with_the_discovery_table() -> None:
    links = {}
    for rule in RULES:
        symlinks = [v for k, _, op, v in rule if k == "SYMLINK" and op == "+="]
        if not symlinks:
            continue
        (iface,) = _match(rule, "ENV", "ID_USB_INTERFACE_NUM")
        for vid in _match(rule, "ENV", "ID_VENDOR_ID"):
            for pid in _match(rule, "ENV", "ID_MODEL_ID"):
                links[(vid, pid)] = (iface, symlinks[0])
    assert links == {
        (m.vendor_id, m.product_id): (
            m.at_interface,
            f"simattest/{m.vendor}-$env{{ID_SERIAL_SHORT}}-at",
        )
        for m in KNOWN_MODEMS
    }


def test_table_matches_the_models_in_the_issue() -> None:
    # Written out from ModemManager's port-type rules (DESIGN.md, Facts), not from the code.
    assert {(m.vendor_id, m.product_id, m.at_interface) for m in KNOWN_MODEMS} == {
        ("2c7c", "0125", "02"), ("2c7c", "0296", "02"), ("2c7c", "0800", "02"),
        ("2c7c", "0801", "02"), ("1199", "9079", "03"), ("1199", "9091", "03"),
        ("1bc7", "1031", "01"), ("1bc7", "1060", "04"), ("1e0e", "9001", "02"),
    }


def test_install_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udev", "install", "--dry-run", "--target", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert f"would copy {RULES_FILE} -> {tmp_path / '60-simattest.rules'}" in out
    assert "would run: udevadm control --reload" in out
    assert "would run: udevadm trigger" in out


def test_install_copies_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "60-simattest.rules").write_text("stale")
    assert main(["udev", "install", "--target", str(tmp_path), "--no-reload", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["commands"] == [] and report["dry_run"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["60-simattest.rules"]
    assert (tmp_path / "60-simattest.rules").read_bytes() == RULES_FILE.read_bytes()
    assert (tmp_path / "60-simattest.rules").stat().st_mode & 0o777 == 0o644


def test_install_into_a_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["udev", "install", "--target", str(tmp_path / "nope"), "--no-reload"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simattest: udev rules directory") and "nope" in err
    # A dry run finds the same problem instead of promising a copy that would fail.
    assert main(["udev", "install", "--dry-run", "--target", str(tmp_path / "nope")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"simattest: udev rules directory {tmp_path / 'nope'} does not exist\n"


def test_install_reports_a_failing_udevadm(tmp_path: Path) -> None:
    # The real udevadm with a verb it rejects: the rules are in place, the error names
    # the command and says why.
    plan = install_plan(tmp_path)
    plan = InstallPlan(plan.source, plan.destination, (("udevadm", "no-such-verb"),))
    with pytest.raises(TransportError, match=r"^udevadm no-such-verb failed \(exit 1\): .*verb"):
        install_rules(plan)
    assert (tmp_path / "60-simattest.rules").read_bytes() == RULES_FILE.read_bytes()
