"""Answers to reset of the simulated UICC (ISO/IEC 7816-3 clause 8, ETSI TS 102 221 clause 6.3).

Both announce TA1 = 96 (Fi 512, Di 32) and T=15 global bytes with TA = C7 (clock stop
allowed, supply voltage classes A, B, C), like a real UICC; one offers T=0 only, the
other T=1 (IFSC 254, BWI 4, CWI 5), and a third both (T=0 first, so the default, then
T=1), as many commercial UICCs do. Because T=15 is indicated, both end with TCK, the
XOR of every byte from T0 on (clause 8.2.5).
"""

from __future__ import annotations

# Compact-TLV historical bytes (ISO/IEC 7816-4 clause 8.1.1): category 80, card service
# data 31 E0 (selection by full/partial DF name, EF.DIR present), card capabilities
# 73 FE 21 1F (selection methods, data coding; third software function table 1F: no
# chaining, no extended lengths, logical channel numbers assigned by the card (b5) and by
# the terminal (b4), 8 or more channels (b3-b1 = 111): the card takes MANAGE CHANNEL with
# P2 00 or a number, and channels 1-19 (ETSI TS 102 221 clause 11.1.17 allows up to 19),
# pre-issuing data 63 53 49 4D ("SIM"), status 83 00 90 00.
_HISTORICAL = bytes.fromhex("80 31E0 73FE211F 6353494D 83009000")


def _with_tck(atr: bytes) -> bytes:
    tck = 0
    for byte in atr[1:]:
        tck ^= byte
    return atr + bytes((tck,))


def _atr(interface: bytes) -> bytes:
    t0 = 0x90 | len(_HISTORICAL)  # TA1 and TD1 follow; K historical bytes
    return _with_tck(bytes((0x3B, t0)) + interface + _HISTORICAL)


# T=0: TA1 96, TD1 80 (TD2 follows, T=0), TD2 1F (TA3 follows, T=15), TA3 C7.
ATR_T0 = _atr(bytes.fromhex("96801FC7"))
# T=1: TA1 96, TD1 81 (TD2, T=1), TD2 B1 (TA3 TB3 TD3, T=1), TA3 FE, TB3 45,
# TD3 1F (TA4, T=15), TA4 C7.
ATR_T1 = _atr(bytes.fromhex("9681B1FE451FC7"))
# T=0 and T=1: TA1 96, TD1 80 (TD2, T=0), TD2 B1 (TA3 TB3 TD3, T=1), TA3 FE, TB3 45,
# TD3 1F (TA4, T=15), TA4 C7.
ATR_T0_T1 = _atr(bytes.fromhex("9680B1FE451FC7"))
