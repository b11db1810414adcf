"""Transports: one small interface (``base.Transport``: transmit, ATR, reset, close,
channels) and its reader URIs; PC/SC (pyscard), modem (AT+CSIM/CCHO/CGLA over pyserial),
simulated.  Each module registers its URI scheme on import.

May import: hw.apdu, hw.sw and attest.errors.
"""
