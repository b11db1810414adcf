"""The pool: handsets, cards and pairings (``registry``), vendor batch import
(``provisioning``, ``vendorfile``), KEK rotation (``keyrotation``), card self-checks
(``verify``), card keys (``cardkeys``) and the card profiles the service knows
(``profiles``).

May import: core, store, hw, attest.
"""
