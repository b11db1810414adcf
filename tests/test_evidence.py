"""Evidence validation, canonical JSON and device-key signatures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from attest import b64url, devicekey
from attest.errors import FieldError, InputError
from attest.evidence import canonical_json, parse_evidence, summary
from server.cli.main import main
from tests.fixtures_pcsc import EXAMPLES

GOOD: dict[str, Any] = {
    "attestation_id": "a1B2_c3-d4",
    "nonce": "AAECAwQFBgcICQoLDA0ODw",
    "imei": "490154203237518",
    "imeisv": "4901542032375101",
    "iccid": "8988211000000000018",
    "imsi": "001010000000001",
    "mnc_length": 2,
    "ust": [1, 2, 27, 101],
    "prose": True,
    "isim": {"impi": "001010000000001@ims.example", "impu": ["sip:a@ims.example"], "ist": [15]},
    "outcome": {"outcome": "success", "res": "a54211d5e3ba50bf"},
}


def test_canonical_json_is_sorted_compact_utf8() -> None:
    expected = '{"a":["é",true,null],"b":1}'.encode()
    assert canonical_json({"b": 1, "a": ["é", True, None]}) == expected


def test_canonical_json_matches_a_device_using_the_standard_library() -> None:
    # A handset implementing "sorted keys, no spaces, UTF-8" with Python's json module
    # signs the same bytes the service verifies, escapes and non-ASCII included.
    doc = {**GOOD, "isim": {"impi": "ü\"\\/\u2028\U0001f4de\x7f@ims.example",
                            "impu": ["sip:\x00\x1f\t\n@ims", "tel:+1"], "ist": []},
           "imeisv": None, "Z": {"é": 1, "e": [], "E": {}}}
    stdlib = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(doc) == stdlib.encode("utf-8")


def test_good_evidence_round_trips_to_the_same_signed_bytes() -> None:
    ev = parse_evidence(GOOD)
    assert ev.outcome.res == bytes.fromhex("a54211d5e3ba50bf")
    assert ev.signed_bytes() == canonical_json(GOOD)
    assert ev.card_facts()["isim"] == GOOD["isim"]


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        ({"outcome": "sync_failure", "auts": "c7" * 14}, "sync_failure"),
        ({"outcome": "mac_failure"}, "mac_failure"),
    ],
)
def test_other_outcomes(outcome: dict[str, str], kind: str) -> None:
    doc = dict(GOOD, outcome=outcome)
    assert parse_evidence(doc).outcome.kind == kind
    assert parse_evidence(doc).to_json() == doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("imei",), "49015420323751", "evidence.imei: expected 15-15 decimal digits"),
        (("imei",), 490154203237518, "evidence.imei: expected a string, got int"),
        (("iccid",), "89882110000000000X", "with non-digits"),
        (("imeisv",), "1", "evidence.imeisv"),
        (("prose",), "yes", "evidence.prose: expected true or false"),
        (("mnc_length",), 4, "evidence.mnc_length: expected 2, 3 or null"),
        (("isim", "ist"), [0], "evidence.isim.ist[0]: expected a service number"),
        (("ust",), [27, 1], "evidence.ust[1]: service numbers must be ascending"),
        (("ust",), [True], "evidence.ust[0]: expected a service number"),
        (("nonce",), "not base64!", "evidence.nonce"),
        (("attestation_id",), "../etc", "evidence.attestation_id"),
        (("isim", "impu"), "sip:x", "evidence.isim.impu: expected a list"),
        (("outcome", "res"), "abc", "evidence.outcome.res: expected an even number of hex"),
        (("outcome", "res"), "00", "evidence.outcome.res: expected 4-16 bytes, got 1"),
        (("outcome", "outcome"), "maybe", "evidence.outcome.outcome: expected 'success'"),
    ],
)
def test_malformed_fields_are_named(path: tuple[str, ...], value: Any, message: str) -> None:
    doc = copy.deepcopy(GOOD)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_evidence(doc)


def test_unknown_and_missing_fields_are_rejected() -> None:
    with pytest.raises(FieldError, match=r"^evidence\.extra: unknown field$") as info:
        parse_evidence(dict(GOOD, extra=1))
    assert (info.value.field, info.value.reason) == ("evidence.extra", "unknown field")
    doc = dict(GOOD)
    del doc["imsi"]
    with pytest.raises(FieldError, match=r"^evidence\.imsi: missing field$") as info:
        parse_evidence(doc)
    assert (info.value.field, info.value.reason) == ("evidence.imsi", "missing field")
    with pytest.raises(FieldError, match=r"^evidence\.outcome\.res: unknown field$"):
        parse_evidence(dict(GOOD, outcome={"outcome": "mac_failure", "res": "00000000"}))
    with pytest.raises(InputError, match="evidence: expected an object, got list"):
        parse_evidence([GOOD])


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("path", [("ust",), ("isim", "impu"), ("outcome", "res"), ("imsi",)])
def test_deeply_nested_field_is_a_field_error(path: tuple[str, ...]) -> None:
    # Deeper than the interpreter's recursion limit: refused by type, never walked.
    doc = copy.deepcopy(GOOD)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = _nested(100_000)
    with pytest.raises(FieldError) as info:
        parse_evidence(doc)
    assert info.value.field.startswith("evidence." + ".".join(path))


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_device_signature_verifies_only_with_the_right_key(algorithm: Any) -> None:
    signer = devicekey.generate(algorithm)
    other = devicekey.generate(algorithm)
    message = parse_evidence(GOOD).signed_bytes()
    signature = signer.sign(message)
    public = devicekey.load_public_key(signer.public_pem())
    assert public.algorithm == algorithm
    assert public.verify(message, signature)
    assert not public.verify(message + b" ", signature)
    assert not devicekey.load_public_key(other.public_pem()).verify(message, signature)
    assert not public.verify(message, b"\x00" * 64)
    assert not public.verify(message, b"")


def test_a_small_order_ed25519_key_verifies_no_signature() -> None:
    """Under the identity point as public key, R = identity and S = 0 satisfy RFC 8032's
    equation [S]B = R + [k]A for every message (OpenSSL takes it); a device key of small
    order, registered by mistake or by an insider, must not let anyone sign for it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    identity = b"\x01" + b"\x00" * 31
    key = ed25519.Ed25519PublicKey.from_public_bytes(identity)
    forged = identity + b"\x00" * 32
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert not devicekey.load_public_key(pem).verify(b"any message", forged)


def test_p256_raw_r_s_signature_is_accepted() -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    signer = devicekey.generate("ecdsa-p256")
    r, s = decode_dss_signature(signer.sign(b"msg"))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert devicekey.load_public_key(signer.public_pem()).verify(b"msg", raw)


def test_other_key_types_and_garbage_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InputError, match="expected Ed25519 or EC P-256"):
        devicekey.load_public_key(p384)
    with pytest.raises(InputError, match="not a PEM public key"):
        devicekey.load_public_key(b"hello")
    signer = devicekey.generate()
    assert "PRIVATE" not in repr(signer)


def _card_with_impus(tmp_path: Path, impus: list[str]) -> Path:
    """The example public-safety card with its ISIM holding ``impus`` (one record each)."""
    card = yaml.safe_load((EXAMPLES / "ps-001.yaml").read_text())
    card["isim"]["impu"] = impus
    path = tmp_path / "many-impu.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def test_a_card_full_of_impus_reads_into_valid_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # EF.IMPU may hold up to 254 records: all of them must reach the verifier.
    impus = [f"sip:unit-{n:04d}@mcptt.example.org" for n in range(1, 255)]
    assert main(["read", "--reader", f"sim:{_card_with_impus(tmp_path, impus)}", "--json"]) == 0
    read = json.loads(capsys.readouterr().out)
    assert read["isim"]["impu"] == impus
    doc = {**GOOD, **{k: read[k] for k in ("iccid", "imsi", "mnc_length", "ust", "prose")},
           "isim": {k: read["isim"][k] for k in ("impi", "impu", "ist")}}
    evidence = parse_evidence(doc)
    assert evidence.isim is not None and list(evidence.isim.impu) == impus


def test_impu_count_and_total_size_are_bounded() -> None:
    doc = copy.deepcopy(GOOD)
    doc["isim"]["impu"] = [f"sip:{n}@x" for n in range(255)]  # one more than EF.IMPU holds
    with pytest.raises(InputError, match=r"evidence\.isim\.impu: expected a list of at most 254"):
        parse_evidence(doc)
    doc["isim"]["impu"] = ["sip:" + "a" * 251] * 254  # 254 x 255 bytes: a full EF.IMPU
    assert parse_evidence(doc).isim is not None
    doc["isim"]["impu"] = ["sip:" + "é" * 251] * 254  # as many characters, twice the bytes
    with pytest.raises(InputError, match=r"evidence\.isim\.impu: 128524 bytes of UTF-8 in all"):
        parse_evidence(doc)


def test_summary_shows_what_the_device_reported_but_never_the_card_answer() -> None:
    stored = {**GOOD, "outcome": {"outcome": "success", "res": "5e" * 8},
              "isim": {"impi": "001010123456789@ims.example", "impu": ["sip:a@ims.example"],
                       "ist": [15], "secret_later": "x"},
              "added_by_a_later_version": "x"}
    shown = summary(stored)
    assert shown["outcome"] == {"outcome": "success"}
    assert shown["isim"] == {"impi": "001010123456789@ims.example",
                             "impu": ["sip:a@ims.example"], "ist": [15]}
    assert shown["iccid"] == stored["iccid"] and shown["imei"] == stored["imei"]
    assert "added_by_a_later_version" not in shown
    sync = summary({**stored, "outcome": {"outcome": "sync_failure", "auts": "c7" * 14}})
    assert sync["outcome"] == {"outcome": "sync_failure"}
    assert "5e5e" not in json.dumps(shown) and "c7c7" not in json.dumps(sync)


@pytest.mark.parametrize(("text", "raw"), [("", b""), ("_-8", b"\xff\xef"),
                                           ("AAE=", b"\x00\x01"), ("AAE", b"\x00\x01")])
def test_b64url_round_trips_with_or_without_padding(text: str, raw: bytes) -> None:
    assert b64url.decode(text) == raw
    assert b64url.encode(raw) == text.rstrip("=")


@pytest.mark.parametrize(("text", "reason"), [("AA+/", "outside"), ("AA AA", "outside"),
                                              ("A", "bad length"), ("AA=A", "outside")])
def test_b64url_refuses_what_the_standard_decoder_would_skip(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        b64url.decode(text)
