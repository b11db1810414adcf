"""The KeyDescription extension of an Android attestation certificate, decoded and typed.

Schema: AOSP "Key and ID attestation", *Attestation extension* (OID
1.3.6.1.4.1.11129.2.1.17), and KeyMint's ``KeyDescription``/``AuthorizationList``
(``hardware/interfaces/security/keymint``), attestation versions 1 (Keymaster 2),
2 (Keymaster 3), 3 (Keymaster 4), 4 (Keymaster 4.1), 100, 200, 300 and 400 (KeyMint 1
to 4), and 500 (Android 17's KeyMint, which adds ``mlDsaVariant [11]``; read as Google's
reference verifier ``android/keyattestation`` reads it)::

    KeyDescription ::= SEQUENCE {
        attestationVersion INTEGER, attestationSecurityLevel SecurityLevel,
        keyMintVersion INTEGER, keyMintSecurityLevel SecurityLevel,
        attestationChallenge OCTET STRING, uniqueId OCTET STRING,
        softwareEnforced AuthorizationList, hardwareEnforced AuthorizationList }
    SecurityLevel ::= ENUMERATED { Software(0), TrustedEnvironment(1), StrongBox(2) }
    AuthorizationList ::= SEQUENCE { purpose [1] EXPLICIT SET OF INTEGER OPTIONAL, ...
        rootOfTrust [704] EXPLICIT RootOfTrust OPTIONAL, ... }   -- see _FIELDS
    RootOfTrust ::= SEQUENCE { verifiedBootKey OCTET STRING, deviceLocked BOOLEAN,
        verifiedBootState VerifiedBootState,
        verifiedBootHash OCTET STRING }                          -- version 3 and later
    VerifiedBootState ::= ENUMERATED { Verified(0), SelfSigned(1), Unverified(2),
        Failed(3) }
    AttestationApplicationId ::= SEQUENCE {                      -- inside [709]'s OCTETs
        packageInfos SET OF AttestationPackageInfo, signatureDigests SET OF OCTET STRING }
    AttestationPackageInfo ::= SEQUENCE { packageName OCTET STRING, version INTEGER }

Decoding rules (each violation is ``AttestationInvalid`` with the field's dotted path):

- the KeyDescription has exactly its eight elements with their universal tags; the
  attestation version is one of the documented ones; security levels and boot states
  are values of their enumerations;
- an AuthorizationList element is a context-specific, constructed (EXPLICIT) tag; a
  known tag must hold its documented type, each tag at most once.  Elements are
  accepted in any order and an *unknown* tag number is kept in ``unknown_tags`` rather
  than refused — as the AOSP reference parsers do, so a newer KeyMint's additions do
  not break a verifier (the attestation version still has to be a known one);
- integers are within their KeyMint types (uint32 for sizes, versions and patch levels,
  uint64 for millisecond times); KeyMint enumerations (purpose, algorithm, digest,
  padding, curve, origin) must be documented values; patch levels must read as dates
  (``YYYYMM`` for the OS, ``YYYYMM`` or ``YYYYMMDD`` for vendor and boot, 0 = unknown);
- texts (package names, attestation IDs) are UTF-8; a BOOLEAN is read as BER (any
  non-zero octet is true): some devices encode ``deviceLocked`` as 0x01, and Google's
  reference verifier accepts it;
- from version 3 on ``rootOfTrust`` carries ``verifiedBootHash``; before, it must not;
  no SEQUENCE has elements beyond its fields (the schema has no extension marker), an
  INTEGER has at least one content octet (X.690 clause 8.3.1), a NULL none;
- a SET OF is kept in the order it is encoded (DER sorts it, X.690 clause 11.6).

The hardware-enforced list is what the TEE or StrongBox vouches for; the software-enforced
one is what Android's keystore service says.  The ``KeyDescription`` accessors
(``root_of_trust``, patch levels, ``imeis``…) return the hardware-enforced value when the
hardware list has it, else the software one: a caller that must not trust software
claims checks ``attestation_security_level`` (SOFTWARE means nothing is hardware-backed).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from asn1crypto import core, parser

from attest.android.errors import AttestationInvalid

OID = "1.3.6.1.4.1.11129.2.1.17"

#: attestationVersion → the Keymaster/KeyMint version that goes with it (AOSP docs).
ATTESTATION_VERSIONS = {1: 2, 2: 3, 3: 4, 4: 41, 100: 100, 200: 200, 300: 300, 400: 400,
                        500: 500}

_UINT32 = 2**32 - 1
_UINT64 = 2**64 - 1
_INT64 = 2**63 - 1
_ROOT = "keyDescription"


class SecurityLevel(enum.IntEnum):
    SOFTWARE = 0
    TRUSTED_ENVIRONMENT = 1
    STRONGBOX = 2


class VerifiedBootState(enum.IntEnum):
    VERIFIED = 0
    SELF_SIGNED = 1
    UNVERIFIED = 2
    FAILED = 3


class KeyPurpose(enum.IntEnum):
    ENCRYPT = 0
    DECRYPT = 1
    SIGN = 2
    VERIFY = 3
    DERIVE_KEY = 4
    WRAP_KEY = 5
    AGREE_KEY = 6
    ATTEST_KEY = 7


class Algorithm(enum.IntEnum):
    RSA = 1
    EC = 3
    ML_DSA = 4  # version 500 (Android 17)
    AES = 32
    TRIPLE_DES = 33
    HMAC = 128


class BlockMode(enum.IntEnum):
    ECB = 1
    CBC = 2
    CTR = 3
    GCM = 32


class MlDsaVariant(enum.IntEnum):
    ML_DSA_65 = 1
    ML_DSA_87 = 2


class Digest(enum.IntEnum):
    NONE = 0
    MD5 = 1
    SHA1 = 2
    SHA_2_224 = 3
    SHA_2_256 = 4
    SHA_2_384 = 5
    SHA_2_512 = 6


class PaddingMode(enum.IntEnum):
    NONE = 1
    RSA_OAEP = 2
    RSA_PSS = 3
    RSA_PKCS1_1_5_ENCRYPT = 4
    RSA_PKCS1_1_5_SIGN = 5
    PKCS7 = 64


class EcCurve(enum.IntEnum):
    P_224 = 0
    P_256 = 1
    P_384 = 2
    P_521 = 3
    CURVE_25519 = 4


class KeyOrigin(enum.IntEnum):
    GENERATED = 0
    DERIVED = 1
    IMPORTED = 2
    RESERVED = 3
    SECURELY_IMPORTED = 4


@dataclass(frozen=True, slots=True)
class RootOfTrust:
    """The device's boot state as the bootloader told the TEE."""

    verified_boot_key: bytes
    device_locked: bool
    verified_boot_state: VerifiedBootState
    verified_boot_hash: bytes | None = None  # version 3 and later


@dataclass(frozen=True, slots=True)
class AttestationApplicationId:
    """The app(s) that asked for the key: (package name, version code), signer digests."""

    packages: tuple[tuple[str, int], ...]
    signature_digests: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AuthorizationList:
    """One AuthorizationList; absent fields are None, empty, or False (NULL flags)."""

    purpose: tuple[KeyPurpose, ...] = ()
    algorithm: Algorithm | None = None
    key_size: int | None = None
    block_mode: tuple[BlockMode, ...] = ()
    digest: tuple[Digest, ...] = ()
    padding: tuple[PaddingMode, ...] = ()
    ec_curve: EcCurve | None = None
    ml_dsa_variant: MlDsaVariant | None = None  # version 500
    rsa_public_exponent: int | None = None
    mgf_digest: tuple[Digest, ...] = ()
    rollback_resistance: bool = False
    early_boot_only: bool = False
    active_datetime: int | None = None  # milliseconds since the epoch
    origination_expire_datetime: int | None = None
    usage_expire_datetime: int | None = None
    usage_count_limit: int | None = None
    no_auth_required: bool = False
    user_auth_type: int | None = None
    auth_timeout: int | None = None
    allow_while_on_body: bool = False
    trusted_user_presence_required: bool = False
    trusted_confirmation_required: bool = False
    unlocked_device_required: bool = False
    all_applications: bool = False
    application_id: bytes | None = None
    creation_datetime: int | None = None  # milliseconds since the epoch
    origin: KeyOrigin | None = None
    rollback_resistant: bool = False
    root_of_trust: RootOfTrust | None = None
    os_version: int | None = None  # MMmmss, e.g. 140000 for Android 14
    os_patch_level: int | None = None  # YYYYMM
    attestation_application_id: AttestationApplicationId | None = None
    attestation_id_brand: str | None = None
    attestation_id_device: str | None = None
    attestation_id_product: str | None = None
    attestation_id_serial: str | None = None
    attestation_id_imei: str | None = None
    attestation_id_meid: str | None = None
    attestation_id_manufacturer: str | None = None
    attestation_id_model: str | None = None
    vendor_patch_level: int | None = None  # YYYYMMDD (or YYYYMM)
    boot_patch_level: int | None = None  # YYYYMMDD (or YYYYMM)
    device_unique_attestation: bool = False
    attestation_id_second_imei: str | None = None
    module_hash: bytes | None = None
    unknown_tags: tuple[int, ...] = ()

    @property
    def creation_time(self) -> dt.datetime | None:
        """``creation_datetime`` as an aware UTC datetime."""
        if self.creation_datetime is None:
            return None
        return dt.datetime.fromtimestamp(self.creation_datetime / 1000, dt.UTC)


@dataclass(frozen=True, slots=True)
class KeyDescription:
    """The decoded extension.  ``keymint_version`` is keymasterVersion before version 100."""

    attestation_version: int
    attestation_security_level: SecurityLevel
    keymint_version: int
    keymint_security_level: SecurityLevel
    attestation_challenge: bytes
    unique_id: bytes
    software_enforced: AuthorizationList
    hardware_enforced: AuthorizationList

    def _first(self, name: str) -> Any:
        value = getattr(self.hardware_enforced, name)
        return value if value is not None else getattr(self.software_enforced, name)

    @property
    def root_of_trust(self) -> RootOfTrust | None:
        result: RootOfTrust | None = self._first("root_of_trust")
        return result

    @property
    def os_version(self) -> int | None:
        result: int | None = self._first("os_version")
        return result

    @property
    def os_patch_level(self) -> int | None:
        result: int | None = self._first("os_patch_level")
        return result

    @property
    def vendor_patch_level(self) -> int | None:
        result: int | None = self._first("vendor_patch_level")
        return result

    @property
    def boot_patch_level(self) -> int | None:
        result: int | None = self._first("boot_patch_level")
        return result

    @property
    def attestation_application_id(self) -> AttestationApplicationId | None:
        result: AttestationApplicationId | None = self._first("attestation_application_id")
        return result

    @property
    def imeis(self) -> tuple[str, ...]:
        """The attested IMEIs (ID attestation), first then second; empty when none."""
        found = (self._first("attestation_id_imei"), self._first("attestation_id_second_imei"))
        return tuple(i for i in found if i is not None)

    @property
    def hardware_backed(self) -> bool:
        return self.attestation_security_level is not SecurityLevel.SOFTWARE


def patch_level_date(level: int) -> dt.date | None:
    """A patch level (YYYYMM or YYYYMMDD) as the date it names (day 1 for YYYYMM);
    None for 0 (unknown)."""
    if level == 0:
        return None
    if level > 999999:
        year, month, day = level // 10000, level // 100 % 100, level % 100
    else:
        year, month, day = level // 100, level % 100, 1
    return dt.date(year, month, max(day, 1))


# ---- the ASN.1 schema (asn1crypto) ----

class _Enumerated(core.Integer):
    """ENUMERATED (X.690 clause 8.4) read as its integer, so that a value outside the
    enumeration is reported by the decoder with its field, not lost in the parser."""

    tag = 10


class _IntegerSet(core.SetOf):
    _child_spec = core.Integer


class _OctetStringSet(core.SetOf):
    _child_spec = core.OctetString


class _RootOfTrust(core.Sequence):
    _fields: ClassVar[list[Any]] = [
        ("verifiedBootKey", core.OctetString), ("deviceLocked", core.Boolean),
        ("verifiedBootState", _Enumerated),
        ("verifiedBootHash", core.OctetString, {"optional": True})]


class _PackageInfo(core.Sequence):
    _fields: ClassVar[list[Any]] = [("packageName", core.OctetString), ("version", core.Integer)]


class _PackageInfoSet(core.SetOf):
    _child_spec = _PackageInfo


class _AttestationApplicationId(core.Sequence):
    _fields: ClassVar[list[Any]] = [("packageInfos", _PackageInfoSet),
                                    ("signatureDigests", _OctetStringSet)]


@dataclass(frozen=True, slots=True)
class _Field:
    tag: int
    asn1_name: str
    attr: str
    spec: type[core.Asn1Value]
    decode: Callable[[core.Asn1Value, str, int], Any]
    encode: Callable[[Any], Any]


# ---- decoding helpers: (parsed value, field path, attestation version) → Python value ----

def _int_in(low: int, high: int) -> Callable[[core.Asn1Value, str, int], int]:
    def decode(value: core.Asn1Value, field: str, _version: int) -> int:
        number = _integer(value, field)
        if not low <= number <= high:
            raise AttestationInvalid(field, f"{number} is out of range {low}..{high}")
        return int(number)
    return decode


def _enum_of(kind: type[enum.IntEnum]) -> Callable[[core.Asn1Value, str, int], Any]:
    def decode(value: core.Asn1Value, field: str, _version: int) -> enum.IntEnum:
        return _member(kind, _integer(value, field), field)
    return decode


def _enum_set_of(kind: type[enum.IntEnum]) -> Callable[[core.Asn1Value, str, int], Any]:
    def decode(value: core.Asn1Value, field: str, _version: int) -> tuple[enum.IntEnum, ...]:
        return tuple(_member(kind, _integer(v, f"{field}[{i}]"), f"{field}[{i}]")
                     for i, v in enumerate(value))
    return decode


def _integer(value: core.Asn1Value, field: str) -> int:
    # X.690 clause 8.3.1: an INTEGER has at least one content octet (asn1crypto reads
    # none as 0).
    if not value.contents:
        raise AttestationInvalid(field, "an INTEGER without content octets")
    return int(value)


def _member(kind: type[enum.IntEnum], number: int, field: str) -> Any:
    try:
        return kind(number)
    except ValueError:
        raise AttestationInvalid(field, f"{number} is not a {kind.__name__} value") from None


def _flag(value: core.Asn1Value, field: str, _version: int) -> bool:
    if value.contents:
        raise AttestationInvalid(field, "a NULL with content")
    return True


def _octets(value: core.Asn1Value, _field: str, _version: int) -> bytes:
    return bytes(value.native)


def _text(value: core.Asn1Value, field: str, _version: int) -> str:
    return _utf8(bytes(value.native), field)


def _utf8(data: bytes, field: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AttestationInvalid(field, "is not UTF-8 text") from None


def _patch_level(with_day: bool) -> Callable[[core.Asn1Value, str, int], int]:
    def decode(value: core.Asn1Value, field: str, version: int) -> int:
        level = _int_in(0, _UINT32)(value, field, version)
        if level and not _is_patch_date(level, with_day):
            form = "YYYYMM or YYYYMMDD" if with_day else "YYYYMM"
            raise AttestationInvalid(field, f"{level} is not a patch level ({form})")
        return level
    return decode


def _is_patch_date(level: int, with_day: bool) -> bool:
    if with_day and level > 999999:
        year, month, day = level // 10000, level // 100 % 100, level % 100
    else:
        year, month, day = level // 100, level % 100, 1
    if not 1970 <= year <= 9999:
        return False
    try:
        dt.date(year, month, max(day, 1))
    except ValueError:
        return False
    return True


def _root_of_trust(value: core.Asn1Value, field: str, version: int) -> RootOfTrust:
    key = _child(value, "verifiedBootKey", f"{field}.verifiedBootKey")
    locked = _child(value, "deviceLocked", f"{field}.deviceLocked")
    state = _child(value, "verifiedBootState", f"{field}.verifiedBootState")
    boot_hash = _child(value, "verifiedBootHash", f"{field}.verifiedBootHash")
    has_hash = not isinstance(boot_hash, core.Void)
    if version >= 3 and not has_hash:
        raise AttestationInvalid(f"{field}.verifiedBootHash",
                                 f"missing (required from attestation version 3; "
                                 f"this is version {version})")
    if version < 3 and has_hash:
        raise AttestationInvalid(f"{field}.verifiedBootHash",
                                 f"present in attestation version {version} (added in 3)")
    return RootOfTrust(
        verified_boot_key=bytes(key.native), device_locked=bool(locked.native),
        verified_boot_state=_enum_of(VerifiedBootState)(state, f"{field}.verifiedBootState",
                                                        version),
        verified_boot_hash=bytes(boot_hash.native) if has_hash else None)


def _application_id(value: core.Asn1Value, field: str, _version: int) -> AttestationApplicationId:
    inner = _load(_AttestationApplicationId, bytes(value.native), field)
    infos = _child(inner, "packageInfos", f"{field}.packageInfos")
    digests = _child(inner, "signatureDigests", f"{field}.signatureDigests")
    packages = []
    for i, info in enumerate(_items(infos, f"{field}.packageInfos")):
        where = f"{field}.packageInfos[{i}]"
        name = _child(info, "packageName", f"{where}.packageName")
        version = _child(info, "version", f"{where}.version")
        packages.append((_utf8(bytes(name.native), f"{where}.packageName"),
                         _int_in(0, _INT64)(version, f"{where}.version", 0)))
    return AttestationApplicationId(
        packages=tuple(packages),
        signature_digests=tuple(bytes(d.native)
                                for d in _items(digests, f"{field}.signatureDigests")))


# What asn1crypto raises on bad input: ValueError mostly, the others from lazily parsed
# values of unexpected universal types (a REAL or an EXTERNAL where a field was expected).
_ASN1_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


def _child(value: core.Asn1Value, name: str, field: str) -> Any:
    """A Sequence's member, parsed now (asn1crypto parses lazily) so an error names it."""
    try:
        child = value[name]
        child.native  # noqa: B018 - forces the parse of the member's value
    except _ASN1_ERRORS as exc:
        raise AttestationInvalid(field, _why(exc)) from None
    return child


def _items(value: core.Asn1Value, field: str) -> list[Any]:
    try:
        items = list(value)
        for item in items:
            item.native  # noqa: B018 - forces the parse, see _child
            _no_extra_elements(item, field)
    except _ASN1_ERRORS as exc:
        raise AttestationInvalid(field, _why(exc)) from None
    return items


def _no_extra_elements(value: core.Asn1Value, field: str) -> None:
    # asn1crypto keeps elements beyond a SEQUENCE's fields without a word; the schema has
    # no extension marker, so they are refused.
    if isinstance(value, core.Sequence) and value._fields and \
            len(value.children) > len(value._fields):
        raise AttestationInvalid(field, f"{len(value.children)} elements; the schema has "
                                        f"{len(value._fields)}")


def _why(exc: Exception) -> str:
    return f"malformed ASN.1 ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"


def _load(spec: type[core.Asn1Value], der: bytes, field: str) -> Any:
    try:
        value = spec.load(der, strict=True)
        if not isinstance(value, spec):
            raise ValueError(f"a {type(value).__name__}, not a {spec.__name__}")
        value.native  # noqa: B018 - parse all of it here, see _child
        _no_extra_elements(value, field)
    except _ASN1_ERRORS as exc:
        raise AttestationInvalid(field, _why(exc)) from None
    return value


# ---- encoding helpers (the test authority's side) ----

def _enc_enum_set(values: Iterable[int]) -> list[int]:
    return [int(v) for v in values]


def _enc_int(value: int) -> int:
    return int(value)


def _enc_flag(_value: bool) -> core.Null:
    return core.Null()


def _enc_bytes(value: bytes) -> bytes:
    return value


def _enc_text(value: str) -> bytes:
    return value.encode("utf-8")


def _enc_root_of_trust(rot: RootOfTrust) -> _RootOfTrust:
    value = {"verifiedBootKey": rot.verified_boot_key, "deviceLocked": rot.device_locked,
             "verifiedBootState": int(rot.verified_boot_state)}
    if rot.verified_boot_hash is not None:
        value["verifiedBootHash"] = rot.verified_boot_hash
    return _RootOfTrust(value)


def _enc_application_id(app: AttestationApplicationId) -> bytes:
    return bytes(_AttestationApplicationId({
        "packageInfos": [{"packageName": name.encode("utf-8"), "version": version}
                         for name, version in app.packages],
        "signatureDigests": list(app.signature_digests)}).dump())


def _f(tag: int, asn1_name: str, attr: str, kind: str,
       decode: Callable[[core.Asn1Value, str, int], Any] | None = None) -> _Field:
    spec: type[core.Asn1Value]
    encode: Callable[[Any], Any]
    if kind == "int":
        spec, encode = core.Integer, _enc_int
    elif kind == "set":
        spec, encode = _IntegerSet, _enc_enum_set
    elif kind == "null":
        spec, encode, decode = core.Null, _enc_flag, _flag
    elif kind == "bytes":
        spec, encode, decode = core.OctetString, _enc_bytes, _octets
    elif kind == "text":
        spec, encode, decode = core.OctetString, _enc_text, _text
    elif kind == "rot":
        spec, encode, decode = _RootOfTrust, _enc_root_of_trust, _root_of_trust
    else:  # "appid": an OCTET STRING holding the DER of AttestationApplicationId
        spec, encode, decode = core.OctetString, _enc_application_id, _application_id
    assert decode is not None
    return _Field(tag, asn1_name, attr, spec, decode, encode)


_FIELDS = (
    _f(1, "purpose", "purpose", "set", _enum_set_of(KeyPurpose)),
    _f(2, "algorithm", "algorithm", "int", _enum_of(Algorithm)),
    _f(3, "keySize", "key_size", "int", _int_in(0, _UINT32)),
    _f(4, "blockMode", "block_mode", "set", _enum_set_of(BlockMode)),
    _f(5, "digest", "digest", "set", _enum_set_of(Digest)),
    _f(6, "padding", "padding", "set", _enum_set_of(PaddingMode)),
    _f(10, "ecCurve", "ec_curve", "int", _enum_of(EcCurve)),
    _f(11, "mlDsaVariant", "ml_dsa_variant", "int", _enum_of(MlDsaVariant)),
    _f(200, "rsaPublicExponent", "rsa_public_exponent", "int", _int_in(0, _UINT64)),
    _f(203, "mgfDigest", "mgf_digest", "set", _enum_set_of(Digest)),
    _f(303, "rollbackResistance", "rollback_resistance", "null"),
    _f(305, "earlyBootOnly", "early_boot_only", "null"),
    _f(400, "activeDateTime", "active_datetime", "int", _int_in(0, _UINT64)),
    _f(401, "originationExpireDateTime", "origination_expire_datetime", "int",
       _int_in(0, _UINT64)),
    _f(402, "usageExpireDateTime", "usage_expire_datetime", "int", _int_in(0, _UINT64)),
    _f(405, "usageCountLimit", "usage_count_limit", "int", _int_in(0, _UINT32)),
    _f(503, "noAuthRequired", "no_auth_required", "null"),
    _f(504, "userAuthType", "user_auth_type", "int", _int_in(0, _UINT32)),
    _f(505, "authTimeout", "auth_timeout", "int", _int_in(0, _UINT32)),
    _f(506, "allowWhileOnBody", "allow_while_on_body", "null"),
    _f(507, "trustedUserPresenceRequired", "trusted_user_presence_required", "null"),
    _f(508, "trustedConfirmationRequired", "trusted_confirmation_required", "null"),
    _f(509, "unlockedDeviceRequired", "unlocked_device_required", "null"),
    _f(600, "allApplications", "all_applications", "null"),
    _f(601, "applicationId", "application_id", "bytes"),
    _f(701, "creationDateTime", "creation_datetime", "int", _int_in(0, _UINT64)),
    _f(702, "origin", "origin", "int", _enum_of(KeyOrigin)),
    _f(703, "rollbackResistant", "rollback_resistant", "null"),
    _f(704, "rootOfTrust", "root_of_trust", "rot"),
    _f(705, "osVersion", "os_version", "int", _int_in(0, _UINT32)),
    _f(706, "osPatchLevel", "os_patch_level", "int", _patch_level(with_day=False)),
    _f(709, "attestationApplicationId", "attestation_application_id", "appid"),
    _f(710, "attestationIdBrand", "attestation_id_brand", "text"),
    _f(711, "attestationIdDevice", "attestation_id_device", "text"),
    _f(712, "attestationIdProduct", "attestation_id_product", "text"),
    _f(713, "attestationIdSerial", "attestation_id_serial", "text"),
    _f(714, "attestationIdImei", "attestation_id_imei", "text"),
    _f(715, "attestationIdMeid", "attestation_id_meid", "text"),
    _f(716, "attestationIdManufacturer", "attestation_id_manufacturer", "text"),
    _f(717, "attestationIdModel", "attestation_id_model", "text"),
    _f(718, "vendorPatchLevel", "vendor_patch_level", "int", _patch_level(with_day=True)),
    _f(719, "bootPatchLevel", "boot_patch_level", "int", _patch_level(with_day=True)),
    _f(720, "deviceUniqueAttestation", "device_unique_attestation", "null"),
    _f(723, "attestationIdSecondImei", "attestation_id_second_imei", "text"),
    _f(724, "moduleHash", "module_hash", "bytes"),
)
_BY_TAG = {f.tag: f for f in _FIELDS}
_CONTEXT, _CONSTRUCTED = 2, 1


@dataclass(frozen=True, slots=True)
class _Element:
    class_: int
    constructed: bool
    tag: int
    contents: bytes
    encoding: bytes  # the whole TLV


_SEQUENCE = object()


def _sequence_elements(der: bytes, field: str) -> list[_Element]:
    """The elements of a DER SEQUENCE, each as its own TLV (asn1crypto's X.690 parser)."""
    try:
        class_, method, tag, _header, contents, _trailer = parser.parse(der, strict=True)
        if (class_, method, tag) != (0, _CONSTRUCTED, 16):
            raise AttestationInvalid(field, "is not a SEQUENCE")
        elements = []
        while contents:
            class_, method, tag, header, inner, trailer = parser.parse(contents)
            size = len(header) + len(inner) + len(trailer)
            elements.append(_Element(class_, method == _CONSTRUCTED, tag, inner,
                                     contents[:size]))
            contents = contents[size:]
    except ValueError as exc:
        raise AttestationInvalid(field, _why(exc)) from None
    return elements


_OUTER: tuple[tuple[str, Any], ...] = (
    ("attestationVersion", core.Integer),
    ("attestationSecurityLevel", _Enumerated),
    ("keyMintVersion", core.Integer),
    ("keyMintSecurityLevel", _Enumerated),
    ("attestationChallenge", core.OctetString),
    ("uniqueId", core.OctetString),
    ("softwareEnforced", _SEQUENCE),
    ("hardwareEnforced", _SEQUENCE),
)


def decode_key_description(der: bytes) -> KeyDescription:
    """Decode the extension's value (the DER of KeyDescription) per the module rules."""
    elements = _sequence_elements(der, _ROOT)
    if len(elements) != len(_OUTER):
        raise AttestationInvalid(_ROOT, f"has {len(elements)} elements, KeyDescription "
                                        f"has {len(_OUTER)}")
    parsed: dict[str, Any] = {}
    for (name, spec), element in zip(_OUTER, elements, strict=True):
        where = f"{_ROOT}.{name}"
        parsed[name] = (_sequence_elements(element.encoding, where) if spec is _SEQUENCE
                        else _load(spec, element.encoding, where))
    version = _int_in(0, _UINT32)(parsed["attestationVersion"],
                                  f"{_ROOT}.attestationVersion", 0)
    if version not in ATTESTATION_VERSIONS:
        raise AttestationInvalid(f"{_ROOT}.attestationVersion",
                                 f"unknown attestation version {version} (known: "
                                 f"{', '.join(map(str, ATTESTATION_VERSIONS))})")
    return KeyDescription(
        attestation_version=version,
        attestation_security_level=_enum_of(SecurityLevel)(
            parsed["attestationSecurityLevel"], f"{_ROOT}.attestationSecurityLevel", version),
        keymint_version=_int_in(0, _UINT32)(parsed["keyMintVersion"],
                                            f"{_ROOT}.keyMintVersion", version),
        keymint_security_level=_enum_of(SecurityLevel)(
            parsed["keyMintSecurityLevel"], f"{_ROOT}.keyMintSecurityLevel", version),
        attestation_challenge=bytes(parsed["attestationChallenge"].native),
        unique_id=bytes(parsed["uniqueId"].native),
        software_enforced=_authorization_list(parsed["softwareEnforced"],
                                              f"{_ROOT}.softwareEnforced", version),
        hardware_enforced=_authorization_list(parsed["hardwareEnforced"],
                                              f"{_ROOT}.hardwareEnforced", version))


def _authorization_list(elements: list[_Element], where: str,
                        version: int) -> AuthorizationList:
    values: dict[str, Any] = {}
    unknown: list[int] = []
    for index, element in enumerate(elements):
        if element.class_ != _CONTEXT or not element.constructed:
            raise AttestationInvalid(f"{where}[{index}]",
                                     "is not an EXPLICIT context-specific tag")
        spec = _BY_TAG.get(element.tag)
        if spec is None:
            if element.tag in unknown:
                raise AttestationInvalid(f"{where}[{index}]",
                                         f"tag [{element.tag}] appears twice")
            unknown.append(element.tag)
            continue
        field = f"{where}.{spec.asn1_name}"
        if spec.attr in values:
            raise AttestationInvalid(field, "appears twice")
        values[spec.attr] = spec.decode(_load(spec.spec, element.contents, field), field,
                                        version)
    return AuthorizationList(**values, unknown_tags=tuple(unknown))


class _AuthorizationList(core.Sequence):
    _fields: ClassVar[list[Any]] = [(f.asn1_name, f.spec, {"explicit": f.tag, "optional": True})
                                    for f in _FIELDS]


class _KeyDescription(core.Sequence):
    _fields: ClassVar[list[Any]] = [
        ("attestationVersion", core.Integer), ("attestationSecurityLevel", _Enumerated),
        ("keyMintVersion", core.Integer), ("keyMintSecurityLevel", _Enumerated),
        ("attestationChallenge", core.OctetString), ("uniqueId", core.OctetString),
        ("softwareEnforced", _AuthorizationList), ("hardwareEnforced", _AuthorizationList)]


def encode_key_description(kd: KeyDescription) -> bytes:
    """The DER of ``kd`` (fields in tag order, SETs sorted): the test authority's side."""
    return bytes(_KeyDescription({
        "attestationVersion": kd.attestation_version,
        "attestationSecurityLevel": int(kd.attestation_security_level),
        "keyMintVersion": kd.keymint_version,
        "keyMintSecurityLevel": int(kd.keymint_security_level),
        "attestationChallenge": kd.attestation_challenge,
        "uniqueId": kd.unique_id,
        "softwareEnforced": _encode_authorization_list(kd.software_enforced),
        "hardwareEnforced": _encode_authorization_list(kd.hardware_enforced),
    }).dump())


def _encode_authorization_list(auth: AuthorizationList) -> dict[str, Any] | core.Sequence:
    encoded = {}
    for spec in _FIELDS:
        value = getattr(auth, spec.attr)
        if value is not None and value is not False and value != ():
            encoded[spec.asn1_name] = spec.encode(value)
    # asn1crypto takes an empty dict for "not set" and cannot dump a SEQUENCE with no
    # elements it built itself; a software-level key's hardwareEnforced list is empty.
    return encoded or _AuthorizationList.load(b"\x30\x00")


def authorization_list_fields() -> tuple[tuple[int, str, str], ...]:
    """(tag, ASN.1 name, attribute) of every AuthorizationList field, in tag order."""
    return tuple((f.tag, f.asn1_name, f.attr) for f in _FIELDS)


assert {f.attr for f in _FIELDS} | {"unknown_tags"} == {
    f.name for f in fields(AuthorizationList)}
