"""Generation strategies for the OpenAPI document's own formats (``x-formats``), for
schemathesis (``SCHEMATHESIS_HOOKS=tests.schemathesis_hooks``) and the fuzz test.

Written here from the formats' descriptions, not from the service's code: a value these
strategies make must be accepted wherever the document names the format.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import strategies as st

DIGITS = "0123456789"


def luhn_complete(payload: str) -> str:
    """``payload`` with the Luhn check digit appended (ISO/IEC 7812-1 annex B)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return payload + str((10 - total % 10) % 10)


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(DIGITS, min_size=n, max_size=n)


def _public_key(seed: bytes) -> str:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _batch(size: int) -> str:
    """A CSV batch of ``size`` cards no earlier example imported: random ICCIDs from
    outside hypothesis (which would repeat its simplest values), IMSI from their digits."""
    iccids = [luhn_complete("89" + str(secrets.randbelow(10**16)).zfill(16))
              for _ in range(size)]
    rows = [f"{iccid},{iccid[-15:]},{'00' * 16},{'11' * 16}" for iccid in iccids]
    return "ICCID,IMSI,KI,OPC\n" + "\n".join(rows) + "\n"


IMEIS = _digits(14).map(luhn_complete)
ICCIDS = st.integers(17, 19).flatmap(_digits).map(luhn_complete)
PRINTABLE = st.text(st.characters(codec="utf-8").filter(str.isprintable))
FORMATS: dict[str, st.SearchStrategy[Any]] = {
    "imei": IMEIS,
    "iccid": ICCIDS,
    "printable": PRINTABLE,
    "device-public-key": st.binary(min_size=32, max_size=32).map(_public_key),
    "vendor-batch": st.integers(1, 3).map(_batch),
    "mc-id": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._+@-]{0,40}\Z"),
    "sip-uri": st.from_regex(r"\Asip:[A-Za-z0-9._~-]{1,30}@[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
                             r"(\.[a-z0-9]{1,10}){0,3}\Z"),
    "password": st.text(st.characters(codec="utf-8").filter(str.isprintable), min_size=12,
                        max_size=40),
}

for _name, _strategy in FORMATS.items():
    schemathesis.openapi.format(_name, _strategy)


def _integral(value: Any) -> Any:
    """``value`` with every float that has no fraction written as an integer (JSON
    Schema's ``integer`` includes 5.0; the API takes integers without a fraction)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


@schemathesis.hook
def map_query(context: schemathesis.HookContext, query: Any) -> Any:
    return _integral(query)


@schemathesis.hook
def map_path_parameters(context: schemathesis.HookContext, path_parameters: Any) -> Any:
    return _integral(path_parameters)


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    """What the document says and JSON Schema cannot: integers have no fraction; evidence
    lists service numbers in ascending order; a handset's IMEISV begins with its IMEI's
    first 14 digits; a challenge request's signed_at is recent."""
    body = _integral(body)
    if isinstance(body, dict) and type(body.get("signed_at")) is int \
            and 0 <= body["signed_at"] < 2**63:
        # recent-time-ms, an integer format (hypothesis applies formats to strings only):
        # the handset's clock, within 120 s of the service's.  Out of the schema's bounds
        # it stays as generated: a negative case.
        body["signed_at"] = time.time_ns() // 1_000_000 - body["signed_at"] % 60_000
    if isinstance(body, dict) and isinstance(body.get("imei"), str) \
            and isinstance(body.get("imeisv"), str) and len(body["imeisv"]) == 16:
        body["imeisv"] = body["imei"][:14] + body["imeisv"][14:]
    evidence = body.get("evidence") if isinstance(body, dict) else None
    if isinstance(evidence, dict):
        for holder, key in ((evidence, "ust"), (evidence.get("isim"), "ist")):
            services = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(services, list) and all(
                    type(n) is int for n in services):
                holder[key] = sorted(services)
    return body
