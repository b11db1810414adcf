"""Building the ``simattest`` parser loads no command's heavy machinery.

Every invocation (``--help`` and a typo included) builds the whole parser, so a module-level
import in one command module is paid by all of them.  Run in a fresh interpreter: this test
process has long since imported everything.
"""

from __future__ import annotations

import subprocess
import sys

# The device agent pulls in the card stack and the HTTP client; only `checkout` needs it.
DEFERRED = ("server.agent.checkout",)


def test_building_the_parser_does_not_import_the_agent() -> None:
    code = (
        "import sys\n"
        "from server.cli.main import build_parser\n"
        "build_parser()\n"
        f"print(','.join(m for m in {DEFERRED!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""
