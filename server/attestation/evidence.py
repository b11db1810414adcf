"""Taking a handset's evidence for its challenge: appraise, sign an EAR, record the verdict.

``submit_evidence`` checks the evidence and its signature's encoding before anything
else (malformed evidence is refused, naming the field, and the challenge stays
pending so the device can retry).  Evidence for a challenge issued to a registered
handset must carry that handset's device-key signature: without it the answer is 403
(``NotSignedByHandset``), counted per client address only, and the challenge stays
pending, so nobody else can consume a handset's challenge or spend its per-IMEI
allowance.  (A decoy's evidence has no key to be checked against: it is appraised
``ME_UNKNOWN``.)  Then the evidence is appraised along one of two paths:

- **from this process's copy** (``_appraise_copy``): the device kept its connection, so
  the evidence reached the worker process that issued the challenge, which kept the
  challenge as the database holds it and its XRES (``server.attestation.copies``) —
  no read, no second key decryption.  Only evidence naming the challenged card and
  carrying no AUTS takes this path (other cards and resynchronisations are rare).
- **from the database** (``_appraise_stored``): the store reads the challenge with
  the handset's key and the card the evidence names, and XRES = f2(K, RAND) is
  computed again from the card's keys (TS 33.102 clause 6.3.2).

Either way one conditional UPDATE (``state = 'pending'``) then records the verdict and
consumes the challenge, with its audit entry, atomically: of two concurrent
submissions exactly one finds the row pending — on PostgreSQL the second waits for the
first's row lock and, re-checking the condition on the committed row, finds it
consumed; on SQLite the write transactions are serialised (``BEGIN IMMEDIATE``).  The
loser is answered ``CHALLENGE_REUSED``.  A failure before that statement commits
leaves the challenge pending and nothing else.  When the copy turns out stale (the
UPDATE found the challenge consumed or expired: ``STALE_CHALLENGE``), the evidence is
appraised again from the database, which then answers why.

A synchronisation failure with a valid AUTS (and nothing else wrong) re-synchronises
the card's SEQ (``server.pool.registry.resync_sqn``, never backwards) and answers
``resync`` with a fresh challenge.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any, cast

from attest import appraisal, ear
from attest.aka.sqn import AutsInvalid, resync
from attest.devicepolicy import HandsetFacts
from attest.errors import FieldError
from attest.evidence import Evidence, canonical_json, parse_evidence
from attest.profiles import classify
from server.attestation import challenge, ratelimit
from server.attestation.challenge import Challenge
from server.attestation.copies import Issued, copies_of
from server.attestation.handset_keys import signature_bytes, verifier
from server.attestation.hardware import handset_facts, me_json
from server.core.errors import NotFound, NotSignedByHandset, ValidationError
from server.core.service import Service
from server.pool import registry
from server.pool.cardkeys import CardSecrets, card_algorithm
from server.pool.profiles import known_profiles
from server.store.attestations import Proof, StoredChallenge, Verdict
from server.store.audit_chain import Entry
from server.store.models import utcnow


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to an evidence: a verdict with its EAR, or a resync with a new challenge."""

    attestation_id: str
    status: str  # affirming | warning | contraindicated | resync
    reasons: list[str]
    ear: str | None = None
    challenge: Challenge | None = None

    def to_json(self) -> dict[str, Any]:
        if self.challenge is not None:
            return {"attestation_id": self.attestation_id, "status": self.status,
                    "challenge": self.challenge.to_json()}
        return {"attestation_id": self.attestation_id, "status": self.status,
                "reasons": self.reasons, "ear": self.ear}


@dataclass(frozen=True, slots=True)
class _StaleChallenge:
    """The verdict was not recorded: the challenge had been consumed by another
    submission, or had expired, by the time the conditional UPDATE ran.  Nothing was
    written but the rate counters."""


STALE_CHALLENGE = _StaleChallenge()


@dataclass(frozen=True, slots=True)
class _Submission:
    """One evidence submission, checked: the evidence, the exact bytes the device signed,
    its signature, the address it came from and the SHA-256 of its device certificate
    (if the service asks for one, ``server.pool.devicecerts``)."""

    evidence: Evidence
    signed: bytes
    signature: bytes
    client: str
    device_certificate: str | None


@dataclass(frozen=True, slots=True)
class _Appraised:
    verdict: appraisal.Verdict
    handset: HandsetFacts | None  # the ME's hardware facts judged (None: not registered)
    status: str  # verdict.status and .reasons, derived properties: computed once
    reasons: list[str]
    actor: str  # whom the audit entry names (``_actor``)
    sqn_ms: bytes | None  # the card's SQN_MS from a valid AUTS


def submit_evidence(
    svc: Service, attestation_id: str, evidence: Any, signature: str, client: str,
    limits: dict[str, int] | None = None, *, device_certificate: str | None = None,
) -> Outcome:
    """Appraise the evidence for one challenge (see the module docstring).

    ``evidence`` is the decoded JSON object exactly as the device signed it.  ``limits``
    as for ``server.attestation.challenge.create_challenge``, counted once whichever
    path the evidence takes.  ``device_certificate``: the SHA-256 (hex) of the device
    certificate the request came with, recorded with the verdict.
    """
    sub = _Submission(_parse(evidence), canonical_json(evidence),
                      signature_bytes(signature), client, device_certificate)
    now = utcnow()
    copies = copies_of(svc)
    issued = copies.take(attestation_id, now)
    if issued is not None and issued.challenge.iccid == sub.evidence.iccid \
            and sub.evidence.outcome.auts is None:
        if not _signed_by_handset(issued.challenge, sub):
            copies.add(issued, now)  # still the handset's to answer
            svc.store.count(ratelimit.per_client(limits))
            raise _not_signed(attestation_id)
        outcome = _appraise_copy(svc, issued, now, sub, limits)
        if isinstance(outcome, Outcome):
            return outcome
        limits = None  # counted by the copy's verdict statement
    return _appraise_stored(svc, attestation_id, now, sub, limits)


def _not_signed(attestation_id: str) -> NotSignedByHandset:
    return NotSignedByHandset(
        f"attestation {attestation_id}: the evidence is not signed by the device key "
        "registered for the challenged handset; the challenge stays pending",
        field="signature")


def _parse(evidence: Any) -> Evidence:
    try:
        return parse_evidence(evidence)
    except FieldError as exc:
        # As the body checks answer: the detail names the field, the reason does not.
        raise ValidationError(str(exc), field=exc.field,
                              errors=[{"field": exc.field, "reason": exc.reason}]) from None


def _appraise_copy(svc: Service, issued: Issued, now: dt.datetime, sub: _Submission,
                   limits: dict[str, int] | None) -> Outcome | _StaleChallenge:
    """Appraise against this process's copy of the challenge; ``limits`` are counted
    with the verdict (the per-IMEI ones for the challenged handset: its key signed).
    No resynchronisation comes this way (``submit_evidence``)."""
    appraised = _appraise(svc, issued.challenge, issued.xres, sub, True)
    return _record_verdict(svc, issued.challenge, now, sub, appraised,
                           ratelimit.for_imei(limits, issued.challenge.imei))


def _appraise_stored(svc: Service, attestation_id: str, now: dt.datetime, sub: _Submission,
                     limits: dict[str, int] | None) -> Outcome:
    """Appraise against the challenge as the database holds it (the per-client
    ``limits`` counted by the read; the per-IMEI ones once the handset's signature
    has been checked, with the verdict)."""
    att = svc.store.load(attestation_id, sub.evidence.iccid, now, ratelimit.per_client(limits))
    if att is None:
        raise NotFound(f"attestation {attestation_id} does not exist", field="attestation_id")
    signed = _signed_by_handset(att, sub)
    if att.public_key_pem is not None and not signed:
        raise _not_signed(attestation_id)
    if not att.pending:
        return _stale(svc, att, _actor(att, signed, sub.client))
    # XRES = f2(K, RAND) of the card the challenge was computed for (TS 33.102 clause
    # 6.3.2); a decoy has no card, so no RES is expected.
    xres = None if att.iccid is None \
        else card_algorithm(svc, cast(CardSecrets, att)).f2345(att.rand)[0]
    appraised = _appraise(svc, att, xres, sub, signed)
    per_imei = ratelimit.per_imei(ratelimit.for_imei(limits, att.imei)) if signed else None
    if appraised.sqn_ms is not None and att.iccid is not None \
            and appraised.status == "affirming":
        return _resync(svc, att, now, sub, appraised, per_imei)
    outcome = _record_verdict(svc, att, now, sub, appraised, per_imei)
    if isinstance(outcome, Outcome):
        return outcome
    return _stale(svc, replace(att, state="consumed"), appraised.actor)


def _appraise(svc: Service, att: StoredChallenge, xres: bytes | None,
              sub: _Submission, signed: bool) -> _Appraised:
    facts, sqn_ms = _facts(svc, att, sub, signed)
    now = utcnow()
    if att.public_key_pem is not None:
        facts = replace(facts, handset=handset_facts(svc, att.imei, sub.evidence, att.nonce,
                                                     now))
    verdict = appraisal.appraise(appraisal.ChallengeFacts(att.id, att.nonce, att.imei, xres),
                                 sub.evidence, facts, svc.config.device_policy, now.date())
    return _Appraised(verdict, None if att.public_key_pem is None else facts.handset,
                      verdict.status, verdict.reasons,
                      _actor(att, facts.signature_valid, sub.client), sqn_ms)


def _record_verdict(svc: Service, att: StoredChallenge, now: dt.datetime, sub: _Submission,
                    appraised: _Appraised, limits: dict[str, int] | None
                    ) -> Outcome | _StaleChallenge:
    """Sign the EAR; consume the challenge with the verdict and its audit entry."""
    evidence = sub.evidence
    status, reasons = appraised.status, appraised.reasons
    token = _sign(svc, appraised.verdict, att.nonce, appraised.handset)
    recorded = svc.store.record(
        att.id, now,
        Verdict(status, reasons, token, evidence.iccid, evidence.imsi, evidence.to_json(),
                device_certificate=sub.device_certificate),
        Entry(appraised.actor, "attestation", f"attestation:{att.id}",
              {"imei": att.imei, "iccid": evidence.iccid, "status": status,
               "reasons": reasons}), limits)
    return Outcome(att.id, status, reasons, token) if recorded else STALE_CHALLENGE


def _resync(svc: Service, att: StoredChallenge, now: dt.datetime, sub: _Submission,
            appraised: _Appraised, per_imei: dict[str, int] | None) -> Outcome:
    """Move the card's SEQ past SQN_MS and answer a fresh challenge (``per_imei``
    counted with the verdict)."""
    iccid, sqn_ms = cast(str, att.iccid), cast(bytes, appraised.sqn_ms)
    # Never moves SEQ backwards, so it is safe on its own even if this submission then
    # loses the challenge to a concurrent one.
    registry.resync_sqn(svc, iccid, sqn_ms)
    # This request was counted; the handset's signature on the evidence proves it.
    fresh, _found = challenge.issue(svc, att.imei, sub.client, None,
                                    Proof(cast(str, att.public_key_pem), None))
    evidence = sub.evidence
    recorded = svc.store.record(
        att.id, now,
        Verdict("resync", [], None, evidence.iccid, evidence.imsi, evidence.to_json(),
                resync_id=fresh.id, device_certificate=sub.device_certificate),
        Entry(appraised.actor, "attestation.resync", f"attestation:{att.id}",
              {"imei": att.imei, "iccid": iccid, "next": fresh.id}), per_imei)
    if recorded:
        return Outcome(att.id, "resync", [], challenge=fresh)
    return _stale(svc, replace(att, state="consumed"), appraised.actor)


def _stale_verdict(svc: Service, att: StoredChallenge, actor: str,
                   freshness: appraisal.Freshness) -> tuple[Outcome, Entry]:
    verdict = appraisal.stale(freshness)
    token = _sign(svc, verdict, att.nonce)
    entry = Entry(actor, f"attestation.{freshness}", f"attestation:{att.id}",
                  {"imei": att.imei, "status": verdict.status, "reasons": verdict.reasons})
    return Outcome(att.id, verdict.status, verdict.reasons, token), entry


def _stale(svc: Service, att: StoredChallenge, actor: str) -> Outcome:
    """Evidence for a challenge that is no longer pending and fresh: expired or used."""
    if att.state == "pending":
        # Expired while pending: that verdict is recorded on the row, once.
        outcome, entry = _stale_verdict(svc, att, actor, "expired")
        if svc.store.expire(att.id, utcnow(), outcome.status, outcome.reasons,
                            cast(str, outcome.ear), entry):
            return outcome
        # else another submission consumed or expired it meanwhile: a reuse
    outcome, entry = _stale_verdict(svc, att, actor, "reused")
    svc.store.audit(entry)
    return outcome


_KINDS: dict[str, appraisal.CardKind] = {"public-safety": "public-safety",
                                         "commercial": "commercial"}


def _facts(svc: Service, att: StoredChallenge, sub: _Submission, signed: bool
           ) -> tuple[appraisal.RegistryFacts, bytes | None]:
    """Registry facts for the appraisal, and SQN_MS of a valid AUTS."""
    evidence = sub.evidence
    # A card's IMSI is NOT NULL: it is known whenever the challenge had a card.
    paired = None if att.iccid is None \
        else appraisal.PooledCard(att.iccid, cast(str, att.imsi), att.imei)
    evidence_card = paired if paired is not None and paired.iccid == evidence.iccid \
        else att.evidence_card
    auts_valid, sqn_ms = None, None
    if evidence.outcome.auts is not None and paired is not None and paired == evidence_card:
        try:
            alg = card_algorithm(svc, cast(CardSecrets, att))
            sqn_ms = resync(alg, att.rand, evidence.outcome.auts)
            auts_valid = True
        except AutsInvalid:
            auts_valid = False
    kind = classify(evidence.card_facts(), known_profiles())
    registered_profile = att.profile if paired is not None and paired == evidence_card else None
    profile_ok = not kind.reasons and registered_profile in (None, kind.profile)
    facts = appraisal.RegistryFacts(
        handset_known=att.public_key_pem is not None,
        signature_valid=signed,
        paired_card=paired, evidence_card=evidence_card,
        card_kind=_KINDS.get(kind.kind, "unknown"), profile_ok=profile_ok, auts_valid=auts_valid,
    )
    return facts, sqn_ms


def _signed_by_handset(att: StoredChallenge, sub: _Submission) -> bool:
    return att.public_key_pem is not None \
        and verifier(att.public_key_pem).verify(sub.signed, sub.signature)


def _actor(att: StoredChallenge, signature_valid: bool, client: str) -> str:
    """Whom the audit log names for a device's submission: the handset when the evidence
    carries the signature of the key registered for the challenged handset, else only the
    address it came from — anyone may post evidence, and the IMEI it claims is no proof."""
    return f"handset:{att.imei}" if signature_valid else f"client:{client or 'unknown'}"


@functools.cache
def _verifier() -> ear.VerifierId:
    try:
        version = metadata.version("simattest")
    except metadata.PackageNotFoundError:
        version = "0"
    return ear.VerifierId(developer="https://simattest.dev", build=f"simattest {version}")


def _sign(svc: Service, verdict: appraisal.Verdict, nonce: str,
          handset: HandsetFacts | None = None) -> str:
    now = int(utcnow().timestamp())
    claims = ear.claims(verdict, nonce=nonce, verifier=_verifier(), iat=now,
                        ttl=int(svc.config.checkout_max_age),
                        device_policy=svc.config.device_policy.policy_id,
                        me_facts=None if handset is None else me_json(handset))
    return ear.sign(claims, svc.signer.private_key, svc.signer.kid)
