"""The example vendor batch file (``card_profiles/examples/vendor-batch.out``) imports with
the transport key ``docs/vendor-files.md`` publishes, through the installed ``simattest``
command against a running service, and its keys are the example cards' keys: ``pool
verify`` against those simulated cards passes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from server.core import operators
from server.core.service import Service
from tests.processes import serve_process

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "card_profiles" / "examples"
BATCH = EXAMPLES / "vendor-batch.out"
CARDS = ["ps-001", "ps-002", "ps-003", "ps-pcscf"]  # and ps-pin
SIMATTEST = str(Path(sys.executable).parent / "simattest")


def documented_transport_key() -> str:
    """The transport key as docs/vendor-files.md gives it to the reader."""
    text = (ROOT / "docs" / "vendor-files.md").read_text()
    match = re.search(r"--transport-key ([0-9A-Fa-f]{32})", text)
    assert match, "docs/vendor-files.md gives no --transport-key for the example"
    return match.group(1)


def run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIMATTEST, *argv], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_example_batch_imports_and_its_keys_are_the_example_cards(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Service.open(data) as svc:
        token = operators.create_token(svc, "provisioner", "example import")
    with serve_process(data, tmp_path / "serve.log") as url:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
               "SIMATTEST_SERVER": url, "SIMATTEST_TOKEN": token}
        imported = run("pool", "import", str(BATCH), "--transport-key",
                       documented_transport_key(), env=env)
        assert imported.returncode == 0, imported.stderr
        assert "imported 5 of 5 cards from vendor-batch.out (vendor-out)" in imported.stdout
        # the file carries a KCV: no "transport key could not be checked" warning
        assert imported.stderr == ""

        wrong = run("pool", "import", str(BATCH), "--transport-key", "00" * 16, env=env)
        assert wrong.returncode == 2
        assert "key check value" in wrong.stderr

        # pool verify cannot enter a PIN: ps-pin's card with its PIN turned off
        unlocked = tmp_path / "ps-pin.yaml"
        unlocked.write_text((EXAMPLES / "ps-pin.yaml").read_text().replace(
            "pin1_enabled: true", "pin1_enabled: false"))
        cards = [EXAMPLES / f"{name}.yaml" for name in CARDS] + [unlocked]
        verified = run("pool", "verify", "--json", "--data", str(data), "--readers",
                       *[f"sim:{card}" for card in cards], env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    outcomes = json.loads(verified.stdout)
    assert sorted(o["iccid"] for o in outcomes) == sorted(
        line.split()[0] for line in BATCH.read_text().splitlines()[-5:])
    assert {o["state"] for o in outcomes} == {"verified"}
