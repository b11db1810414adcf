"""The simulated UICC (USIM + ISIM) and the pty modem that speaks AT to it, plus the
vpcd bridge and a private pcscd stack: the embedded default and the test bench.

May import: the rest of hw and attest.
"""
