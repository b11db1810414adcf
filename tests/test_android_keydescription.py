"""The KeyDescription extension (AOSP "Key and ID attestation"): every field at its tag,
every attestation version, and every malformed input refused with its field's path.

The DER here is written by hand — tag headers, lengths and values as the schema says —
so the decoder is checked against the schema, not against our own encoder.  (High tag
numbers: 0xBF then the tag in base 128, X.690 clause 8.1.2.4; e.g. [706] = 5·128 + 66 →
``bf 85 42``.)
"""

from __future__ import annotations

import datetime as dt

import pytest

from attest.android.errors import AttestationInvalid
from attest.android.keydescription import (
    Algorithm,
    AttestationApplicationId,
    AuthorizationList,
    BlockMode,
    Digest,
    EcCurve,
    KeyDescription,
    KeyOrigin,
    KeyPurpose,
    MlDsaVariant,
    PaddingMode,
    RootOfTrust,
    SecurityLevel,
    VerifiedBootState,
    decode_key_description,
    encode_key_description,
    patch_level_date,
)


def tlv(tag: bytes, content: bytes) -> bytes:
    """One DER element; the test values stay short, so the length is one or two bytes."""
    assert len(content) < 0x10000
    if len(content) < 0x80:
        return tag + bytes([len(content)]) + content
    if len(content) < 0x100:
        return tag + b"\x81" + bytes([len(content)]) + content
    return tag + b"\x82" + len(content).to_bytes(2, "big") + content


def integer(value: int) -> bytes:
    return tlv(b"\x02", value.to_bytes((value.bit_length() + 8) // 8 or 1, "big", signed=True))


def octets(value: bytes) -> bytes:
    return tlv(b"\x04", value)


def seq(*items: bytes) -> bytes:
    return tlv(b"\x30", b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(b"\x31", b"".join(items))


def enumerated(value: int) -> bytes:
    return tlv(b"\x0a", bytes([value]))


NULL = b"\x05\x00"
TRUE = b"\x01\x01\xff"

# [n] EXPLICIT: the header of each AuthorizationList tag, worked out by hand.
TAG = {1: b"\xa1", 2: b"\xa2", 3: b"\xa3", 4: b"\xa4", 5: b"\xa5", 6: b"\xa6", 10: b"\xaa",
       11: b"\xab", 200: b"\xbf\x81\x48", 203: b"\xbf\x81\x4b", 303: b"\xbf\x82\x2f",
       305: b"\xbf\x82\x31", 400: b"\xbf\x83\x10", 401: b"\xbf\x83\x11",
       402: b"\xbf\x83\x12", 405: b"\xbf\x83\x15", 503: b"\xbf\x83\x77",
       504: b"\xbf\x83\x78", 505: b"\xbf\x83\x79", 506: b"\xbf\x83\x7a",
       507: b"\xbf\x83\x7b", 508: b"\xbf\x83\x7c", 509: b"\xbf\x83\x7d",
       600: b"\xbf\x84\x58", 601: b"\xbf\x84\x59", 701: b"\xbf\x85\x3d",
       702: b"\xbf\x85\x3e", 703: b"\xbf\x85\x3f", 704: b"\xbf\x85\x40",
       705: b"\xbf\x85\x41", 706: b"\xbf\x85\x42", 709: b"\xbf\x85\x45",
       710: b"\xbf\x85\x46", 711: b"\xbf\x85\x47", 712: b"\xbf\x85\x48",
       713: b"\xbf\x85\x49", 714: b"\xbf\x85\x4a", 715: b"\xbf\x85\x4b",
       716: b"\xbf\x85\x4c", 717: b"\xbf\x85\x4d", 718: b"\xbf\x85\x4e",
       719: b"\xbf\x85\x4f", 720: b"\xbf\x85\x50", 723: b"\xbf\x85\x53",
       724: b"\xbf\x85\x54", 900: b"\xbf\x87\x04"}


def tagged(number: int, content: bytes) -> bytes:
    return tlv(TAG[number], content)


BOOT_KEY = bytes(range(32))
BOOT_HASH = bytes(range(32, 64))
APP_DIGEST = bytes(range(64, 96))
APP_ID = seq(set_of(seq(octets(b"org.example.ptt"), integer(4242))), set_of(octets(APP_DIGEST)))


def root_of_trust(*, locked: bytes = TRUE, state: int = 0, with_hash: bool = True) -> bytes:
    return seq(octets(BOOT_KEY), locked, enumerated(state),
               *([octets(BOOT_HASH)] if with_hash else []))


def key_description(auth_hw: bytes, auth_sw: bytes = seq(), *, version: int = 400,
                    level: int = 1, challenge: bytes = b"nonce-123") -> bytes:
    return seq(integer(version), enumerated(level), integer(version), enumerated(level),
               octets(challenge), octets(b"\x01\x02"), auth_sw, auth_hw)


# Every AuthorizationList field (in tag order) with a value, and what it decodes to.
EVERY_FIELD: list[tuple[int, bytes, str, object]] = [
    (1, set_of(integer(2), integer(3), integer(7)), "purpose",
     (KeyPurpose.SIGN, KeyPurpose.VERIFY, KeyPurpose.ATTEST_KEY)),
    (2, integer(3), "algorithm", Algorithm.EC),
    (3, integer(256), "key_size", 256),
    (4, set_of(integer(32)), "block_mode", (BlockMode.GCM,)),
    (5, set_of(integer(4), integer(6)), "digest", (Digest.SHA_2_256, Digest.SHA_2_512)),
    (6, set_of(integer(1)), "padding", (PaddingMode.NONE,)),
    (10, integer(1), "ec_curve", EcCurve.P_256),
    (11, integer(2), "ml_dsa_variant", MlDsaVariant.ML_DSA_87),
    (200, integer(65537), "rsa_public_exponent", 65537),
    (203, set_of(integer(2)), "mgf_digest", (Digest.SHA1,)),
    (303, NULL, "rollback_resistance", True),
    (305, NULL, "early_boot_only", True),
    (400, integer(1_700_000_000_000), "active_datetime", 1_700_000_000_000),
    (401, integer(1_800_000_000_000), "origination_expire_datetime", 1_800_000_000_000),
    (402, integer(1_900_000_000_000), "usage_expire_datetime", 1_900_000_000_000),
    (405, integer(42), "usage_count_limit", 42),
    (503, NULL, "no_auth_required", True),
    (504, integer(2), "user_auth_type", 2),
    (505, integer(300), "auth_timeout", 300),
    (506, NULL, "allow_while_on_body", True),
    (507, NULL, "trusted_user_presence_required", True),
    (508, NULL, "trusted_confirmation_required", True),
    (509, NULL, "unlocked_device_required", True),
    (600, NULL, "all_applications", True),
    (601, octets(b"app"), "application_id", b"app"),
    (701, integer(1_733_000_000_123), "creation_datetime", 1_733_000_000_123),
    (702, integer(0), "origin", KeyOrigin.GENERATED),
    (703, NULL, "rollback_resistant", True),
    (704, root_of_trust(), "root_of_trust",
     RootOfTrust(BOOT_KEY, True, VerifiedBootState.VERIFIED, BOOT_HASH)),
    (705, integer(150000), "os_version", 150000),
    (706, integer(202511), "os_patch_level", 202511),
    (709, octets(APP_ID), "attestation_application_id",
     AttestationApplicationId((("org.example.ptt", 4242),), (APP_DIGEST,))),
    (710, octets(b"google"), "attestation_id_brand", "google"),
    (711, octets(b"caiman"), "attestation_id_device", "caiman"),
    (712, octets(b"caiman_p"), "attestation_id_product", "caiman_p"),
    (713, octets(b"SER1234"), "attestation_id_serial", "SER1234"),
    (714, octets(b"490154203237518"), "attestation_id_imei", "490154203237518"),
    (715, octets(b"A0000000000001"), "attestation_id_meid", "A0000000000001"),
    (716, octets(b"Google"), "attestation_id_manufacturer", "Google"),
    (717, octets(b"Pixel 9 Pro"), "attestation_id_model", "Pixel 9 Pro"),
    (718, integer(20251105), "vendor_patch_level", 20251105),
    (719, integer(202511), "boot_patch_level", 202511),
    (720, NULL, "device_unique_attestation", True),
    (723, octets(b"490154203237526"), "attestation_id_second_imei", "490154203237526"),
    (724, octets(b"\xaa" * 32), "module_hash", b"\xaa" * 32),
]


def test_every_authorization_list_field_is_decoded_at_its_tag() -> None:
    der = key_description(seq(*(tagged(tag, value) for tag, value, _, _ in EVERY_FIELD)))
    kd = decode_key_description(der)
    for _, _, attribute, expected in EVERY_FIELD:
        assert getattr(kd.hardware_enforced, attribute) == expected, attribute
    assert kd.software_enforced == AuthorizationList()
    # Every field of the dataclass is covered by the list above.
    assert {a for _, _, a, _ in EVERY_FIELD} | {"unknown_tags"} == set(
        AuthorizationList.__dataclass_fields__)
    assert (kd.attestation_version, kd.keymint_version) == (400, 400)
    assert kd.attestation_security_level is SecurityLevel.TRUSTED_ENVIRONMENT
    assert (kd.attestation_challenge, kd.unique_id) == (b"nonce-123", b"\x01\x02")


def _full_description(version: int) -> KeyDescription:
    hardware = AuthorizationList(
        purpose=(KeyPurpose.SIGN,), algorithm=Algorithm.EC, key_size=256,
        digest=(Digest.SHA_2_256,), ec_curve=EcCurve.P_256, no_auth_required=True,
        origin=KeyOrigin.GENERATED,
        root_of_trust=RootOfTrust(BOOT_KEY, False, VerifiedBootState.UNVERIFIED,
                                  BOOT_HASH if version >= 3 else None),
        os_version=140000, os_patch_level=202408, vendor_patch_level=20240805,
        boot_patch_level=20240805, attestation_id_imei="351163520096208",
        attestation_id_second_imei="351163520096216" if version >= 300 else None,
        attestation_id_brand="google", attestation_id_model="Pixel 8a")
    software = AuthorizationList(
        creation_datetime=1_727_389_885_676,
        attestation_application_id=AttestationApplicationId(
            (("org.example.ptt", 7), ("org.example.shared", 1)),
            (BOOT_KEY, APP_DIGEST)))  # a SET OF: in DER order (X.690 clause 11.6)
    return KeyDescription(version, SecurityLevel.STRONGBOX, version, SecurityLevel.STRONGBOX,
                          b"challenge", b"", software, hardware)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 100, 200, 300, 400, 500])
def test_every_version_decodes_every_field(version: int) -> None:
    # Every field through the encoder and back...
    kd = _full_description(version)
    assert decode_key_description(encode_key_description(kd)) == kd
    # The same by hand for the fields that differ between versions.
    rot = root_of_trust(locked=b"\x01\x01\x00", state=2, with_hash=version >= 3)
    by_hand = key_description(seq(tagged(704, rot), tagged(714, octets(b"351163520096208"))),
                              version=version, level=2)
    decoded = decode_key_description(by_hand)
    assert decoded.attestation_version == version
    assert decoded.attestation_security_level is SecurityLevel.STRONGBOX
    assert decoded.root_of_trust == RootOfTrust(BOOT_KEY, False, VerifiedBootState.UNVERIFIED,
                                                BOOT_HASH if version >= 3 else None)
    assert decoded.imeis == ("351163520096208",)


def test_encoder_writes_the_schema_by_hand() -> None:
    kd = KeyDescription(3, SecurityLevel.TRUSTED_ENVIRONMENT, 4,
                        SecurityLevel.TRUSTED_ENVIRONMENT, b"abc", b"",
                        AuthorizationList(creation_datetime=5),
                        AuthorizationList(purpose=(KeyPurpose.VERIFY, KeyPurpose.SIGN),
                                          os_patch_level=202511))
    assert encode_key_description(kd) == seq(
        integer(3), enumerated(1), integer(4), enumerated(1), octets(b"abc"), octets(b""),
        seq(tagged(701, integer(5))),
        # SET OF sorted (X.690 clause 11.6), tags in ascending order
        seq(tagged(1, set_of(integer(2), integer(3))), tagged(706, integer(202511))))


def test_accessors_prefer_the_hardware_enforced_value() -> None:
    sw_rot = RootOfTrust(b"\x00" * 32, False, VerifiedBootState.UNVERIFIED, None)
    hw_rot = RootOfTrust(BOOT_KEY, True, VerifiedBootState.VERIFIED, BOOT_HASH)
    kd = KeyDescription(
        300, SecurityLevel.TRUSTED_ENVIRONMENT, 300, SecurityLevel.TRUSTED_ENVIRONMENT, b"",
        b"", AuthorizationList(root_of_trust=sw_rot, os_patch_level=201801,
                               os_version=90000, attestation_id_imei="111111111111111"),
        AuthorizationList(root_of_trust=hw_rot, os_patch_level=202511,
                          vendor_patch_level=20251105, boot_patch_level=20251101,
                          attestation_id_imei="490154203237518",
                          attestation_id_second_imei="490154203237526"))
    assert kd.root_of_trust == hw_rot
    assert (kd.os_patch_level, kd.vendor_patch_level, kd.boot_patch_level) == (
        202511, 20251105, 20251101)
    assert kd.os_version == 90000  # only the software list has it
    assert kd.imeis == ("490154203237518", "490154203237526")
    assert kd.hardware_backed
    assert kd.attestation_application_id is None
    software_only = KeyDescription(300, SecurityLevel.SOFTWARE, 300, SecurityLevel.SOFTWARE,
                                   b"", b"", AuthorizationList(root_of_trust=sw_rot),
                                   AuthorizationList())
    assert software_only.root_of_trust == sw_rot and not software_only.hardware_backed


def test_patch_levels_as_dates() -> None:
    assert patch_level_date(202511) == dt.date(2025, 11, 1)
    assert patch_level_date(20251105) == dt.date(2025, 11, 5)
    assert patch_level_date(20251100) == dt.date(2025, 11, 1)
    assert patch_level_date(0) is None


def test_creation_time_is_utc() -> None:
    auth = AuthorizationList(creation_datetime=1_733_000_000_123)
    assert auth.creation_time == dt.datetime(2024, 11, 30, 20, 53, 20, 123000, tzinfo=dt.UTC)
    assert AuthorizationList().creation_time is None


def test_unknown_tags_are_kept_not_refused() -> None:
    kd = decode_key_description(key_description(seq(tagged(706, integer(202511)),
                                                     tagged(900, integer(1)))))
    assert kd.hardware_enforced.unknown_tags == (900,)
    assert kd.os_patch_level == 202511


def test_tags_in_any_order_and_ber_booleans_are_read() -> None:
    # Both seen from real devices; Google's reference verifier reads them too.
    kd = decode_key_description(key_description(seq(
        tagged(706, integer(202511)), tagged(1, set_of(integer(2))),
        tagged(704, root_of_trust(locked=b"\x01\x01\x01")))))
    assert kd.hardware_enforced.purpose == (KeyPurpose.SIGN,)
    assert kd.root_of_trust is not None and kd.root_of_trust.device_locked


HW = "keyDescription.hardwareEnforced"
BAD: list[tuple[str, bytes, str, str]] = [
    ("not a sequence", octets(b"x"), "keyDescription", "not a SEQUENCE"),
    ("length beyond the value", b"\x30\x20" + integer(3), "keyDescription", "malformed"),
    ("trailing bytes", key_description(seq()) + b"\x00", "keyDescription", "malformed"),
    ("empty", b"", "keyDescription", "malformed"),
    ("seven elements", seq(integer(3), enumerated(1), integer(4), enumerated(1),
                           octets(b""), octets(b""), seq()), "keyDescription", "7 elements"),
    ("challenge as an INTEGER",
     seq(integer(3), enumerated(1), integer(4), enumerated(1), integer(5), octets(b""),
         seq(), seq()), "keyDescription.attestationChallenge", "malformed"),
    ("version as an OCTET STRING",
     seq(octets(b"\x03"), enumerated(1), integer(4), enumerated(1), octets(b""),
         octets(b""), seq(), seq()), "keyDescription.attestationVersion", "malformed"),
    ("unknown version", key_description(seq(), version=5), "keyDescription.attestationVersion",
     "unknown attestation version 5"),
    ("negative version", key_description(seq(), version=-1),
     "keyDescription.attestationVersion", "out of range"),
    ("security level 3", key_description(seq(), level=3),
     "keyDescription.attestationSecurityLevel", "not a SecurityLevel"),
    ("security level as INTEGER",
     seq(integer(3), integer(1), integer(4), enumerated(1), octets(b""), octets(b""), seq(),
         seq()), "keyDescription.attestationSecurityLevel", "malformed"),
    ("hardwareEnforced not a SEQUENCE", seq(integer(3), enumerated(1), integer(4),
                                            enumerated(1), octets(b""), octets(b""), seq(),
                                            set_of()), HW, "not a SEQUENCE"),
    ("untagged element", key_description(seq(integer(3))), f"{HW}[0]",
     "not an EXPLICIT context-specific tag"),
    ("implicit (primitive) tag", key_description(seq(b"\x83\x02\x01\x00")), f"{HW}[0]",
     "not an EXPLICIT"),
    ("element longer than the list", key_description(seq(b"\xbf\x85\x42\x09\x02\x03\x03\x17")),
     HW, "malformed"),
    ("osPatchLevel as OCTET STRING", key_description(seq(tagged(706, octets(b"202511")))),
     f"{HW}.osPatchLevel", "malformed"),
    ("osPatchLevel month 13", key_description(seq(tagged(706, integer(202513)))),
     f"{HW}.osPatchLevel", "202513 is not a patch level"),
    ("osPatchLevel with a day", key_description(seq(tagged(706, integer(20251105)))),
     f"{HW}.osPatchLevel", "not a patch level (YYYYMM)"),
    ("vendorPatchLevel day 32", key_description(seq(tagged(718, integer(20251132)))),
     f"{HW}.vendorPatchLevel", "not a patch level"),
    ("INTEGER without content", key_description(seq(tagged(3, b"\x02\x00"))),
     f"{HW}.keySize", "without content octets"),
    ("purpose INTEGER without content", key_description(seq(tagged(1, set_of(b"\x02\x00")))),
     f"{HW}.purpose[0]", "without content octets"),
    ("keySize beyond uint32", key_description(seq(tagged(3, integer(2**32)))),
     f"{HW}.keySize", "out of range"),
    ("negative osVersion", key_description(seq(tagged(705, integer(-1)))),
     f"{HW}.osVersion", "out of range"),
    ("creationDateTime beyond uint64", key_description(seq(), seq(tagged(701, integer(2**64)))),
     "keyDescription.softwareEnforced.creationDateTime", "out of range"),
    ("unknown purpose", key_description(seq(tagged(1, set_of(integer(2), integer(9))))),
     f"{HW}.purpose[1]", "9 is not a KeyPurpose"),
    ("purpose not a SET", key_description(seq(tagged(1, integer(2)))), f"{HW}.purpose",
     "malformed"),
    ("unknown algorithm", key_description(seq(tagged(2, integer(7)))), f"{HW}.algorithm",
     "7 is not a Algorithm"),
    ("unknown curve", key_description(seq(tagged(10, integer(9)))), f"{HW}.ecCurve",
     "not a EcCurve"),
    ("unknown origin", key_description(seq(tagged(702, integer(5)))), f"{HW}.origin",
     "not a KeyOrigin"),
    ("NULL with content", key_description(seq(tagged(503, b"\x05\x01\x00"))),
     f"{HW}.noAuthRequired", "a NULL with content"),
    ("two values in one tag", key_description(seq(tagged(705, integer(1) + integer(2)))),
     f"{HW}.osVersion", "malformed"),
    ("tag twice", key_description(seq(tagged(705, integer(1)), tagged(705, integer(1)))),
     f"{HW}.osVersion", "appears twice"),
    ("unknown tag twice", key_description(seq(tagged(900, NULL), tagged(900, NULL))),
     f"{HW}[1]", "tag [900] appears twice"),
    ("rootOfTrust without the boot hash in version 3",
     key_description(seq(tagged(704, root_of_trust(with_hash=False))), version=3),
     f"{HW}.rootOfTrust.verifiedBootHash", "missing"),
    ("rootOfTrust with a boot hash in version 2",
     key_description(seq(tagged(704, root_of_trust())), version=2),
     f"{HW}.rootOfTrust.verifiedBootHash", "present in attestation version 2"),
    ("boot state 4", key_description(seq(tagged(704, root_of_trust(state=4)))),
     f"{HW}.rootOfTrust.verifiedBootState", "4 is not a VerifiedBootState"),
    ("deviceLocked as INTEGER",
     key_description(seq(tagged(704, root_of_trust(locked=integer(1))))),
     f"{HW}.rootOfTrust", "malformed"),
    ("rootOfTrust truncated", key_description(seq(tagged(704, b"\x30\x40" + octets(BOOT_KEY)))),
     f"{HW}.rootOfTrust", "malformed"),
    ("rootOfTrust with a fifth element",
     key_description(seq(tagged(704, seq(octets(BOOT_KEY), TRUE, enumerated(0),
                                         octets(BOOT_HASH), integer(1))))),
     f"{HW}.rootOfTrust", "5 elements; the schema has 4"),
    ("application id with a third element",
     key_description(seq(), seq(tagged(709, octets(seq(set_of(), set_of(), integer(1)))))),
     "keyDescription.softwareEnforced.attestationApplicationId", "3 elements"),
    ("package info with a third element", key_description(seq(), seq(tagged(709, octets(seq(
        set_of(seq(octets(b"a"), integer(1), integer(2))), set_of()))))),
     "keyDescription.softwareEnforced.attestationApplicationId.packageInfos", "3 elements"),
    ("application id not DER",
     key_description(seq(), seq(tagged(709, octets(b"\x30\x05\x31")))),
     "keyDescription.softwareEnforced.attestationApplicationId", "malformed"),
    ("application id as SEQUENCE, not OCTET STRING",
     key_description(seq(), seq(tagged(709, APP_ID))),
     "keyDescription.softwareEnforced.attestationApplicationId", "malformed"),
    ("package name not UTF-8", key_description(seq(), seq(tagged(709, octets(seq(
        set_of(seq(octets(b"\xff\xfe"), integer(1))), set_of()))))),
     "keyDescription.softwareEnforced.attestationApplicationId.packageInfos[0].packageName",
     "not UTF-8"),
    ("negative package version", key_description(seq(), seq(tagged(709, octets(seq(
        set_of(seq(octets(b"a"), integer(-1))), set_of()))))),
     "keyDescription.softwareEnforced.attestationApplicationId.packageInfos[0].version",
     "out of range"),
    ("IMEI not UTF-8", key_description(seq(tagged(714, octets(b"\xc3\x28")))),
     f"{HW}.attestationIdImei", "not UTF-8"),
    ("IMEI as INTEGER", key_description(seq(tagged(714, integer(490154203237518)))),
     f"{HW}.attestationIdImei", "malformed"),
]


@pytest.mark.parametrize(("der", "field", "message"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_malformed_key_descriptions_are_refused_with_their_field(
        der: bytes, field: str, message: str) -> None:
    with pytest.raises(AttestationInvalid) as caught:
        decode_key_description(der)
    assert caught.value.reason == "ME_ATTESTATION_INVALID"
    assert caught.value.field == field
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{field}: ")
    assert caught.value.exit_code == 2
