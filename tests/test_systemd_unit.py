"""``deploy/systemd``: the service unit passes ``systemd-analyze verify`` without a
warning, its hardening scores "OK" or better in ``systemd-analyze security``, and the
sysusers file creates the unprivileged service user.  (No running systemd is needed:
the unit is checked from a copy whose ExecStart names the simattest of this test run,
since verify requires the program to exist.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "systemd" / "simattest.service"
SYSUSERS = ROOT / "deploy" / "systemd" / "simattest.sysusers.conf"
INSTALLED = "/opt/simattest/.venv/bin/simattest"
EXEC_START = f"ExecStart={INSTALLED} serve --config /etc/simattest/simattest.toml"


def analyze(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *argv], capture_output=True, text=True,
                          timeout=60, check=False)


def unit_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit, its program the simattest of this test run."""
    text = UNIT.read_text() if text is None else text
    assert EXEC_START in text.splitlines()
    copy = tmp_path / "simattest.service"
    copy.write_text(text.replace(INSTALLED, str(Path(sys.executable).parent / "simattest")))
    return copy


def test_unit_verifies_without_warnings(tmp_path: Path) -> None:
    verified = analyze("verify", str(unit_copy(tmp_path)))
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


def test_verify_would_catch_a_mistyped_setting(tmp_path: Path) -> None:
    # verify exits 0 on an unknown key and only warns: the test above relies on the warning
    mistyped = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict")
    verified = analyze("verify", str(unit_copy(tmp_path, mistyped)))
    assert "Unknown key 'ProtectSystm'" in verified.stderr


def test_unit_settings_and_exposure(tmp_path: Path) -> None:
    lines = UNIT.read_text().splitlines()
    for setting in ("User=simattest", "StateDirectory=simattest", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "Restart=on-failure", "CapabilityBoundingSet=",
                    "UMask=0077", "PrivateTmp=yes", "ProtectHome=yes",
                    "SystemCallFilter=@system-service"):
        assert setting in lines, setting
    # --threshold is the exposure level times ten: 2.0 and below is systemd's "OK"
    scored = analyze("security", "--offline=true", "--threshold=20",
                     str(unit_copy(tmp_path)))
    assert scored.returncode == 0, scored.stdout[-2000:]


def test_sysusers_creates_a_service_user_without_login(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    created = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)],
                             capture_output=True, text=True, timeout=60, check=False)
    assert created.returncode == 0, created.stderr
    (entry,) = [line for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
                if line.startswith("simattest:")]
    _name, _pw, uid, gid, _gecos, home, shell = entry.split(":")
    assert 0 < int(uid) < 1000 and int(gid) > 0  # a system user, not root
    assert (home, shell) == ("/var/lib/simattest", "/usr/sbin/nologin")


PRUNE = ROOT / "deploy" / "systemd" / "simattest-idms-prune.service"
TIMER = ROOT / "deploy" / "systemd" / "simattest-idms-prune.timer"


def test_prune_timer_and_its_service_verify_and_are_hardened(tmp_path: Path) -> None:
    """The daily ``simattest idms prune`` runs as the service's user with the service's
    hardening; the timer starts it daily and catches up a missed run."""
    text = PRUNE.read_text()
    prune_start = ("ExecStart=/opt/simattest/.venv/bin/simattest idms prune --config "
                   "/etc/simattest/simattest.toml")
    assert prune_start in text.splitlines()
    service = tmp_path / PRUNE.name
    service.write_text(text.replace(INSTALLED, str(Path(sys.executable).parent / "simattest")))
    timer = tmp_path / TIMER.name
    timer.write_text(TIMER.read_text())
    verified = analyze("verify", str(timer), str(service))
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    lines = text.splitlines()
    assert {"User=simattest", "Type=oneshot", "ProtectSystem=strict",
            "NoNewPrivileges=yes"} <= set(lines)
    assert {"OnCalendar=daily", "Persistent=true"} <= set(TIMER.read_text().splitlines())
    scored = analyze("security", "--offline=true", "--threshold=20", str(service))
    assert scored.returncode == 0, scored.stdout[-2000:]
