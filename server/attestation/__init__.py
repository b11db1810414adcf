"""Checkout attestation: issue the AKA challenge (``challenge``), take the signed
evidence, appraise it and sign an EAR (``evidence``), read attestations back (``views``);
per-process challenge copies (``copies``) and the device endpoints' limits (``ratelimit``).

May import: pool, core, store, attest.
"""
