"""Android key attestation: chains verified per second on one core, KeyDescription decoded.

One verification = ``load_chain`` (PEM parse) + ``verify_chain``: every signature up to
the root's public key, validity at an instant, the status list lookup of every serial,
the leaf's KeyDescription decoded (``attest.android``).  Measured in one process, one
thread, as CPU time (``time.process_time``), the best of ``--repeat`` batches, for:

- a 4-certificate chain of the TEST-ONLY authority (EC P-256 throughout);
- real 4-certificate factory chains (Pixel 3 and Sony Xperia 10 III: EC leaf and
  intermediates under Google's RSA-4096 root) and a 5-certificate RKP chain (Pixel 9 Pro);
- the KeyDescription decoding alone.

    .venv/bin/python bench/bench_android_attestation.py [--repeat 5] [--batch 300]

It prints the block for ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import machine  # bench/machine.py, beside this script
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from attest.android.chain import (
    KEY_DESCRIPTION_OID,
    key_description_of,
    load_chain,
    verify_chain,
)
from attest.android.keydescription import decode_key_description
from attest.android.roots import google_roots
from attest.android.status import StatusList
from attest.android.testauthority import (
    AttestedProperties,
    TestAttestationAuthority,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "android_attestation"


def _best(run: Callable[[], object], batch: int, repeat: int) -> float:
    """The best per-call CPU seconds over ``repeat`` batches of ``batch`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(batch):
            run()
        best = min(best, (time.process_time() - start) / batch)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="batches; the best is kept")
    parser.add_argument("--batch", type=int, default=300, help="verifications per batch")
    args = parser.parse_args()

    # A status list the size of Google's (about 1,700 entries in 2026).
    status = StatusList.from_json(json.dumps({"entries": {
        format(0x1000_0000 + i, "x"): {"status": "REVOKED", "reason": "KEY_COMPROMISE"}
        for i in range(1700)}}).encode())
    now = dt.datetime.now(dt.UTC)
    authority = TestAttestationAuthority.create(now)
    test_pem = authority.issue_pem(ec.generate_private_key(ec.SECP256R1()).public_key(),
                                   AttestedProperties(challenge=b"\x00" * 32,
                                                      imeis=("490154203237518",)))
    cases = [
        ("TEST-ONLY authority, 4 certificates, EC P-256", test_pem,
         authority.trust_store().extended(google_roots()), now),
        ("Pixel 3 (factory), 4 certificates, RSA-4096 root",
         (DATA / "blueline_sdk28_TEE_EC_NONE.pem").read_bytes(), google_roots(),
         dt.datetime(2022, 6, 23, tzinfo=dt.UTC)),
        ("Sony Xperia 10 III (factory), 4 certificates, RSA-4096 root",
         (DATA / "sony-xperia10-iii_sdk33_TEE_EC.pem").read_bytes(), google_roots(),
         dt.datetime(2021, 5, 25, tzinfo=dt.UTC)),
        ("Pixel 9 Pro (RKP), 5 certificates, RSA-4096 root",
         (DATA / "caiman_sdk36_TEE_EC_RKP.pem").read_bytes(), google_roots(),
         dt.datetime(2025, 9, 29, tzinfo=dt.UTC)),
    ]
    print(f"- date: {now:%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine.describe()}")
    print(f"- command: `.venv/bin/python bench/bench_android_attestation.py "
          f"--repeat {args.repeat} --batch {args.batch}`")
    print()
    print("| case | chains/s | certificates/s | per chain |")
    print("| --- | --- | --- | --- |")
    for label, pem, roots, at in cases:
        length = len(load_chain(pem))
        seconds = _best(lambda pem=pem, roots=roots, at=at: verify_chain(
            load_chain(pem), roots, status, at), args.batch, args.repeat)
        print(f"| {label} | {1 / seconds:,.0f} | {length / seconds:,.0f} | "
              f"{seconds * 1e6:,.0f} µs |")
    leaf = load_chain((DATA / "caiman_sdk36_TEE_EC_RKP.pem").read_bytes())[0]
    extension = leaf.extensions.get_extension_for_oid(KEY_DESCRIPTION_OID).value
    assert isinstance(extension, x509.UnrecognizedExtension)
    assert key_description_of(leaf) is not None
    seconds = _best(lambda: decode_key_description(extension.value), args.batch * 4, args.repeat)
    print(f"| KeyDescription decoding alone (Pixel 9 Pro leaf) | {1 / seconds:,.0f} | — | "
          f"{seconds * 1e6:,.0f} µs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
