"""The OpenAPI document is the contract: schemathesis, against the live service.

``simattest serve`` (gunicorn, two workers) on PostgreSQL on a real port; schemathesis
(pinned in the test extra) reads ``/openapi.json`` and runs every check it has, in all
four phases (examples, coverage, fuzzing, and the stateful phase that follows the
document's links: a challenge into its evidence, a handset into its pages, a checkout
into its return), with an admin token for the operator API; the device endpoints take
no token.  Any finding fails the test.  The formats the document names get their
strategies from ``tests/schemathesis_hooks.py``; ``tests/schemathesis.toml`` holds the
run's two settings, each with its reason.

``SIMATTEST_SCHEMATHESIS_SEED`` picks another seed (the suite's is fixed, so a failure
reproduces); ``SIMATTEST_SCHEMATHESIS_EXAMPLES`` more examples per operation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures_live import Live

ROOT = Path(__file__).resolve().parent.parent
SEED = os.environ.get("SIMATTEST_SCHEMATHESIS_SEED", "20261207")
EXAMPLES = os.environ.get("SIMATTEST_SCHEMATHESIS_EXAMPLES", "25")


def test_schemathesis_finds_nothing(live: Live, tmp_path: Path) -> None:
    # One schemathesis worker: hypothesis's lambda descriptions are not thread-safe.  In a
    # temporary directory: schemathesis keeps a cache in its working directory.
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file",
         str(ROOT / "tests" / "schemathesis.toml"), "run", f"{live.url}/openapi.json",
         "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
         "--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1",
         "--header", f"Authorization: Bearer {live.admin_token}", "--no-color",
         "--report-dir", str(tmp_path / "report")],
        cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
                           "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=600, check=False)
    # The token is filtered out of schemathesis's own output.
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    # Every operation schemathesis loaded from the document was exercised.
    loaded = re.search(r"Operations:\s+(\d+) selected / (\d+) total", result.stdout)
    assert loaded is not None, result.stdout[-3000:]
    selected, total = map(int, loaded.groups())
    assert selected == total >= 24 and f"Tested: {total}" in result.stdout, result.stdout[-3000:]
