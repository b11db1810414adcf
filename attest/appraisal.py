"""Appraisal policy: (challenge facts, evidence, registry facts) → verdict per submodule.

Three submodules are appraised (the attesters of draft-ietf-rats-ear clause 3, "submods"):

- ``me``: the handset — is its IMEI registered, did its device key sign the evidence,
  is the evidence bound to this challenge (nonce, attestation id, IMEI)?
- ``usim``: the card — is it a pooled card, is it genuine (the AKA RES equals XRES
  computed from the provisioned K/OPc, TS 33.102 clause 6.3.3), does it look like the
  public-safety profile it was provisioned as?
- ``pairing``: is the card in the handset the one paired with that handset?

Each submodule gets an AR4SI trustworthiness vector (draft-ietf-rats-ar4si clause 2.3)
and a status; the overall status is the worst one (clause 2.3.1: the tier of an
appraisal is no better than its worst claim).  Mapping of findings to AR4SI claims:

==========  ======================  =================================================
submod      claim                   values used
==========  ======================  =================================================
me          instance-identity       2 registered + signature valid; 96 not recognised
                                    (ME_UNKNOWN, ME_SIGNATURE_INVALID)
me          sourced-data            2 bound to this challenge; 96 NONCE_MISMATCH,
                                    IMEI_MISMATCH, CHALLENGE_EXPIRED, CHALLENGE_REUSED
me          hardware                2 device key in TEE/StrongBox (Android key
                                    attestation); 0 software key accepted by policy;
                                    32/96 ME_SOFTWARE_KEY, ME_ATTESTATION_INVALID,
                                    ME_ATTESTATION_REVOKED (by policy)
me          executables             2 verified boot with the recorded boot key, from a
                                    fresh attestation; 3 the same from the registration
                                    record only; 32/96 ME_UNVERIFIED_BOOT,
                                    ME_BOOT_KEY_CHANGED; absent for a software key
me          configuration           2 bootloader locked, patches within the policy's
                                    age; 32/96 ME_BOOTLOADER_UNLOCKED, ME_PATCH_TOO_OLD;
                                    absent for a software key
usim        instance-identity       2 pooled card; 96 not in the pool (COMMERCIAL_SIM)
usim        hardware                2 genuine (RES = XRES); 0 no claim (another card's
                                    challenge, cannot be checked: status at most
                                    warning); 96 CLONED_SIM
usim        configuration           2 expected profile; 32 PROFILE_MISMATCH;
                                    96 commercial profile (COMMERCIAL_SIM)
pairing     instance-identity       2 the paired card; 96 no pairing / unknown card;
                                    97 a pooled card of another handset (SIM_SWAPPED)
==========  ======================  =================================================

The ``me`` hardware claims come from ``attest.devicepolicy``: the handset's registered
attestation and, when the evidence came with one, the checkout's fresh attestation; a
finding counts as its ``DevicePolicy`` says (contraindicated 96, warning 32, accepted:
not reported).  The attested IMEI (ID attestation), when present, must be the
evidence's: ``instance-identity`` 96 with IMEI_MISMATCH otherwise.  The verified-boot key
names the OS signer of a build, not the unit, so it is compared with the recorded one
(``executables``) and never taken as identity.  ``file-system`` gets no claim.

Freshness failures (expired or already used challenge) stop the appraisal: nothing in
a stale or replayed evidence can be trusted, so every submodule is contraindicated
with ``sourced-data`` 96.

Pure: no I/O.  The RES comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from typing import Literal

from attest import devicepolicy
from attest.devicepolicy import SOFTWARE_KEY, DevicePolicy, HandsetFacts
from attest.evidence import Evidence

Status = Literal["affirming", "warning", "contraindicated", "none"]
Freshness = Literal["fresh", "expired", "reused"]
CardKind = Literal["public-safety", "commercial", "unknown"]

SUBMODS = ("me", "usim", "pairing")

# Reason codes, in the order they are reported.
CHALLENGE_EXPIRED = "CHALLENGE_EXPIRED"
CHALLENGE_REUSED = "CHALLENGE_REUSED"
NONCE_MISMATCH = "NONCE_MISMATCH"
IMEI_MISMATCH = "IMEI_MISMATCH"
ME_UNKNOWN = "ME_UNKNOWN"
ME_SIGNATURE_INVALID = "ME_SIGNATURE_INVALID"
COMMERCIAL_SIM = "COMMERCIAL_SIM"
CLONED_SIM = "CLONED_SIM"
SIM_SWAPPED = "SIM_SWAPPED"
HANDSET_NOT_PAIRED = "HANDSET_NOT_PAIRED"
PROFILE_MISMATCH = "PROFILE_MISMATCH"
REASONS = (
    CHALLENGE_EXPIRED, CHALLENGE_REUSED, NONCE_MISMATCH, IMEI_MISMATCH, ME_UNKNOWN,
    ME_SIGNATURE_INVALID, *devicepolicy.FINDINGS, COMMERCIAL_SIM, CLONED_SIM, SIM_SWAPPED,
    HANDSET_NOT_PAIRED, PROFILE_MISMATCH,
)

# AR4SI values (draft-ietf-rats-ar4si clause 2.3.4 ff.)
NO_CLAIM = 0
AFFIRMING = 2  # e.g. instance-identity "recognized and not compromised", hardware "genuine"
WARNING = 32  # e.g. configuration "unsafe configuration"
CONTRAINDICATED = 96  # e.g. instance-identity "not recognized", hardware "contraindicated"
COMPROMISED = 97  # instance-identity "recognized but compromised"

_RANK: dict[Status, int] = {"none": 0, "affirming": 1, "warning": 2, "contraindicated": 3}


def tier(value: int) -> Status:
    """The trustworthiness tier of one AR4SI claim value (ar4si clause 2.3.1)."""
    magnitude = abs(value)
    if magnitude <= 1:
        return "none"
    if magnitude <= 31:
        return "affirming"
    if magnitude <= 95:
        return "warning"
    return "contraindicated"


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=_RANK.__getitem__, default="none")


@dataclass(frozen=True, slots=True)
class PooledCard:
    """A card as the registry knows it."""

    iccid: str
    imsi: str
    paired_imei: str | None


@dataclass(frozen=True, slots=True)
class ChallengeFacts:
    """The server's side of one challenge.

    ``xres`` is None when the handset had no paired card (the challenge was a decoy).
    """

    attestation_id: str
    nonce: str
    imei: str
    xres: bytes | None = field(repr=False)
    freshness: Freshness = "fresh"


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    """What the registry and the server's checks say about the evidence.

    ``evidence_card`` is the pooled card with the evidence's ICCID (None: not pooled);
    ``card_kind``/``profile_ok`` come from ``attest.profiles.classify`` on the evidence;
    ``auts_valid`` is the MAC-S check of a sync failure (None when not applicable).
    """

    handset_known: bool
    signature_valid: bool
    paired_card: PooledCard | None
    evidence_card: PooledCard | None
    card_kind: CardKind
    profile_ok: bool
    auts_valid: bool | None = None
    handset: HandsetFacts = SOFTWARE_KEY


@dataclass(frozen=True, slots=True)
class Submod:
    """One submodule's appraisal: AR4SI vector, reasons and status.

    The status is the worst tier in the vector, or worse when ``floor`` says so: a
    claim we could not make (value 0) must not let a submodule look affirming.
    """

    vector: dict[str, int]
    reasons: tuple[str, ...]
    floor: Status = "none"

    @property
    def status(self) -> Status:
        return worst([*(tier(v) for v in self.vector.values()), self.floor])


@dataclass(frozen=True, slots=True)
class Verdict:
    """The whole appraisal."""

    submods: dict[str, Submod]

    @property
    def status(self) -> Status:
        return worst([s.status for s in self.submods.values()])

    @property
    def reasons(self) -> list[str]:
        found = {r for s in self.submods.values() for r in s.reasons}
        return [r for r in REASONS if r in found]


def stale(freshness: Freshness) -> Verdict:
    """The verdict for evidence against an expired or already used challenge."""
    reason = CHALLENGE_EXPIRED if freshness == "expired" else CHALLENGE_REUSED
    sub = Submod({"sourced-data": CONTRAINDICATED}, (reason,))
    return Verdict({name: sub for name in SUBMODS})


DEFAULT_POLICY = DevicePolicy()


def appraise(challenge: ChallengeFacts, evidence: Evidence, facts: RegistryFacts,
             policy: DevicePolicy = DEFAULT_POLICY, today: dt.date | None = None) -> Verdict:
    """Apply the checkout policy (module docstring) to one evidence; ``today`` (the
    service's date, needed when the handset has attested facts) dates the patch levels."""
    if challenge.freshness != "fresh":
        return stale(challenge.freshness)
    return Verdict(
        {
            "me": _me(challenge, evidence, facts, policy, today),
            "usim": _usim(challenge, evidence, facts),
            "pairing": _pairing(evidence, facts),
        }
    )


def _me(challenge: ChallengeFacts, evidence: Evidence, facts: RegistryFacts,
        policy: DevicePolicy, today: dt.date | None) -> Submod:
    reasons: list[str] = []
    identity = AFFIRMING
    if not facts.handset_known:
        reasons.append(ME_UNKNOWN)
        identity = CONTRAINDICATED
    elif not facts.signature_valid:
        reasons.append(ME_SIGNATURE_INVALID)
        identity = CONTRAINDICATED
    sourced = AFFIRMING
    bound = hmac.compare_digest(evidence.nonce.encode(), challenge.nonce.encode())
    if not bound or evidence.attestation_id != challenge.attestation_id:
        reasons.append(NONCE_MISMATCH)
        sourced = CONTRAINDICATED
    if evidence.imei != challenge.imei:
        reasons.append(IMEI_MISMATCH)
        sourced = CONTRAINDICATED
    vector = {"instance-identity": identity, "sourced-data": sourced}
    if facts.handset_known:
        hardware = _me_hardware(facts.handset, policy, today)
        if hardware.attested_imeis and evidence.imei not in hardware.attested_imeis:
            reasons.append(IMEI_MISMATCH)
            vector["instance-identity"] = CONTRAINDICATED
        vector.update(hardware.vector)
        reasons.extend(hardware.reasons)
    return Submod(vector, tuple(dict.fromkeys(reasons)))


_SEVERITY_VALUE = {"contraindicated": CONTRAINDICATED, "warning": WARNING}
# Which AR4SI claim each finding is about.
_CLAIM_OF = {
    devicepolicy.ME_ATTESTATION_INVALID: "hardware",
    devicepolicy.ME_ATTESTATION_REVOKED: "hardware",
    devicepolicy.ME_SOFTWARE_KEY: "hardware",
    devicepolicy.ME_UNVERIFIED_BOOT: "executables",
    devicepolicy.ME_BOOT_KEY_CHANGED: "executables",
    devicepolicy.ME_BOOTLOADER_UNLOCKED: "configuration",
    devicepolicy.ME_PATCH_TOO_OLD: "configuration",
}
_APPROVED_AT_REGISTRATION = 3  # ar4si executables: "approved boot-time", runtime unchecked


@dataclass(frozen=True, slots=True)
class _Hardware:
    vector: dict[str, int]
    reasons: list[str]
    attested_imeis: tuple[str, ...]


def _me_hardware(handset: HandsetFacts, policy: DevicePolicy,
                 today: dt.date | None) -> _Hardware:
    """The ``me`` claims from the handset's attested facts (module docstring)."""
    current = handset.current
    findings: list[str] = []
    vector = {"hardware": AFFIRMING}
    if handset.fresh_problem is not None:
        findings.append(handset.fresh_problem)
    if handset.revoked_since_registration:
        findings.append(devicepolicy.ME_ATTESTATION_REVOKED)
    if current is None:
        findings.append(devicepolicy.ME_SOFTWARE_KEY)
        imeis: tuple[str, ...] = ()
    else:
        if today is None:
            raise ValueError("appraise: today is needed for a handset with attested facts")
        recorded_key = None if handset.registered is None \
            else handset.registered.verified_boot_key
        findings.extend(devicepolicy.boot_findings(current, recorded_key, policy, today))
        if handset.key_kind == "software":
            findings.append(devicepolicy.ME_SOFTWARE_KEY)
        vector["executables"] = AFFIRMING if handset.fresh is not None \
            else _APPROVED_AT_REGISTRATION
        vector["configuration"] = AFFIRMING
        imeis = tuple(i for i in (current.imei, current.second_imei) if i)
    reasons = []
    for code in dict.fromkeys(findings):
        severity = policy.severity[code]
        claim = _CLAIM_OF[code]
        if severity == "accepted":
            if code == devicepolicy.ME_SOFTWARE_KEY and vector[claim] == AFFIRMING:
                vector[claim] = NO_CLAIM  # nothing proves where the key lives: no claim
            continue
        reasons.append(code)
        vector[claim] = max(vector[claim], _SEVERITY_VALUE[severity])
    return _Hardware(vector, reasons, imeis)


def _card_genuine(challenge: ChallengeFacts, evidence: Evidence, facts: RegistryFacts) -> bool:
    outcome = evidence.outcome
    if outcome.kind == "success":
        return (
            challenge.xres is not None
            and outcome.res is not None
            and hmac.compare_digest(outcome.res, challenge.xres)
        )
    if outcome.kind == "sync_failure":
        # a valid MAC-S proves the card holds K as well as a RES does
        return bool(facts.auts_valid)
    return False


def _usim(challenge: ChallengeFacts, evidence: Evidence, facts: RegistryFacts) -> Submod:
    card = facts.evidence_card
    if card is None:
        configuration = CONTRAINDICATED if facts.card_kind == "commercial" else WARNING
        return Submod(
            {"instance-identity": CONTRAINDICATED, "hardware": NO_CLAIM,
             "configuration": configuration},
            (COMMERCIAL_SIM,),
        )
    reasons: list[str] = []
    hardware = NO_CLAIM
    identity = AFFIRMING
    if card.imsi != evidence.imsi:
        # the ICCID of a pooled card with another IMSI: copied identities
        reasons.append(CLONED_SIM)
        hardware = CONTRAINDICATED
    elif facts.paired_card is not None and facts.paired_card.iccid == card.iccid:
        # the challenge was computed with this card's keys: RES decides
        if _card_genuine(challenge, evidence, facts):
            hardware = AFFIRMING
        else:
            reasons.append(CLONED_SIM)
            hardware = CONTRAINDICATED
    configuration = AFFIRMING
    if facts.card_kind == "commercial":
        reasons.append(COMMERCIAL_SIM)
        configuration = CONTRAINDICATED
    elif not facts.profile_ok or facts.card_kind != "public-safety":
        reasons.append(PROFILE_MISMATCH)
        configuration = WARNING
    vector = {"instance-identity": identity, "hardware": hardware, "configuration": configuration}
    # a pooled card we could not challenge is not proven genuine: never affirming
    return Submod(vector, tuple(reasons), "warning" if hardware == NO_CLAIM else "none")


def _pairing(evidence: Evidence, facts: RegistryFacts) -> Submod:
    paired = facts.paired_card
    if paired is None:
        reasons = () if not facts.handset_known else (HANDSET_NOT_PAIRED,)
        return Submod({"instance-identity": CONTRAINDICATED}, reasons)
    if paired.iccid == evidence.iccid:
        return Submod({"instance-identity": AFFIRMING}, ())
    if facts.evidence_card is not None:
        return Submod({"instance-identity": COMPROMISED}, (SIM_SWAPPED,))
    # not a pooled card at all: the usim submodule already says COMMERCIAL_SIM
    return Submod({"instance-identity": CONTRAINDICATED}, ())
