"""Checkout evidence: what the device agent reports, how it is validated and serialised.

The evidence binds the card's answer to the server's challenge (``attestation_id`` and
``nonce``) and to the handset (``imei``); the handset signs its canonical JSON form with
its device key (``attest.devicekey``).  Canonical JSON here means: object keys sorted,
no insignificant whitespace, UTF-8, no floats (RFC 8785 agrees with this for the value
types evidence is allowed to hold: strings, integers, booleans, null, arrays, objects).

JSON shape (hex for byte strings, as everywhere at the edges)::

    {
      "attestation_id": "<id from the challenge>",
      "nonce": "<nonce from the challenge, base64url>",
      "imei": "15 digits", "imeisv": "16 digits" | null,
      "iccid": "18-20 digits", "imsi": "6-15 digits",
      "mnc_length": 2 | 3 | null,                  # EF.AD (TS 31.102 clause 4.2.18)
      "ust": [service numbers available in EF.UST, ascending],
      "prose": true | false,                       # DF.ProSe (5F90) present
      "isim": {"impi": "..." | null, "impu": ["sip:..."], "ist": [services]} | null,
      "outcome": {"outcome": "success", "res": "<hex, 4-16 bytes>"}
               | {"outcome": "sync_failure", "auts": "<hex, 14 bytes>"}
               | {"outcome": "mac_failure"},
      "attestation": ["<base64url DER certificate>", ...]   # optional, leaf first
    }

``attestation``, the one optional member, is a fresh Android key attestation: the
certificate chain of a key the handset made for this checkout with the challenge's
nonce (its 32 bytes) as attestationChallenge (``docs/device-protocol.md``).  At most
``MAX_CHAIN_CERTIFICATES`` certificates and ``MAX_CHAIN_BYTES`` of DER in all.

The three outcomes are the answers of AUTHENTICATE in the 3G context (ETSI TS 131 102
clause 7.1.2): ``DB`` success with RES, ``DC`` synchronisation failure with AUTS, and
SW 9862 (authentication error, incorrect MAC).  A member missing from this shape, or one
it does not name, is refused (``FieldError`` naming it).

The request for a challenge is signed too (``challenge_request_bytes``): the service
lets only the holder of the handset's device key spend the handset's allowance of
challenges or consume its challenge (``docs/operations.md``, "Security").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from attest import b64url
from attest.errors import FieldError

OutcomeKind = Literal["success", "sync_failure", "mac_failure"]

_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

EVIDENCE_FIELDS = frozenset(
    {"attestation_id", "nonce", "imei", "imeisv", "iccid", "imsi", "mnc_length", "ust", "prose",
     "isim", "outcome"}
)
OPTIONAL_FIELDS = frozenset({"attestation"})
MAX_CHAIN_CERTIFICATES = 10
MAX_CHAIN_BYTES = 64 * 1024
MAX_SERVICE = 1024  # EF.UST/EF.IST: a few dozen bytes, 8 services per byte
# EF.IMPU is a linear fixed file: up to 254 records (record numbers 01-FE, TS 102 221
# clause 11.1.5), each up to 255 bytes -- 64,770 bytes in all.  A card may fill it, so
# the evidence takes as many IMPUs as the card format allows; the total is bounded too,
# at 64 KiB of UTF-8, so a body of many long multi-byte URIs is still refused.
MAX_IMPU = 254
MAX_IMPU_BYTES = 64 * 1024
MAX_URI = 255


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8 (what the device key signs).

    Evidence holds only strings, integers, booleans, null, arrays and objects, for which
    orjson's sorted output is exactly that (the same bytes as the standard library's
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``); a key
    that is not a string or an integer beyond 64 bits raises ``TypeError``.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# What a challenge request's signature is over besides the IMEI and time: it names its
# purpose, so that no other message the device key signs can stand for one.
CHALLENGE_REQUEST_PURPOSE = "simattest challenge request v1"


def challenge_request_bytes(imei: str, signed_at: int) -> bytes:
    """The exact bytes the device key signs to ask for a challenge for ``imei`` at
    ``signed_at`` (milliseconds since the Unix epoch): the canonical JSON of
    ``{"imei", "purpose", "signed_at"}``.  Evidence never has a ``purpose`` member, so
    neither signature can be taken for the other."""
    return canonical_json({"imei": imei, "purpose": CHALLENGE_REQUEST_PURPOSE,
                           "signed_at": signed_at})


@dataclass(frozen=True, slots=True)
class Outcome:
    """The card's answer to AUTHENTICATE: RES, AUTS, or a MAC failure."""

    kind: OutcomeKind
    res: bytes | None = None
    auts: bytes | None = None

    def to_json(self) -> dict[str, str]:
        if self.kind == "success":
            assert self.res is not None
            return {"outcome": "success", "res": self.res.hex()}
        if self.kind == "sync_failure":
            assert self.auts is not None
            return {"outcome": "sync_failure", "auts": self.auts.hex()}
        return {"outcome": "mac_failure"}


@dataclass(frozen=True, slots=True)
class IsimFacts:
    """ISIM facts when the card has an ISIM (TS 31.103: EF.IMPI, EF.IMPU, EF.IST)."""

    impi: str | None
    impu: tuple[str, ...]
    ist: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"impi": self.impi, "impu": list(self.impu), "ist": list(self.ist)}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One validated evidence document."""

    attestation_id: str
    nonce: str
    imei: str
    imeisv: str | None
    iccid: str
    imsi: str
    mnc_length: int | None
    ust: tuple[int, ...]
    prose: bool
    isim: IsimFacts | None
    outcome: Outcome
    attestation: tuple[bytes, ...] | None = None  # DER certificates, leaf first

    def to_json(self) -> dict[str, Any]:
        """The JSON object the device signs and the server stores."""
        chain = {} if self.attestation is None \
            else {"attestation": [b64url.encode(c) for c in self.attestation]}
        return chain | {
            "attestation_id": self.attestation_id,
            "nonce": self.nonce,
            "imei": self.imei,
            "imeisv": self.imeisv,
            "iccid": self.iccid,
            "imsi": self.imsi,
            "mnc_length": self.mnc_length,
            "ust": list(self.ust),
            "prose": self.prose,
            "isim": None if self.isim is None else self.isim.to_json(),
            "outcome": self.outcome.to_json(),
        }

    def card_facts(self) -> dict[str, Any]:
        """The card facts ``attest.profiles.classify`` takes (the ``read`` JSON keys)."""
        doc = self.to_json()
        return {k: doc[k] for k in ("iccid", "imsi", "mnc_length", "ust", "prose", "isim")}

    def signed_bytes(self) -> bytes:
        """The exact bytes the device key signs."""
        return canonical_json(self.to_json())


# What may be shown of a stored evidence document (the API's attestation view, the desk
# pages) is an allow-list: the card's answer values (RES, AUTS), and whatever a later
# version adds, stay out of every view unless named here.
_SHOWN = ("attestation_id", "nonce", "imei", "imeisv", "iccid", "imsi", "mnc_length", "ust",
          "prose")
_SHOWN_ISIM = ("impi", "impu", "ist")


def summary(stored: Mapping[str, Any]) -> dict[str, Any]:
    """What the device reported (``Evidence.to_json`` as stored), without the card's
    answer values: ``isim`` with its identities and services, ``outcome`` with only the
    kind of answer (``{"outcome": "success"}``)."""
    shown = {name: stored[name] for name in _SHOWN if name in stored}
    if "isim" in stored:
        isim = stored["isim"]
        shown["isim"] = {name: isim[name] for name in _SHOWN_ISIM if name in isim} \
            if isinstance(isim, dict) else None
    outcome = stored.get("outcome")
    if isinstance(outcome, dict) and "outcome" in outcome:
        shown["outcome"] = {"outcome": outcome["outcome"]}
    return shown


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise FieldError(f"{where}{key}", f"expected a string, got {_type(value)}")
    return value


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _digits(obj: dict[str, Any], key: str, lengths: range, where: str = "evidence.") -> str:
    value = _str(obj, key, where)
    if not _DIGITS.fullmatch(value) or len(value) not in lengths:
        raise FieldError(
            f"{where}{key}",
            f"expected {lengths.start}-{lengths.stop - 1} decimal digits, "
            f"got {len(value)} characters"
            + ("" if _DIGITS.fullmatch(value) else " with non-digits")
        )
    return value


def _hex(obj: dict[str, Any], key: str, sizes: range, where: str) -> bytes:
    value = _str(obj, key, where)
    if not _HEX.fullmatch(value):
        raise FieldError(f"{where}{key}", "expected an even number of hex digits")
    raw = bytes.fromhex(value)
    if len(raw) not in sizes:
        raise FieldError(
            f"{where}{key}", f"expected {sizes.start}-{sizes.stop - 1} bytes, got {len(raw)}"
        )
    return raw


def _no_unknown(obj: dict[str, Any], allowed: frozenset[str], where: str,
                optional: frozenset[str] = frozenset()) -> None:
    if obj.keys() == allowed:
        return
    unknown = sorted(set(obj) - allowed - optional)
    if unknown:
        raise FieldError(f"{where}.{unknown[0]}", "unknown field")
    missing = sorted(allowed - set(obj))
    if missing:
        raise FieldError(f"{where}.{missing[0]}", "missing field")


def parse_outcome(obj: Any) -> Outcome:
    """Validate the ``outcome`` member."""
    where = "evidence.outcome"
    if not isinstance(obj, dict):
        raise FieldError(where, f"expected an object, got {_type(obj)}")
    kind = obj.get("outcome")
    if kind == "success":
        _no_unknown(obj, frozenset({"outcome", "res"}), where)
        # RES is 4 to 16 octets (TS 33.102 clause 6.3.2: XRES 32..128 bits)
        return Outcome("success", res=_hex(obj, "res", range(4, 17), where + "."))
    if kind == "sync_failure":
        _no_unknown(obj, frozenset({"outcome", "auts"}), where)
        return Outcome("sync_failure", auts=_hex(obj, "auts", range(14, 15), where + "."))
    if kind == "mac_failure":
        _no_unknown(obj, frozenset({"outcome"}), where)
        return Outcome("mac_failure")
    raise FieldError(
        f"{where}.outcome",
        f"expected 'success', 'sync_failure' or 'mac_failure', got {kind!r}"
        if isinstance(kind, str) or kind is None
        else f"expected a string, got {_type(kind)}"
    )


def _parse_isim(obj: Any) -> IsimFacts | None:
    where = "evidence.isim"
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise FieldError(where, f"expected an object or null, got {_type(obj)}")
    _no_unknown(obj, frozenset({"impi", "impu", "ist"}), where)
    impi = obj["impi"]
    if impi is not None and (not isinstance(impi, str) or not 0 < len(impi) <= MAX_URI):
        raise FieldError(f"{where}.impi", f"expected a string of 1-{MAX_URI} characters or null")
    impu = obj["impu"]
    if not isinstance(impu, list) or len(impu) > MAX_IMPU:
        raise FieldError(f"{where}.impu", f"expected a list of at most {MAX_IMPU} strings")
    for i, uri in enumerate(impu):
        if not isinstance(uri, str) or not 0 < len(uri) <= MAX_URI:
            raise FieldError(f"{where}.impu[{i}]", f"expected a string of 1-{MAX_URI} characters")
    total = sum(len(uri.encode()) for uri in impu)
    if total > MAX_IMPU_BYTES:
        raise FieldError(f"{where}.impu", f"{total} bytes of UTF-8 in all, more than the "
                         f"{MAX_IMPU_BYTES} an EF.IMPU can hold")
    return IsimFacts(impi=impi, impu=tuple(impu), ist=_services(obj["ist"], where + ".ist"))


def _services(obj: Any, where: str) -> tuple[int, ...]:
    if not isinstance(obj, list):
        raise FieldError(where, f"expected a list of service numbers, got {_type(obj)}")
    previous = 0
    for i, n in enumerate(obj):
        # bool is an int subclass in Python; JSON true is not a service number
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= MAX_SERVICE:
            raise FieldError(f"{where}[{i}]", f"expected a service number 1-{MAX_SERVICE}")
        if n <= previous:
            raise FieldError(f"{where}[{i}]", "service numbers must be ascending and unique")
        previous = n
    return tuple(obj)


def parse_evidence(obj: Any) -> Evidence:
    """Validate a decoded JSON evidence object; FieldError names the first bad field."""
    if not isinstance(obj, dict):
        raise FieldError("evidence", f"expected an object, got {_type(obj)}")
    _no_unknown(obj, EVIDENCE_FIELDS, "evidence", OPTIONAL_FIELDS)
    attestation_id = _str(obj, "attestation_id", "evidence.")
    if not _ID.fullmatch(attestation_id):
        raise FieldError("evidence.attestation_id", "expected 1-64 characters of [A-Za-z0-9_-]")
    nonce = _str(obj, "nonce", "evidence.")
    if not _B64URL.fullmatch(nonce) or len(nonce) > 128:
        raise FieldError("evidence.nonce", "expected base64url text of at most 128 characters")
    imeisv = None
    if obj["imeisv"] is not None:
        imeisv = _digits(obj, "imeisv", range(16, 17))
    mnc_length = obj["mnc_length"]
    if mnc_length not in (2, 3, None) or isinstance(mnc_length, bool):
        raise FieldError("evidence.mnc_length", "expected 2, 3 or null")
    prose = obj["prose"]
    if not isinstance(prose, bool):
        raise FieldError("evidence.prose", f"expected true or false, got {_type(prose)}")
    return Evidence(
        attestation_id=attestation_id,
        nonce=nonce,
        imei=_digits(obj, "imei", range(15, 16)),
        imeisv=imeisv,
        iccid=_digits(obj, "iccid", range(18, 21)),
        imsi=_digits(obj, "imsi", range(6, 16)),
        mnc_length=mnc_length,
        ust=_services(obj["ust"], "evidence.ust"),
        prose=prose,
        isim=_parse_isim(obj["isim"]),
        outcome=parse_outcome(obj["outcome"]),
        # null stands for absent (the device signed whichever it sent)
        attestation=None if obj.get("attestation") is None
        else _parse_chain(obj["attestation"]),
    )


def _parse_chain(obj: Any) -> tuple[bytes, ...]:
    where = "evidence.attestation"
    if not isinstance(obj, list) or not 0 < len(obj) <= MAX_CHAIN_CERTIFICATES:
        raise FieldError(where, f"expected a list of 1-{MAX_CHAIN_CERTIFICATES} "
                                "certificates (base64url DER, leaf first)")
    chain = []
    for i, text in enumerate(obj):
        if not isinstance(text, str) or not _B64URL.fullmatch(text):
            raise FieldError(f"{where}[{i}]", "expected base64url DER")
        try:
            chain.append(b64url.decode(text))
        except ValueError as exc:
            raise FieldError(f"{where}[{i}]", f"expected base64url DER ({exc})") from None
    if sum(map(len, chain)) > MAX_CHAIN_BYTES:
        raise FieldError(where, f"more than {MAX_CHAIN_BYTES} bytes of certificates")
    return tuple(chain)
