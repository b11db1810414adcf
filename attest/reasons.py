"""What each appraisal reason code and AR4SI trustworthiness value means, for people.

The one table the CLI (``simattest checkout``, ``simattest explain``), the desk (alerts,
attestation page) and the OpenAPI description all read.  Each reason says what the
appraisal found and what to do next; ``attest.appraisal`` says how it finds it.

AR4SI values are those of draft-ietf-rats-ar4si clause 2.3.4 ff.; the sentence for a
claim says what it is about in this product (the handset, the card, the pairing).
"""

from __future__ import annotations

from dataclasses import dataclass

from attest import appraisal, devicepolicy


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason code: what it means, and the next step."""

    code: str
    meaning: str
    next_step: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "meaning": self.meaning, "next_step": self.next_step}


_TABLE = (
    Reason(appraisal.CHALLENGE_EXPIRED,
           "the evidence arrived after its challenge had expired (a challenge may be "
           "answered for a minute by default)",
           "attest the handset again; if it keeps happening the reader, modem or network "
           "is too slow for the challenge lifetime"),
    Reason(appraisal.CHALLENGE_REUSED,
           "the evidence answers a challenge that had already been answered — the same "
           "evidence sent twice, or a replay",
           "attest the handset again; if nobody sent it twice, the audit log shows who "
           "answered the challenge first"),
    Reason(appraisal.NONCE_MISMATCH,
           "the evidence does not carry this challenge's nonce or attestation id: it was "
           "made for another challenge",
           "attest the handset again; if it persists the agent on the handset is faulty or "
           "tampered with — take it to provisioning"),
    Reason(appraisal.IMEI_MISMATCH,
           "the evidence names another IMEI than the handset the challenge was issued for",
           "check the IMEI given to the agent (--imei, or the modem's); a handset that "
           "reports another IMEI goes to provisioning"),
    # The service answers a request its handset's key did not sign as it answers an
    # unknown IMEI (a decoy challenge), so this code covers both.
    Reason(appraisal.ME_UNKNOWN,
           "no registered handset is behind this request: the IMEI is not registered, or "
           "the request was not signed with the key registered for it (a wrong key file "
           "on the device, or a different device)",
           "check the IMEI for a typo and that the device uses the key file made for this "
           "handset (simattest device keygen/add); register the handset if it is new"),
    Reason(appraisal.ME_SIGNATURE_INVALID,
           "the evidence was not signed by this handset's registered key — wrong key file "
           "on the device, or a different device",
           "use the key file made for this handset (simattest device keygen/add); if it "
           "is the right one, the handset is not the registered one — take it to "
           "provisioning"),
    Reason(devicepolicy.ME_ATTESTATION_INVALID,
           "the handset's Android key attestation does not verify: a broken signature, a "
           "root the service does not trust, a missing or malformed KeyDescription, or a "
           "challenge other than the one the service issued",
           "attest again from the handset's own client; if it persists the handset or its "
           "client is not genuine — take it to provisioning"),
    Reason(devicepolicy.ME_ATTESTATION_REVOKED,
           "a certificate of the handset's attestation chain is revoked or suspended in "
           "the attestation status list: its attestation keys have leaked or the device "
           "model is withdrawn",
           "do not hand the handset out; take it to provisioning (simattest admin "
           "attestation-status import keeps the list current)"),
    Reason(devicepolicy.ME_SOFTWARE_KEY,
           "the handset's device key is a software key: nothing proves it lives in the "
           "handset's TEE or StrongBox, so a copy of the key file passes for the handset",
           "register the handset again from an Android key attestation (simattest device "
           "add --attestation)"),
    Reason(devicepolicy.ME_BOOTLOADER_UNLOCKED,
           "the handset's bootloader is unlocked: any operating system can be loaded on "
           "it",
           "do not hand the handset out; provisioning locks the bootloader, re-flashes "
           "the approved build and registers the handset again"),
    Reason(devicepolicy.ME_UNVERIFIED_BOOT,
           "the handset did not boot with verified boot (state unverified, self-signed "
           "or failed): its operating system is not proven to be the manufacturer's",
           "do not hand the handset out; provisioning re-flashes the approved build"),
    Reason(devicepolicy.ME_BOOT_KEY_CHANGED,
           "the handset's operating system is signed with another verified-boot key "
           "than at its registration: a different OS build signer",
           "if the fleet moved to a new OS signer, register the handset again; otherwise "
           "take it to provisioning"),
    Reason(devicepolicy.ME_PATCH_TOO_OLD,
           "the handset's security patch level (the oldest of OS, vendor and boot) is "
           "older than the policy allows, or not attested",
           "install the pending system update, then attest again"),
    Reason(appraisal.COMMERCIAL_SIM,
           "the card in the handset is not a pooled card: a commercial or unknown SIM",
           "put the handset's own pooled card back; hand the card found to provisioning"),
    Reason(appraisal.CLONED_SIM,
           "the card claims a pooled card's identity but did not prove it holds that "
           "card's keys — a copy of the card, or wrong keys imported",
           "do not hand the handset out; take handset and card to provisioning, where "
           "simattest pool verify checks the imported keys against the card"),
    Reason(appraisal.SIM_SWAPPED,
           "the card is a pooled card, but it is paired with another handset",
           "put each card back into its own handset, or pair this one again "
           "(simattest unpair, then simattest pair)"),
    Reason(appraisal.HANDSET_NOT_PAIRED,
           "the handset is registered but no card is paired with it",
           "pair it with its card (simattest pair), then attest it again"),
    Reason(appraisal.PROFILE_MISMATCH,
           "the card does not look like the profile it was imported as (services, ProSe, "
           "ISIM)",
           "read the card (simattest read) and compare with its profile; a card that "
           "changed goes to provisioning"),
)

REASONS: dict[str, Reason] = {r.code: r for r in _TABLE}


def explain(code: str) -> Reason | None:
    """The entry for ``code`` (None for a code this version does not know)."""
    return REASONS.get(code)


STATUS_MEANING: dict[str, str] = {
    "affirming": "every check passed: the handset may be handed out",
    "warning": "nothing proves a problem, but something could not be checked or looks "
               "unusual: do not hand out without a second look",
    "contraindicated": "a check failed: do not hand the handset out, take it to provisioning",
}

# What each AR4SI claim is about here (draft-ietf-rats-ar4si clause 2.3.4 ff.).
CLAIM_SUBJECT: dict[str, str] = {
    "instance-identity": "whether the attester is the one registered",
    "sourced-data": "whether the evidence belongs to this challenge",
    "hardware": "whether the card proved it holds its pooled keys (usim); whether the "
                "device key lives in the handset's TEE or StrongBox (me)",
    "configuration": "whether the card is of the expected profile (usim); whether the "
                     "handset's bootloader is locked and its patches current (me)",
    "executables": "whether the handset booted the verified operating system it was "
                   "registered with",
}

# AR4SI value -> meaning, per claim (draft-ietf-rats-ar4si clause 2.3.4 ff.).
_CLAIM_VALUES: dict[str, dict[int, str]] = {
    "instance-identity": {2: "recognised and not compromised", 96: "not recognised",
                          97: "recognised but compromised"},
    "sourced-data": {2: "from this challenge", 96: "not from this challenge"},
    "hardware": {2: "genuine", 32: "not proven genuine", 96: "not genuine"},
    "executables": {2: "the approved operating system", 3: "the approved operating "
                    "system as registered (no fresh attestation)",
                    32: "an unrecognised operating system",
                    96: "a contraindicated operating system"},
    "configuration": {2: "the approved configuration", 32: "an unexpected configuration",
                      96: "a contraindicated configuration"},
}
# Values with one meaning for every claim (ar4si clause 2.3.3).
_ANY_CLAIM: dict[int, str] = {0: "no claim (could not be checked)",
                              1: "the verifier malfunctioned",
                              99: "cryptographic validation failed"}


def trust_meaning(claim: str, value: int) -> str:
    """One AR4SI claim value in words, e.g. ``hardware=96``: "not genuine"."""
    known = _CLAIM_VALUES.get(claim, {}).get(value) or _ANY_CLAIM.get(value)
    return known if known is not None else appraisal.tier(value)


# The card's answer to AUTHENTICATE, as the evidence reports it (TS 31.102 clause 7.1.2).
CARD_ANSWERS: dict[str, str] = {
    "success": "the card computed a response (RES)",
    "sync_failure": "the card found the challenge's sequence number out of step and sent "
                    "AUTS",
    "mac_failure": "the card refused the challenge: it was not made with this card's keys "
                   "(the card is not the one the challenge was for, or its keys differ "
                   "from the pool's)",
}
