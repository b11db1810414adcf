"""The device agent: the handset's side of a checkout attestation.

1. Read the card's identities (``hw.identity.read_identities``) and the handset's IMEI
   (from the modem, TS 27.007 ``AT+CGSN``, when the reader is ``modem:``; otherwise
   the caller names it).
2. Ask the service for a challenge (``POST /v1/attestations``), signed with the device
   key over the IMEI and the time (``challenge_request``): the service counts a
   request against the handset and binds a challenge to its card only when the
   handset's key signed it.
3. Run AUTHENTICATE (3G context) with RAND/AUTN on the application the challenge names.
4. Build the evidence (``attest.evidence``) — with a fresh Android key attestation bound
   to the challenge's nonce when the handset makes one (``attest``) — sign its
   canonical JSON with the device key, submit it
   (``POST /v1/attestations/{id}/evidence``).
5. On ``resync`` (the card answered a synchronisation failure and the service accepted
   its AUTS) run the fresh challenge once more; a second resync is an error.

Errors: the service unreachable or answering 5xx → TransportError (exit 3); a 4xx
problem → InputError (exit 2) with the problem's detail; the card refusing (PIN needed,
context not supported) → CardError (exit 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attest import b64url
from attest.devicekey import DeviceSigner
from attest.errors import CardError, InputError, TransportError
from attest.evidence import canonical_json, challenge_request_bytes
from hw.identity import read_identities
from hw.transport.base import Transport, open_transport
from hw.uicc.authenticate import (
    AuthContextNotSupported,
    AuthMacFailure,
    AuthOutcome,
    AuthPinNeeded,
    AuthSuccess,
    AuthSyncFailure,
    authenticate_app,
)
from server.agent.client import ServiceClient


@dataclass(frozen=True)
class Verdict:
    """What the service said about this handset and card."""

    attestation_id: str
    status: str
    reasons: list[str]
    ear: str
    imei: str
    iccid: str
    resyncs: int = 0

    @property
    def affirming(self) -> bool:
        return self.status == "affirming"

    def to_json(self) -> dict[str, Any]:
        return {"attestation_id": self.attestation_id, "status": self.status,
                "reasons": self.reasons, "imei": self.imei, "iccid": self.iccid,
                "resyncs": self.resyncs, "ear": self.ear}


def _outcome_json(outcome: AuthOutcome, uri: str) -> dict[str, str]:
    if isinstance(outcome, AuthSuccess):
        return {"outcome": "success", "res": outcome.res.hex()}
    if isinstance(outcome, AuthSyncFailure):
        return {"outcome": "sync_failure", "auts": outcome.auts.hex()}
    if isinstance(outcome, AuthMacFailure):
        return {"outcome": "mac_failure"}
    if isinstance(outcome, AuthPinNeeded):
        raise CardError(f"{uri}: the card needs its PIN before AUTHENTICATE (give --pin)")
    if isinstance(outcome, AuthContextNotSupported):
        raise CardError(f"{uri}: the card does not support the 3G authentication context")
    raise CardError(f"{uri}: unexpected AUTHENTICATE answer {type(outcome).__name__}")


def handset_identity(transport: Transport, imei: str | None) -> tuple[str, str | None]:
    """IMEI (and IMEISV) from the modem, else from the caller."""
    identify = getattr(transport, "handset_identity", None)
    if identify is not None:
        ident = identify()
        if imei is not None and imei != ident.imei:
            raise InputError(f"--imei {imei} differs from the modem's IMEI {ident.imei}")
        return ident.imei, ident.imeisv
    if imei is None:
        raise InputError(f"{transport.uri}: this reader cannot tell the handset's IMEI; "
                         "give --imei")
    return imei, None


def card_facts(transport: Transport, pin: str | None) -> dict[str, Any]:
    ids = read_identities(transport, pin=pin).to_json()
    isim = ids["isim"]
    return {
        "iccid": ids["iccid"], "imsi": ids["imsi"], "mnc_length": ids["mnc_length"],
        "ust": ids["ust"], "prose": ids["prose"],
        "isim": None if isim is None else {"impi": isim["impi"], "impu": isim["impu"],
                                           "ist": isim["ist"]},
    }


Attest = Callable[[str], list[str]]


def answer_challenge(
    transport: Transport, signer: DeviceSigner, imei: str, imeisv: str | None,
    facts: dict[str, Any], challenge: dict[str, Any], pin: str | None = None,
    attest: Attest | None = None,
) -> dict[str, Any]:
    """Run AUTHENTICATE for ``challenge``; the signed ``{evidence, signature}`` body.
    ``attest``: the handset's fresh key attestation for a nonce (base64url DER
    certificates, leaf first), put in the evidence as ``attestation``."""
    try:
        rand, autn = bytes.fromhex(challenge["rand"]), bytes.fromhex(challenge["autn"])
        attestation_id, app = challenge["id"], challenge["app"]
    except (KeyError, TypeError, ValueError):
        raise TransportError("the service sent a malformed challenge") from None
    outcome = authenticate_app(transport, app, rand, autn, pin=pin)
    evidence = {"attestation_id": attestation_id, "nonce": challenge.get("nonce"),
                "imei": imei, "imeisv": imeisv, **facts,
                "outcome": _outcome_json(outcome, transport.uri)}
    if attest is not None:
        evidence["attestation"] = attest(str(challenge.get("nonce")))
    signature = signer.sign(canonical_json(evidence))
    return {"evidence": evidence,
            "signature": b64url.encode(signature)}


def challenge_request(signer: DeviceSigner, imei: str) -> dict[str, Any]:
    """The body of ``POST /v1/attestations``: the IMEI and the time now (milliseconds),
    signed with the device key (``attest.evidence.challenge_request_bytes``)."""
    signed_at = time.time_ns() // 1_000_000
    signature = signer.sign(challenge_request_bytes(imei, signed_at))
    return {"imei": imei, "signed_at": signed_at, "signature": b64url.encode(signature)}


def submit(client: ServiceClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST a signed evidence body to its challenge."""
    return client.post(f"/v1/attestations/{body['evidence']['attestation_id']}/evidence", body)


def run_checkout(
    client: ServiceClient, reader: str, signer: DeviceSigner, *, imei: str | None = None,
    pin: str | None = None, attest: Attest | None = None,
) -> Verdict:
    """The whole device side of one checkout attestation (module docstring)."""
    with open_transport(reader) as transport:
        imei, imeisv = handset_identity(transport, imei)
        facts = card_facts(transport, pin)
        challenge = client.post("/v1/attestations", challenge_request(signer, imei))
        for resyncs in range(2):
            answer = submit(client, answer_challenge(transport, signer, imei, imeisv, facts,
                                                     challenge, pin, attest))
            if answer.get("status") != "resync":
                return Verdict(answer["attestation_id"], answer["status"],
                               list(answer.get("reasons", [])), answer.get("ear", ""), imei,
                               facts["iccid"], resyncs)
            challenge = answer["challenge"]
    raise CardError(f"{reader}: the card is still out of sync after a re-synchronisation")
