"""Talking to cards: APDUs and status words, transports (PC/SC, modem AT, simulated),
the UICC file model (TS 102 221, TS 31.102/31.103), identities, AUTHENTICATE, self-check,
discovery of readers and modems, and the simulated card and modem.

May import: attest (the simulated card runs the AKA algorithms) and card/serial libraries
(pyscard, pyserial, pyudev, pyosmocom).  Never server (import-linter).
"""
