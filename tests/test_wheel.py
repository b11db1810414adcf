"""The wheel as a user installs it: built from this checkout, installed into a fresh
virtualenv outside the repository with its dependencies from ``.wheelhouse/`` (offline;
``make test`` fills it), and run from there.

What must hold for such a user: the ``simattest`` command and its packages come from the
virtualenv, not from the checkout; the card profiles and udev rules are installed and
the example cards are not; ``--version``, ``read`` on a simulated example card and ``aka
milenage`` on a 3GPP test set work; extra profile directories (``--profiles``,
``SIMATTEST_PROFILES``) are read, and a bad one is one line on stderr with exit 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.aka_vectors import load_vectors, operator_key
from tests.test_profiles import MINIMAL

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / ".wheelhouse"
EXAMPLE = ROOT / "card_profiles" / "examples" / "ps-001.yaml"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# A card of the extra profile MINIMAL ("test-ps": PLMN 001-01, no ISIM); TS 35.208 set 1.
EXTRA_CARD = """\
profile: test-ps
iccid: "8900101000000000019"
imsi: "001010000000001"
ki: 465b5ce8b199b49faa5f0a2ee238a6bc
opc: cd63cb71954a9f4e48a5994e37a02baf
"""


def _pip(*args: str) -> None:
    """pip with none of this machine's pip configuration (extra indexes, find-links,
    constraints): what it installs comes from the arguments alone."""
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                           *args], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr


@dataclass(frozen=True)
class Installed:
    """A virtualenv with the wheel installed, and a working directory outside the
    repository to run its commands from."""

    wheel: Path
    venv: Path
    cwd: Path

    def run(self, *args: str, env: Mapping[str, str] = {}) -> subprocess.CompletedProcess[str]:
        """``simattest *args`` from the virtualenv, with no PYTHONPATH and no setting
        of ours inherited from the test's environment."""
        base = {k: v for k, v in os.environ.items()
                if k not in ("PYTHONPATH", "SIMATTEST_PROFILES", "VIRTUAL_ENV")}
        return subprocess.run([str(self.venv / "bin" / "simattest"), *args],
                              cwd=self.cwd, env={**base, **env}, capture_output=True,
                              text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if not (WHEELHOUSE / ".built").is_file():
        pytest.fail(f"{WHEELHOUSE} is not filled: run `make .wheelhouse/.built` (make test does)")
    tmp = tmp_path_factory.mktemp("wheel")
    assert not tmp.is_relative_to(ROOT)
    # setuptools writes build/ and *.egg-info beside the sources: build from a copy of
    # the files git knows (tracked, or new and not ignored), so the checkout stays clean.
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True).stdout
    source = tmp / "source"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(tmp / "dist"), str(source))
    (wheel,) = (tmp / "dist").glob("simattest-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    _pip("--python", str(venv / "bin" / "python"), "install", "-q", "--no-compile", "--no-index",
         "--find-links", str(WHEELHOUSE), str(wheel))
    cwd = tmp / "elsewhere"
    cwd.mkdir()
    return Installed(wheel, venv, cwd)


def test_wheel_holds_the_profiles_and_rules_and_not_the_example_cards(
    installed: Installed,
) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert {n for n in names if n.startswith("card_profiles/") and n.endswith(".yaml")} == {
        f"card_profiles/{p.name}" for p in (ROOT / "card_profiles").glob("*.yaml")}
    assert "udev/60-simattest.rules" in names
    assert "attest/android/data/google_roots.pem" in names
    assert not [n for n in names if "examples" in n]


def test_simattest_runs_from_the_virtualenv_not_the_checkout(installed: Installed) -> None:
    script = installed.venv / "bin" / "simattest"
    assert script.read_text().splitlines()[0] == f"#!{installed.venv / 'bin' / 'python'}"
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import attest, card_profiles, hw, server, udev\n"
         "for m in (attest, card_profiles, hw, server, udev): print(m.__file__)"],
        cwd=installed.cwd, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
        check=True).stdout.split()
    assert len(where) == 5
    for path in map(Path, where):
        assert path.is_relative_to(installed.venv) and not path.is_relative_to(ROOT), path


def test_version(installed: Installed) -> None:
    done = installed.run("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"simattest {VERSION}\n", "")


def test_read_an_example_card(installed: Installed) -> None:
    card = yaml.safe_load(EXAMPLE.read_text())
    done = installed.run("read", "--reader", f"sim:{EXAMPLE}")
    assert (done.returncode, done.stderr) == (0, "")
    for identity in (card["iccid"], card["imsi"], *card["isim"]["impu"]):
        assert identity in done.stdout


def test_aka_milenage_on_a_3gpp_test_set(installed: Installed) -> None:
    s = load_vectors("milenage")[0]
    key, value = operator_key(s, "milenage")
    done = installed.run("aka", "milenage", "--k", s["k"], f"--{key}", value,
                         "--rand", s["rand"], "--sqn", s["sqn"], "--amf", s["amf"])
    assert (done.returncode, done.stderr) == (0, "")
    for field in ("res", "ck", "ik", "mac_a", "mac_s", "ak", "ak_star"):
        assert s[field] in done.stdout, field


def test_google_attestation_roots_come_with_the_wheel(installed: Installed) -> None:
    chain = ROOT / "tests" / "data" / "android_attestation" / "caiman_sdk36_TEE_EC_RKP.pem"
    done = installed.run("device", "attestation", "show", str(chain), "--at", "2025-09-29")
    assert (done.returncode, done.stderr.split(" (key")[0]) == (
        0, "verified: 5 certificates to serialNumber=f92009e853b6b045")


@pytest.fixture
def extra(tmp_path: Path) -> Path:
    """A directory with the extra profile ``test-ps``, and a card of it beside it."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "test-ps.yaml").write_text(MINIMAL)
    (tmp_path / "card.yaml").write_text(EXTRA_CARD)
    return tmp_path


def test_extra_profiles_from_the_option_or_the_environment(
    installed: Installed, extra: Path,
) -> None:
    reader = ("read", "--reader", f"sim:{extra / 'card.yaml'}")
    unknown = installed.run(*reader)
    assert unknown.returncode == 2
    assert "key 'profile': unknown profile 'test-ps'" in unknown.stderr
    for done in (installed.run("--profiles", str(extra / "profiles"), *reader),
                 installed.run(*reader, env={"SIMATTEST_PROFILES": str(extra / "profiles")})):
        assert (done.returncode, done.stderr) == (0, "")
        assert "001010000000001" in done.stdout


def test_a_missing_profile_directory_is_one_line(installed: Installed, tmp_path: Path) -> None:
    done = installed.run("--profiles", str(tmp_path / "nowhere"), "read", "--reader",
                         f"sim:{EXAMPLE}")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"simattest: profile directory {tmp_path / 'nowhere'} does not exist\n"


def test_a_bad_extra_profile_is_one_line_naming_the_file(
    installed: Installed, extra: Path,
) -> None:
    bad = extra / "profiles" / "test-ps.yaml"
    bad.write_text(MINIMAL.replace("usim: {", "usim: ["))
    done = installed.run("read", "--reader", f"sim:{EXAMPLE}",
                         env={"SIMATTEST_PROFILES": str(extra / "profiles")})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"simattest: {bad}: not valid YAML at line 5")
    assert done.stderr.count("\n") == 1
