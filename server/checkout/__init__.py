"""The desk's checkout: hand a handset to a user from an affirming, recent attestation,
and take it back (``desk``).  The feature on top of the stack: identity management and
IMS, when they come, go above it.

May import: attestation, pool, core, store, attest.
"""
