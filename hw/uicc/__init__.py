"""The UICC client: file model and selection (ETSI TS 102 221), USIM and ISIM files
(3GPP TS 31.102, TS 31.103), BER-TLV, AUTHENTICATE contexts and outcomes.

May import: hw.apdu, hw.sw, hw.transport and attest.
"""
