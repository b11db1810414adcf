"""``make demo`` once, as a newcomer runs it: five verdicts, and no key material in any log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_verdicts_and_no_keys_in_logs(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="200", TERM="dumb")
    run = subprocess.run(
        [sys.executable, "-m", "server.demo", "--once", "--workdir", str(tmp_path)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    rows = {line.split("│")[1].strip(): line for line in output.splitlines()
            if line.startswith("│") and line.count("│") >= 7}
    expected = {
        "genuine pair": ("affirming", "—"),
        "commercial SIM swapped in": ("contraindicated", "COMMERCIAL_SIM"),
        "card from another pooled handset": ("contraindicated", "SIM_SWAPPED"),
        "clone: right ICCID/IMSI, wrong K": ("contraindicated", "CLONED_SIM"),
        "replayed evidence": ("contraindicated", "CHALLENGE_REUSED"),
    }
    for case, (status, reasons) in expected.items():
        cells = [c.strip() for c in rows[case].split("│")]
        assert (cells[4], cells[5]) == (status, reasons), rows[case]
    assert '"eat_profile": "tag:ietf.org,2026:rats/ear#04"' in output
    # counted by whichever gunicorn worker answered, summed by /metrics
    assert "/metrics (all workers): attestations affirming 2, contraindicated 4" in output

    # Every K and OPc the demo imported, in every spelling, absent from every log.
    batch = (tmp_path / "pool-batch.out").read_text()
    secrets = [m for line in batch.splitlines() if re.match(r"^\d{19,20} ", line)
               for m in line.split()[4:6]]
    assert len(secrets) == 8
    logs = output + "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    assert "/v1/attestations" in logs  # the server's log is part of what is scanned
    for secret in secrets:
        for spelling in (secret.upper(), secret.lower()):
            assert spelling not in logs
