"""Real attestation chains that Google published (tests/data/android_attestation, see its
PROVENANCE.md): each verifies to Google's root at an instant when it was valid, and
every field decodes to what the publisher's own decoding (the ``.json`` beside it), its
own test, or our reading of the DER with ``openssl asn1parse`` says."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import random
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from attest.android.chain import (
    DEVICE_KEY_ALGORITHMS,
    KEY_DESCRIPTION_OID,
    key_description_of,
    load_chain,
    verify_chain,
)
from attest.android.errors import AttestationInvalid
from attest.android.keydescription import (
    AttestationApplicationId,
    AuthorizationList,
    KeyDescription,
    RootOfTrust,
    SecurityLevel,
    VerifiedBootState,
    decode_key_description,
)
from attest.android.roots import google_roots
from attest.android.status import StatusList

DATA = Path(__file__).parent / "data" / "android_attestation"
RSA_ROOT = "serialNumber=f92009e853b6b045"
EC_ROOT = "C=US,O=Google LLC,OU=Android,CN=Key Attestation CA1"


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# chain, an instant inside its certificates' validity, root, leaf key, factory-provisioned
REAL = [
    ("caiman_sdk36_TEE_EC_RKP", "2025-09-29", RSA_ROOT, "ecdsa-p256", False),
    ("caiman_sdk36_SB_EC_RKP", "2025-09-29", RSA_ROOT, "ecdsa-p256", False),
    ("tegu_sdk36_TEE_EC_2026_ROOT", "2026-03-01", EC_ROOT, "ecdsa-p256", False),
    ("tegu_sdk36_SB_EC_2026_ROOT", "2026-03-01", EC_ROOT, "ecdsa-p256", False),
    ("tegu_sdk37_TEE_MAX_USAGE_COUNT", "2026-07-10", EC_ROOT, "ecdsa-p256", False),
    ("tokay_sdk37_TEE_MLDSA_RKP", "2026-05-02", EC_ROOT, "mldsa65", False),
    ("akita_sdk34_TEE_RSA_BASE-IMEI", "2024-09-25", RSA_ROOT, "rsa-2048", False),
    ("akita_sdk34_TEE_EC_NONE", "2024-09-25", RSA_ROOT, "ecdsa-p256", False),
    ("blueline_sdk28_TEE_EC_NONE", "2022-06-23", RSA_ROOT, "ecdsa-p256", True),
    ("sony-xperia10-iii_sdk33_TEE_EC", "2021-05-25", RSA_ROOT, "ecdsa-p256", True),
    ("sample_algorithm_EC_SecurityLevel_TEE", "2019-06-01", RSA_ROOT, "ecdsa-p256", True),
    ("invalid_malformed_rot_device_locked", "2026-01-12", RSA_ROOT, "ecdsa-p256", True),
]


def chain(name: str) -> list[Any]:
    return load_chain((DATA / f"{name}.pem").read_bytes())


@pytest.mark.parametrize(("name", "at", "root", "key", "factory"), REAL,
                         ids=[r[0] for r in REAL])
def test_real_chain_verifies_to_googles_root(name: str, at: str, root: str, key: str,
                                             factory: bool) -> None:
    result = verify_chain(chain(name), google_roots(), None, utc(at))
    assert (result.root_name, result.leaf_key_algorithm, result.factory_provisioned) == (
        root, key, factory)
    assert result.expired_accepted == ()
    assert result.key_description.hardware_backed


# ---- field by field against Google's own decoding ----

def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _as_google_json(auth: AuthorizationList) -> dict[str, Any]:
    """Our decoding written the way Google's testdata .json files write theirs."""
    numbers = {"algorithm": "algorithms", "key_size": "keySize", "ec_curve": "ecCurve",
               "ml_dsa_variant": "mlDsaVariant", "rsa_public_exponent": "rsaPublicExponent",
               "active_datetime": "activeDateTime",
               "origination_expire_datetime": "originationExpireDateTime",
               "usage_expire_datetime": "usageExpireDateTime",
               "usage_count_limit": "usageCountLimit", "user_auth_type": "userAuthType",
               "auth_timeout": "authTimeout", "creation_datetime": "creationDateTime",
               "os_version": "osVersion", "os_patch_level": "osPatchLevel",
               "vendor_patch_level": "vendorPatchLevel", "boot_patch_level": "bootPatchLevel"}
    sets = {"purpose": "purposes", "digest": "digests", "padding": "paddings",
            "block_mode": "blockModes", "mgf_digest": "rsaOaepMgfDigests"}
    flags = {"no_auth_required": "noAuthRequired", "allow_while_on_body": "allowWhileOnBody",
             "trusted_user_presence_required": "trustedUserPresenceRequired",
             "trusted_confirmation_required": "trustedConfirmationRequired",
             "unlocked_device_required": "unlockedDeviceRequired",
             "rollback_resistant": "rollbackResistant"}
    texts = {"attestation_id_brand": "attestationIdBrand",
             "attestation_id_device": "attestationIdDevice",
             "attestation_id_product": "attestationIdProduct",
             "attestation_id_serial": "attestationIdSerial",
             "attestation_id_imei": "attestationIdImei",
             "attestation_id_second_imei": "attestationIdSecondImei",
             "attestation_id_meid": "attestationIdMeid",
             "attestation_id_manufacturer": "attestationIdManufacturer",
             "attestation_id_model": "attestationIdModel"}
    out: dict[str, Any] = {}
    for attr, key in numbers.items():
        if getattr(auth, attr) is not None:
            out[key] = str(int(getattr(auth, attr)))
    for attr, key in sets.items():
        if getattr(auth, attr):
            out[key] = [str(int(v)) for v in getattr(auth, attr)]
    for attr, key in flags.items():
        if getattr(auth, attr):
            out[key] = True
    for attr, key in texts.items():
        if getattr(auth, attr) is not None:
            out[key] = getattr(auth, attr)
    if auth.origin is not None:
        out["origin"] = auth.origin.name
    if auth.module_hash is not None:
        out["moduleHash"] = _b64(auth.module_hash)
    rot = auth.root_of_trust
    if rot is not None:
        out["rootOfTrust"] = {"verifiedBootKey": _b64(rot.verified_boot_key),
                              "deviceLocked": rot.device_locked,
                              "verifiedBootState": rot.verified_boot_state.name,
                              "verifiedBootHash": _b64(rot.verified_boot_hash)}
    app = auth.attestation_application_id
    if app is not None:
        out["attestationApplicationId"] = {
            "packages": [{"name": n, "version": str(v)} for n, v in app.packages],
            "signatures": [_b64(d) for d in app.signature_digests]}
    return out


LEVEL = {SecurityLevel.SOFTWARE: "SOFTWARE",  # as Google's .json files name them
         SecurityLevel.TRUSTED_ENVIRONMENT: "TRUSTED_ENVIRONMENT",
         SecurityLevel.STRONGBOX: "STRONG_BOX"}
WITH_JSON = sorted(p.stem for p in DATA.glob("*.json"))


@pytest.mark.parametrize("name", WITH_JSON)
def test_real_chain_decodes_as_google_decodes_it(name: str) -> None:
    expected = json.loads((DATA / f"{name}.json").read_text())
    kd = key_description_of(chain(name)[0])  # unverified: marlin's root is not trusted
    assert kd is not None
    assert str(kd.attestation_version) == expected["attestationVersion"]
    assert LEVEL[kd.attestation_security_level] == expected["attestationSecurityLevel"]
    assert str(kd.keymint_version) == expected["keyMintVersion"]
    assert LEVEL[kd.keymint_security_level] == expected["keyMintSecurityLevel"]
    assert _b64(kd.attestation_challenge) == expected["attestationChallenge"]
    assert _b64(kd.unique_id) == expected["uniqueId"]
    for ours, theirs in ((kd.software_enforced, expected["softwareEnforced"]),
                         (kd.hardware_enforced, expected["hardwareEnforced"])):
        theirs = {k: v for k, v in theirs.items() if k != "areTagsOrdered"}  # their own flag
        assert _as_google_json(ours) == theirs
        assert ours.unknown_tags == ()


def test_pixel_9a_read_by_hand() -> None:
    """tegu_sdk36_TEE_EC_2026_ROOT (upstream's .json is empty): values read with
    ``openssl asn1parse -strparse`` on the leaf's extension."""
    kd = verify_chain(chain("tegu_sdk36_TEE_EC_2026_ROOT"), google_roots(), None,
                      utc("2026-03-01")).key_description
    assert kd == KeyDescription(
        attestation_version=0x190, attestation_security_level=SecurityLevel(1),
        keymint_version=0x190, keymint_security_level=SecurityLevel(1),
        attestation_challenge=b"6417f92c-daef-4cc1-8828-5bb39338ffd5", unique_id=b"",
        software_enforced=AuthorizationList(
            creation_datetime=0x019C8D2560F4,
            attestation_application_id=AttestationApplicationId(
                (("com.google.android.attestation", 0),),
                (bytes.fromhex("103938EE4537E59E8EE792F654504FB8"
                               "346FC6B346D0BBC4415FC339FCFC8EC1"),)),
            module_hash=bytes.fromhex("F4B818A9E5D2EF5CB28D60DAA6098BAB"
                                      "CBDF23FF6E80778EF82D7E41EF48965E")),
        hardware_enforced=AuthorizationList(
            purpose=(2, 3), algorithm=3, key_size=0x100, digest=(4,), ec_curve=1,
            no_auth_required=True, origin=0,
            root_of_trust=RootOfTrust(
                bytes.fromhex("3327AF62D84AB897AF2523A16DCB5801"
                              "E60C5D5B97F41CA1BD099C4784F7B743"), True, VerifiedBootState(0),
                bytes.fromhex("ECEC32AFD4F465FC889F3ED20E6F79AA"
                              "CA1FD1AB3ADF9D7F197ECABB0C9A3856")),
            os_version=0x027100, os_patch_level=0x03176A, vendor_patch_level=0x0135256D,
            boot_patch_level=0x0135256D))
    assert (kd.os_version, kd.os_patch_level, kd.boot_patch_level) == (160000, 202602,
                                                                       20260205)


def test_googles_sample_record_as_its_own_test_states() -> None:
    # google/android-key-attestation ParsedAttestationRecordTest: version 3, Keymaster 4,
    # TEE for both, challenge "abc", empty unique id.
    kd = verify_chain(chain("sample_algorithm_EC_SecurityLevel_TEE"), google_roots(), None,
                      utc("2019-06-01")).key_description
    assert (kd.attestation_version, kd.keymint_version, kd.attestation_challenge,
            kd.unique_id) == (3, 4, b"abc", b"")
    assert kd.attestation_security_level is kd.keymint_security_level is \
        SecurityLevel.TRUSTED_ENVIRONMENT


def test_attested_imeis_of_a_real_pixel() -> None:
    kd = verify_chain(chain("akita_sdk34_TEE_RSA_BASE-IMEI"), google_roots(), None,
                      utc("2024-09-25")).key_description
    assert kd.imeis == ("351163520096208", "351163520096216")
    assert kd.root_of_trust is not None and not kd.root_of_trust.device_locked


# ---- real chains refused ----

def test_a_real_rsa_leaf_is_refused_as_a_device_key() -> None:
    with pytest.raises(AttestationInvalid) as caught:
        verify_chain(chain("akita_sdk34_TEE_RSA_BASE-IMEI"), google_roots(), None,
                     utc("2024-09-25"), DEVICE_KEY_ALGORITHMS)
    assert caught.value.field == "chain[0].subjectPublicKeyInfo"


def test_a_real_leaf_edited_after_signing_is_refused() -> None:
    with pytest.raises(AttestationInvalid) as caught:
        verify_chain(chain("invalid_tags_not_in_ascending_order"), google_roots(), None,
                     utc("2027-01-01"))
    assert (caught.value.reason, caught.value.field) == ("ME_ATTESTATION_INVALID",
                                                         "chain[0].signature")


def test_the_software_attestation_root_is_not_trusted() -> None:
    with pytest.raises(AttestationInvalid) as caught:
        verify_chain(chain("marlin_sdk29_TEE_EC_NONE"), google_roots(), None,
                     utc("2021-01-09"))
    assert caught.value.field == "chain[2]" and "not a trusted root" in caught.value.message


def test_a_leaf_that_breaks_rfc_5758_is_refused_as_unreadable() -> None:
    # ecdsa-with-SHA256 with parameters (a 2018 StrongBox implementation): one clear line.
    with pytest.raises(AttestationInvalid) as caught:
        chain("sample_algorithm_EC_SecurityLevel_StrongBox")
    assert (caught.value.reason, caught.value.field) == ("ME_ATTESTATION_INVALID", "chain[0]")
    assert caught.value.message.startswith("not an X.509 certificate")


def test_remotely_provisioned_certificates_expire() -> None:
    # RKP intermediates live days to weeks: the same chain is refused once they expired.
    with pytest.raises(AttestationInvalid) as caught:
        verify_chain(chain("caiman_sdk36_TEE_EC_RKP"), google_roots(), None,
                     utc("2025-10-04"))
    assert caught.value.field == "chain[1].validity" and "expired" in caught.value.message


def test_expired_factory_certificates_are_accepted() -> None:
    # Sony's factory chain expired 2026-05-24, with the 2016 issuance of Google's root
    # (chain[3]): the root is trusted by its key, so only chain[1] and chain[2] count.
    result = verify_chain(chain("sony-xperia10-iii_sdk33_TEE_EC"), google_roots(), None,
                          utc("2026-12-07"))
    assert result.factory_provisioned and result.expired_accepted == (1, 2)
    assert result.root_name == RSA_ROOT


def test_a_real_intermediate_in_the_status_list_is_revoked() -> None:
    certificates = chain("caiman_sdk36_TEE_EC_RKP")
    status = StatusList.from_json(json.dumps({"entries": {
        "ed74866372b0791cf1478b39fad0f755593ad3": {"status": "REVOKED",
                                                   "reason": "KEY_COMPROMISE"}}}).encode())
    with pytest.raises(AttestationInvalid) as caught:
        verify_chain(certificates, google_roots(), status, utc("2025-09-29"))
    assert (caught.value.reason, caught.value.field) == ("ME_ATTESTATION_REVOKED",
                                                         "chain[2].serialNumber")


def test_mutated_real_chains_are_refused_with_a_field_never_a_crash() -> None:
    # Bytes changed at random in a real chain (DER) and in its KeyDescription: every
    # outcome is a verified chain or AttestationInvalid — never another exception, which
    # the service would answer with a 5xx.  (A changed byte can only pass inside the root
    # certificate outside its key: the anchor is the key.)
    rng = random.Random(20)
    certificates = chain("caiman_sdk36_TEE_EC_RKP")
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certificates]
    whole = b"".join(ders)
    extension = certificates[0].extensions.get_extension_for_oid(KEY_DESCRIPTION_OID).value
    assert isinstance(extension, x509.UnrecognizedExtension)
    passed_outside_root = 0
    for _ in range(600):
        data = bytearray(whole)
        position = rng.randrange(len(data))
        data[position] ^= rng.randrange(1, 256)
        try:
            with warnings.catch_warnings():  # a serial made negative: cryptography warns
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                verify_chain(load_chain(bytes(data)), google_roots(), None,
                             utc("2025-09-29"))
        except AttestationInvalid:
            continue
        passed_outside_root += position < len(whole) - len(ders[-1])
    assert passed_outside_root == 0
    for _ in range(2000):
        kd = bytearray(extension.value)
        for _ in range(rng.randint(1, 3)):
            kd[rng.randrange(len(kd))] = rng.randrange(256)
        with contextlib.suppress(AttestationInvalid):
            decode_key_description(bytes(kd))
