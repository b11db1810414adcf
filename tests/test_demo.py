"""``make demo`` once, as a newcomer runs it in an 80-column terminal: eight verdicts, one
line each, the MC user's sign-in and IMS registration, and no key material in any log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_verdicts_fit_80_columns_and_no_keys_in_logs(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="80", TERM="dumb")
    run = subprocess.run(
        [sys.executable, "-m", "server.demo", "--once", "--workdir", str(tmp_path)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 80, [ln for ln in lines if len(ln) > 80]
    # one line per case: unit, case, expected, got, ✓
    cases = {line[8:32].strip(): line.split()[-3:] for line in lines
             if line.startswith("unit ") and line.endswith(("✓", "✗"))}
    assert cases == {
        "its own card (genuine)": ["affirming", "affirming", "✓"],
        "a commercial SIM in it": ["COMMERCIAL_SIM", "COMMERCIAL_SIM", "✓"],
        "unit 2's card": ["SIM_SWAPPED", "SIM_SWAPPED", "✓"],
        "a clone, its IDs, new K": ["CLONED_SIM", "CLONED_SIM", "✓"],
        "its evidence, replayed": ["CHALLENGE_REUSED", "CHALLENGE_REUSED", "✓"],
        "its own card, via modem": ["affirming", "affirming", "✓"],
        # simulated attested Android handsets, a fresh key attestation at checkout
        "unlocked bootloader": ["ME_BOOTLOADER_UNLOCKED", "ME_BOOTLOADER_UNLOCKED", "✓"],
        "patch level 2024-01": ["ME_PATCH_TOO_OLD", "ME_PATCH_TOO_OLD", "✓"],
    }
    # the EAR in a few lines, checked as a relying party does; the token only with --verbose
    text = " ".join(output.split())
    assert "signature verified with the service's /.well-known/jwks.json" in text
    assert "me affirming, usim affirming, pairing affirming" in text
    assert "eyJ" not in output
    # what reaches the network, said before it starts
    assert "vpcd, listens on TCP on all interfaces" in text
    assert "the service listens on 127.0.0.1 only" in text
    # counted by whichever gunicorn worker answered, summed by /metrics
    assert "/metrics (all workers): attestations affirming 2, contraindicated 5, " \
        "warning 1" in output

    # The MC user signs in on the checked-out unit 1 at the IdMS (TLS, its device
    # certificate), gets MCPTT-specific identities the MCPTT server's look-up resolves; on
    # unit 2 she is refused, and the return ends it.
    assert "✓ alice signed in on unit 1 (PKCE S256, its device certificate)" in output
    assert re.search(r"IMPU2  sip:[a-z2-7]{26}@mcptt\.example\.org", output)
    assert "look-up: IMPU2 → sip:alice@mcptt.example.org (active)" in output
    assert "✓ alice on unit 2 (not checked out to her): refused, access_denied" in output
    assert "✓ unit 1 returned: refresh refused, look-up says inactive" in output

    # Then unit 1 registers IMPU2 through Kamailio's S-CSCF with the IdMS's identities and
    # its card's ISIM; the S-CSCF's 200 OK gives the implicit set (IMPU2 and the aliases
    # the sign-in printed); the return's RTR ends the registration there.
    impu2 = re.search(r"IMPU2  (sip:\S+)", output)
    aliases = re.findall(r"^  alias  (sip:\S+)$", output, re.M)
    assert impu2 is not None and len(aliases) == 2
    assert "✓ unit 1 registered to IMS as IMPU2 (ISIM, vectors from our Cx peer)" in output
    assert re.search(r"^  200 OK +from the S-CSCF 127\.0\.0\.1:\d+, expires \d+ s$",
                     output, re.M)
    assert re.findall(r"^  P-Associated-URI  (\S+)$", output, re.M) == \
        [impu2.group(1), *aliases]
    assert re.search(r"^  Service-Route +<sip:\S+@scscf\.mcptt\.example\.org:\d+;lr>$",
                     output, re.M)
    assert re.search(r"^  \+sip\.instance +urn:uuid:[0-9a-f-]{36}$", output, re.M)
    assert output.index("registered to IMS") < output.index("unit 1 returned") \
        < output.index("✓ RTR (Cx 304) to the S-CSCF: IMPU2 deregistered there")

    # Every K and OPc the demo imported, in every spelling, absent from every log.
    batch = (tmp_path / "pool-batch.out").read_text()
    secrets = [m for line in batch.splitlines() if re.match(r"^\d{19,20} ", line)
               for m in line.split()[4:6]]
    assert len(secrets) == 12
    logs = output + "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    assert "/v1/attestations" in logs  # the server's log is part of what is scanned
    for secret in secrets:
        for spelling in (secret.upper(), secret.lower()):
            assert spelling not in logs
