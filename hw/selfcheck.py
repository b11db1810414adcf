"""Check a card against its provisioning keys: does it answer AKA as K/OPc say it must?

The network side of TS 33.102 clause 6.3 runs here: a fresh RAND (from ``secrets``), an
AUTN built with the given algorithm and SQN, AUTHENTICATE on the card, and RES/CK/IK
compared in constant time. A synchronisation failure is answered once, as an HSS would
(clause 6.3.5, Annex C.3): SQN_MS is recovered from AUTS (MAC-S checked), and a fresh
challenge with SEQ one above the card's is tried exactly once more.

The result is a value (PASS, or FAIL with a machine-readable reason) so the attestation
service can reuse it for ``pool verify``; nothing here knows about the CLI.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from attest.aka.base import AkaAlgorithm
from attest.aka.gsm import c3
from attest.aka.sqn import AutsInvalid, join_sqn, next_sqn, resync, split_sqn
from hw.transport.base import Transport
from hw.uicc.authenticate import (
    AuthContextNotSupported,
    AuthMacFailure,
    AuthOutcome,
    AuthPinNeeded,
    AuthSuccess,
    AuthSyncFailure,
    authenticate,
)
from hw.uicc.ts_102_221 import FileNotFoundOnCard, Uicc

# AMF with the separation bit set, as an EPS HSS sends it (TS 33.401 clause 6.1.1);
# the USIM accepts any AMF, and this is what a real network would put there.
DEFAULT_AMF = bytes.fromhex("8000")
# The first SQN when none is known: SEQ 1 in IND slot 0 (TS 33.102 Annex C.1.1).
DEFAULT_SQN = join_sqn(1, 0)


class Reason(StrEnum):
    """Why a self-check failed; the values are the reason codes the service reports."""

    MAC_FAILURE = "MAC_FAILURE"  # the card rejected AUTN: it does not hold these keys
    RES_MISMATCH = "RES_MISMATCH"
    CK_MISMATCH = "CK_MISMATCH"
    IK_MISMATCH = "IK_MISMATCH"
    KC_MISMATCH = "KC_MISMATCH"  # Kc present but not c3(CK, IK)
    AUTS_INVALID = "AUTS_INVALID"  # MAC-S of the AUTS does not verify with these keys
    SYNC_FAILED_TWICE = "SYNC_FAILED_TWICE"
    PIN_NEEDED = "PIN_NEEDED"
    CONTEXT_NOT_SUPPORTED = "CONTEXT_NOT_SUPPORTED"
    APP_NOT_FOUND = "APP_NOT_FOUND"


@dataclass(frozen=True)
class SelfCheckResult:
    """PASS (``reason`` None) or FAIL with a reason.

    ``sqn`` is the SQN of the last challenge sent (the caller's next SEQ must exceed it);
    ``sqn_ms`` is the card's SQN_MS when an AUTS revealed it.
    """

    reason: Reason | None
    sqn: bytes
    sqn_ms: bytes | None = None
    attempts: int = 1

    @property
    def passed(self) -> bool:
        return self.reason is None

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


def self_check(
    transport: Transport,
    algorithm: AkaAlgorithm,
    sqn: bytes | None = None,
    app: str = "usim",
    *,
    amf: bytes = DEFAULT_AMF,
    pin: str | None = None,
    force: bool = False,
    random: Callable[[int], bytes] = secrets.token_bytes,
) -> SelfCheckResult:
    """Run AKA with ``algorithm``'s keys against the card's ``app`` ("usim" or "isim").

    ``sqn`` defaults to :data:`DEFAULT_SQN`; its IND is kept when a resync moves SEQ on.
    ``pin`` is verified once the application is selected, retry counter first (the last
    attempt only with ``force``). ``random`` supplies RAND (``secrets.token_bytes``).
    Transport failures and malformed answers raise; every card verdict is a result.
    """
    first_sqn = DEFAULT_SQN if sqn is None else sqn
    _, ind = split_sqn(first_sqn)
    uicc = Uicc(transport)
    try:
        aid = uicc.find_application(app)
    except FileNotFoundOnCard:
        return SelfCheckResult(Reason.APP_NOT_FOUND, first_sqn, attempts=0)
    with uicc.application(aid) as channel:
        if pin is not None:
            uicc.verify_pin(pin, channel=channel, force=force)

        def run(sqn_now: bytes) -> tuple[bytes, Judged]:
            rand = random(16)
            vector = algorithm.vector(rand, sqn_now, amf)
            outcome = authenticate(channel, rand, vector.autn)
            return rand, _judge(outcome, vector.res, vector.ck, vector.ik)

        rand, outcome = run(first_sqn)
        if not isinstance(outcome, AuthSyncFailure):
            return _result(outcome, first_sqn, None, 1)
        try:
            sqn_ms = resync(algorithm, rand, outcome.auts)
        except AutsInvalid:
            return SelfCheckResult(Reason.AUTS_INVALID, first_sqn, attempts=1)
        seq_ms, _ = split_sqn(sqn_ms)
        second_sqn = next_sqn(seq_ms, ind)
        _, outcome = run(second_sqn)
        if isinstance(outcome, AuthSyncFailure):
            return SelfCheckResult(Reason.SYNC_FAILED_TWICE, second_sqn, sqn_ms, attempts=2)
        return _result(outcome, second_sqn, sqn_ms, 2)


class _Passed:
    """Marker outcome: the card's answer matched the expected vector."""


_PASSED = _Passed()
Judged = AuthOutcome | Reason | _Passed


def _judge(outcome: AuthOutcome, res: bytes, ck: bytes, ik: bytes) -> Judged:
    """Compare a success against the expected vector in constant time."""
    if not isinstance(outcome, AuthSuccess):
        return outcome
    if not hmac.compare_digest(outcome.res, res):
        return Reason.RES_MISMATCH
    if not hmac.compare_digest(outcome.ck, ck):
        return Reason.CK_MISMATCH
    if not hmac.compare_digest(outcome.ik, ik):
        return Reason.IK_MISMATCH
    # c3 is defined for 128-bit CK/IK only (TS 33.102 clause 6.8.1.2); TUAK's 256-bit keys
    # come without a GSM Kc to check.
    gsm_keys = outcome.kc is not None and len(ck) == len(ik) == 16
    if gsm_keys and not hmac.compare_digest(outcome.kc or b"", c3(ck, ik)):
        return Reason.KC_MISMATCH
    return _PASSED


_OUTCOME_REASONS: dict[type, Reason] = {
    AuthMacFailure: Reason.MAC_FAILURE,
    AuthPinNeeded: Reason.PIN_NEEDED,
    AuthContextNotSupported: Reason.CONTEXT_NOT_SUPPORTED,
}


def _result(judged: Judged, sqn: bytes, sqn_ms: bytes | None, attempts: int) -> SelfCheckResult:
    if isinstance(judged, _Passed):
        return SelfCheckResult(None, sqn, sqn_ms, attempts)
    if isinstance(judged, Reason):
        return SelfCheckResult(judged, sqn, sqn_ms, attempts)
    return SelfCheckResult(_OUTCOME_REASONS[type(judged)], sqn, sqn_ms, attempts)
