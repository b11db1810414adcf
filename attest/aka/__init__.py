"""AKA algorithms, pure functions over bytes (3GPP TS 33.102 clause 6.3).

``base`` (the AkaAlgorithm interface and AkaVector), ``milenage`` (TS 35.206), ``tuak``
(TS 35.231) on ``keccak`` (Keccak-f[1600]), ``gsm`` (c2/c3), ``sqn`` (SEQ‖IND, AUTN, AUTS,
the Annex C.2 array).

May import: attest.errors and the cryptography library (AES for Milenage); no I/O.
"""
