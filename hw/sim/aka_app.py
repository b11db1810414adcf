"""The AKA side of the simulated USIM/ISIM: what AUTHENTICATE computes once it is allowed.

3GPP TS 31.102 clause 7.1.2 (USIM: GSM, 3G and GBA bootstrapping contexts) and TS 31.103
clause 7.1.2 (ISIM: IMS AKA), with the card-side SQN check of TS 33.102 Annex C. One SQN
array serves both applications: they share K, so a challenge accepted by one must not be
replayable on the other.
"""

from __future__ import annotations

from attest.aka import gsm
from attest.aka.sqn import SqnArray, build_auts, open_autn
from hw.cardfile import CardFile
from hw.sw import SW

_GSM_ACCESS = 27  # UST service 27: GSM access (TS 31.102 clause 4.2.8)
_GBA = 68  # UST service 68: GBA


class AkaResponder:
    """Answers the data field of AUTHENTICATE for one card (K, OPc/TOPc, SQN array)."""

    def __init__(self, cardfile: CardFile) -> None:
        self._alg = cardfile.algorithm()
        self._sqn = SqnArray(sqn_ms=cardfile.sqn_ms)
        services = cardfile.profile.usim.services
        tuak = cardfile.tuak
        # c2/c3 are defined for RES up to 128 bits and 128-bit CK/IK (TS 33.102 6.8.1.2).
        convertible = tuak is None or (tuak.res_len <= 128 and tuak.ck_len == tuak.ik_len == 128)
        self.gsm_access = _GSM_ACCESS in services and convertible
        self.gba = _GBA in services

    @property
    def sqn_ms(self) -> bytes:
        return self._sqn.sqn_ms

    def gsm_context(self, data: bytes) -> tuple[bytes, int]:
        """GSM context: ``10 RAND`` → ``04 SRES 08 Kc`` via c2/c3 (TS 31.102 7.1.2.1)."""
        if len(data) != 17:
            return b"", SW.WRONG_LENGTH
        if data[0] != 0x10:
            return b"", SW.WRONG_DATA
        res, ck, ik, _ = self._alg.f2345(data[1:17])
        return b"\x04" + gsm.c2(res) + b"\x08" + gsm.c3(ck, ik), SW.OK

    def umts_context(self, data: bytes, *, with_kc: bool, gba: bool = False) -> tuple[bytes, int]:
        """3G / IMS AKA (``10 RAND L AUTN``) or GBA bootstrapping (``DD 10 RAND L AUTN``).

        Success: ``DB L RES L CK L IK [08 Kc]`` (GBA: ``DB L RES``, the card keeps Ks);
        stale SQN: ``DC L AUTS``; wrong MAC-A: SW 9862 and nothing is recorded.
        """
        if gba:
            if not data or data[0] != 0xDD:
                return b"", SW.WRONG_DATA
            data = data[1:]
        # AUTN = SQN^AK (6) | AMF (2) | MAC-A (8, or TUAK's 16/32 bytes).
        autn_len = 8 + self._alg.mac_size
        if len(data) != 18 + autn_len:
            return b"", SW.WRONG_LENGTH
        if data[0] != 0x10 or data[17] != autn_len:
            return b"", SW.WRONG_DATA
        rand, autn = data[1:17], data[18:]
        sqn, mac_ok = open_autn(self._alg, rand, autn)
        if not mac_ok:
            return b"", SW.AUTH_MAC_FAILURE
        if not self._sqn.accept(sqn):
            return b"\xdc" + _lv(build_auts(self._alg, rand, self._sqn.sqn_ms)), SW.OK
        res, ck, ik, _ = self._alg.f2345(rand)
        if gba:
            return b"\xdb" + _lv(res), SW.OK
        answer = b"\xdb" + _lv(res) + _lv(ck) + _lv(ik)
        if with_kc and self.gsm_access:
            answer += _lv(gsm.c3(ck, ik))  # Kc when GSM access (service 27) is available
        return answer, SW.OK


def _lv(value: bytes) -> bytes:
    """One length byte, then the value (the AUTHENTICATE answers' inner format)."""
    return bytes((len(value),)) + value
