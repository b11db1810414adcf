"""Personalised card files: one YAML file = one (simulated) card of a profile.

Keys: ``profile``, ``iccid``, ``imsi``, ``ki``, ``opc`` or ``op`` (Milenage), optional
``algorithm`` (``milenage`` default, or ``tuak`` with ``top``/``topc`` and optional
``keccak_iterations``, ``res_len``, ``mac_len``, ``ck_len``, ``ik_len`` in bits, TS 35.231),
``sqn_ms`` (hex, the highest SQN the card has accepted; default zero), ``pin1`` (4-8
digits), ``pin1_enabled`` (default false), ``puk1`` (8 digits), ``pin1_retries`` (0-3,
default 3) and ``puk1_retries`` (0-10, default 10) — the attempts left —, ``pin2`` and
``universal_pin`` (each a mapping ``{pin, puk, enabled, retries, puk_retries}``; PIN2 is
enabled unless it says otherwise, the universal PIN disabled), ``imei`` (for the simulated
modem), ``mnc_length`` (2 or 3; default from the profile PLMN the IMSI starts with), and
``isim: {impi, domain, impu: [...], pcscf: [...]}`` exactly when the profile has an ISIM.

Every error is one line naming the file and the key, never a secret's value.

The ``profile`` key names a card profile: one of those installed with the package (the
``card_profiles`` data package, read with ``importlib.resources``) or of the extra
profile directories in ``SIMATTEST_PROFILES`` (``simattest --profiles DIR`` adds to it).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from attest.aka.base import AkaAlgorithm
from attest.errors import InputError
from attest.profiles import CardProfile, parse_profile, parse_yaml
from attest.textfile import read_text
from hw.luhn import luhn_ok
from hw.sim.profile_check import check_profile

# Extra profile directories, os.pathsep-separated, after the packaged ones.
PROFILES_ENV = "SIMATTEST_PROFILES"

_KEYS = {
    "profile", "iccid", "imsi", "ki", "opc", "op", "algorithm", "top", "topc",
    "keccak_iterations", "res_len", "mac_len", "ck_len", "ik_len", "sqn_ms", "pin1",
    "pin1_enabled", "puk1", "pin1_retries", "puk1_retries", "pin2", "universal_pin", "imei",
    "mnc_length", "isim",
}
_PIN_KEYS = {"pin", "puk", "enabled", "retries", "puk_retries"}
PIN_TRIES = 3  # a PIN's attempts, and an UNBLOCK PIN's (TS 102 221 clauses 11.1.9, 11.1.13)
PUK_TRIES = 10
_ISIM_KEYS = {"impi", "domain", "impu", "pcscf"}
_TUAK_ONLY = ("top", "topc", "keccak_iterations", "res_len", "mac_len", "ck_len", "ik_len")
# Allowed output sizes in bits (TS 35.231 clause 6).
_TUAK_LENGTHS = {"res_len": (32, 64, 128, 256), "mac_len": (64, 128, 256),
                 "ck_len": (128, 256), "ik_len": (128, 256)}
_TUAK_DEFAULTS = {"res_len": 64, "mac_len": 64, "ck_len": 128, "ik_len": 128}


@dataclass(frozen=True)
class TuakParams:
    """TUAK options (TS 35.231): Keccak iterations and output sizes in bits."""

    keccak_iterations: int = 1
    res_len: int = 64
    mac_len: int = 64
    ck_len: int = 128
    ik_len: int = 128


@dataclass(frozen=True)
class IsimData:
    """ISIM personalisation (TS 31.103 clause 4.2): IMPI, home domain, IMPUs, P-CSCFs."""

    impi: str
    domain: str
    impu: tuple[str, ...]
    pcscf: tuple[str, ...] = ()


@dataclass(frozen=True)
class PinData:
    """A PIN of the card file: its value, its unblocking PIN and the attempts left."""

    pin: str | None = field(repr=False)
    enabled: bool
    puk: str | None = field(repr=False)
    retries: int = PIN_TRIES
    puk_retries: int = PUK_TRIES


@dataclass(frozen=True)
class CardFile:
    """One personalised card. Key material and PINs never appear in ``repr``."""

    path: Path
    profile: CardProfile
    iccid: str
    imsi: str
    mnc_length: int
    ki: bytes = field(repr=False)
    opc: bytes | None = field(default=None, repr=False)
    op: bytes | None = field(default=None, repr=False)
    algorithm_name: str = "milenage"
    topc: bytes | None = field(default=None, repr=False)
    top: bytes | None = field(default=None, repr=False)
    tuak: TuakParams | None = None
    sqn_ms: bytes = bytes(6)
    pin1: str | None = field(default=None, repr=False)
    pin1_enabled: bool = False
    puk1: str | None = field(default=None, repr=False)
    pin1_retries: int = PIN_TRIES
    puk1_retries: int = PUK_TRIES
    pin2: PinData | None = None
    universal_pin: PinData | None = None
    imei: str | None = None
    isim: IsimData | None = None

    def algorithm(self) -> AkaAlgorithm:
        """The card's AKA algorithm set bound to its K and operator constant."""
        if self.tuak is not None:
            from attest.aka.tuak import Tuak

            t = self.tuak
            return Tuak(self.ki, top=self.top, topc=self.topc,
                        keccak_iterations=t.keccak_iterations, res_len=t.res_len,
                        mac_len=t.mac_len, ck_len=t.ck_len, ik_len=t.ik_len)
        from attest.aka.milenage import Milenage

        return Milenage(self.ki, opc=self.opc, op=self.op)


def extra_profile_dirs(environ: Mapping[str, str] = os.environ) -> tuple[Path, ...]:
    """The profile directories named in ``SIMATTEST_PROFILES`` (empty entries ignored)."""
    return tuple(Path(d) for d in environ.get(PROFILES_ENV, "").split(os.pathsep) if d)


def load_profiles(extra_dirs: Iterable[Path] | None = None) -> dict[str, CardProfile]:
    """The packaged card profiles and every ``*.yaml`` profile in ``extra_dirs`` (default:
    :func:`extra_profile_dirs`), by name.

    A profile's name must be its file's stem and may be defined only once: an extra
    profile does not replace a packaged one. A missing directory or a bad file is one
    ``InputError`` naming it.
    """
    dirs = extra_profile_dirs() if extra_dirs is None else tuple(extra_dirs)
    for directory in dirs:
        if not directory.is_dir():
            problem = "is not a directory" if directory.exists() else "does not exist"
            raise InputError(f"profile directory {directory} {problem}")
    profiles: dict[str, CardProfile] = {}
    sources: dict[str, Path] = {}
    with resources.as_file(resources.files("card_profiles")) as packaged:
        for path in (p for d in (packaged, *dirs) for p in sorted(d.glob("*.yaml"))):
            profile = parse_profile(read_text(path), str(path))
            if profile.name != path.stem:
                raise InputError(f"{path}: key 'name' is {profile.name!r} but the file is "
                                 f"named {path.stem!r}; they must agree")
            if profile.name in sources:
                raise InputError(f"{path}: profile {profile.name!r} is already defined by "
                                 f"{sources[profile.name]}")
            inconsistent = check_profile(profile)
            if inconsistent is not None:
                raise InputError(f"{path}: {inconsistent}")
            profiles[profile.name] = profile
            sources[profile.name] = path
    return profiles


def load_card_file(path: str | Path, profiles: dict[str, CardProfile] | None = None
                   ) -> CardFile:
    """Read and validate a personalised card file."""
    path = Path(path)
    doc = _yaml(read_text(path), path)
    return _CardFileParser(path, doc, load_profiles() if profiles is None else profiles).parse()


def _yaml(text: str, path: Path) -> dict[str, Any]:
    doc = parse_yaml(text, str(path))
    if not isinstance(doc, dict):
        raise InputError(f"{path}: a card file is a mapping of keys (profile, iccid, imsi, ...)")
    return doc


class _CardFileParser:
    """Validates one card file document; each check raises one InputError line."""

    def __init__(self, path: Path, doc: dict[str, Any], profiles: dict[str, CardProfile]):
        self.path = path
        self.doc = doc
        self.profiles = profiles

    def fail(self, key: str, problem: str) -> InputError:
        return InputError(f"{self.path}: key '{key}': {problem}")

    def parse(self) -> CardFile:
        unknown = sorted(str(k) for k in self.doc if k not in _KEYS)
        if unknown:
            raise InputError(f"{self.path}: unknown key '{unknown[0]}'")
        for key in ("profile", "iccid", "imsi", "ki"):
            if key not in self.doc:
                raise InputError(f"{self.path}: missing key '{key}'")
        profile = self.profile()
        iccid = self.digits("iccid", 18, 20)
        if not luhn_ok(iccid):
            raise self.fail("iccid", f"{iccid} fails the Luhn check digit")
        imsi = self.digits("imsi", 6, 15)
        algorithm = self.doc.get("algorithm", "milenage")
        if algorithm not in ("milenage", "tuak"):
            raise self.fail("algorithm", f"must be milenage or tuak, got {algorithm!r}")
        keys = self.milenage_keys() if algorithm == "milenage" else self.tuak_keys()
        pin1 = self.pin("pin1", 4, 8)
        pin1_enabled = self.doc.get("pin1_enabled", False)
        if not isinstance(pin1_enabled, bool):
            raise self.fail("pin1_enabled", "must be true or false")
        if pin1_enabled and pin1 is None:
            raise self.fail("pin1_enabled", "is true but there is no 'pin1'")
        imei = self.doc.get("imei")
        if imei is not None:
            imei = self.digits("imei", 15, 15)
            if not luhn_ok(imei):
                raise self.fail("imei", f"{imei} fails the Luhn check digit")
        return CardFile(
            path=self.path,
            profile=profile,
            iccid=iccid,
            imsi=imsi,
            mnc_length=self.mnc_length(profile, imsi),
            algorithm_name=algorithm,
            sqn_ms=self.hex("sqn_ms", (6,)) if "sqn_ms" in self.doc else bytes(6),
            pin1=pin1,
            pin1_enabled=pin1_enabled,
            puk1=self.pin("puk1", 8, 8),
            pin1_retries=self.counter(self.doc, "pin1_retries", PIN_TRIES),
            puk1_retries=self.counter(self.doc, "puk1_retries", PUK_TRIES),
            pin2=self.more_pin("pin2", enabled=True),
            universal_pin=self.more_pin("universal_pin", enabled=False),
            imei=imei,
            isim=self.isim(profile),
            **keys,
        )

    def profile(self) -> CardProfile:
        name = self.doc["profile"]
        if not isinstance(name, str) or name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise self.fail("profile", f"unknown profile {name!r} (known: {known})")
        return self.profiles[name]

    def digits(self, key: str, low: int, high: int) -> str:
        value = self.doc[key]
        if not isinstance(value, str):
            raise self.fail(key, "must be a quoted string of digits (YAML drops leading zeros "
                            "from bare numbers)")
        bad = next((i for i, ch in enumerate(value) if ch not in "0123456789"), None)
        if bad is not None:
            raise self.fail(key, f"character {bad + 1} is not a decimal digit")
        if not low <= len(value) <= high:
            span = f"{low}" if low == high else f"{low}-{high}"
            raise self.fail(key, f"must be {span} decimal digits, got {len(value)}")
        return value

    def hex(self, key: str, sizes: tuple[int, ...]) -> bytes:
        value = self.doc[key]
        if not isinstance(value, str):
            raise self.fail(key, "must be a quoted hex string")
        text = value.replace(" ", "")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise self.fail(key, "is not hex (odd length or a non-hex character)") from None
        if len(raw) not in sizes:
            wanted = " or ".join(f"{n} bytes ({2 * n} hex digits)" for n in sizes)
            raise self.fail(key, f"must be {wanted}, got {len(raw)} bytes")
        return raw

    def milenage_keys(self) -> dict[str, Any]:
        for key in _TUAK_ONLY:
            if key in self.doc:
                raise self.fail(key, "is a TUAK parameter; set 'algorithm: tuak' to use it")
        opc, op = self.one_of("opc", "op", (16,))
        return {"ki": self.hex("ki", (16,)), "opc": opc, "op": op}

    def tuak_keys(self) -> dict[str, Any]:
        for key in ("opc", "op"):
            if key in self.doc:
                raise self.fail(key, "is a Milenage parameter; TUAK uses 'top' or 'topc'")
        topc, top = self.one_of("topc", "top", (32,))
        iterations = self.doc.get("keccak_iterations", 1)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise self.fail("keccak_iterations", "must be a whole number of at least 1")
        lengths = {}
        for key, allowed in _TUAK_LENGTHS.items():
            value = self.doc.get(key, _TUAK_DEFAULTS[key])
            if value not in allowed or isinstance(value, bool):
                raise self.fail(key, f"must be one of {', '.join(map(str, allowed))} (bits)")
            lengths[key] = value
        return {"ki": self.hex("ki", (16, 32)), "topc": topc, "top": top,
                "tuak": TuakParams(keccak_iterations=iterations, **lengths)}

    def one_of(self, first: str, second: str, sizes: tuple[int, ...]
               ) -> tuple[bytes | None, bytes | None]:
        if (first in self.doc) == (second in self.doc):
            raise InputError(f"{self.path}: exactly one of the keys '{first}' and '{second}' "
                             "is required")
        if first in self.doc:
            return self.hex(first, sizes), None
        return None, self.hex(second, sizes)

    def counter(self, doc: dict[str, Any], key: str, most: int, where: str = "") -> int:
        value = doc.get(key, most)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            raise self.fail(where + key, f"must be a number from 0 to {most}")
        return value

    def more_pin(self, key: str, *, enabled: bool) -> PinData | None:
        """``pin2`` / ``universal_pin``: ``{pin, puk, enabled, retries, puk_retries}``."""
        node = self.doc.get(key)
        if node is None:
            return None
        if not isinstance(node, dict) or "pin" not in node:
            raise self.fail(key, "must be a mapping with pin (and puk, enabled, retries, "
                                 "puk_retries)")
        unknown = sorted(set(node) - _PIN_KEYS)
        if unknown:
            raise self.fail(key, f"unknown key '{unknown[0]}'")
        state = node.get("enabled", enabled)
        if not isinstance(state, bool):
            raise self.fail(f"{key}.enabled", "must be true or false")
        return PinData(self.pin("pin", 4, 8, node, f"{key}."), state,
                       self.pin("puk", 8, 8, node, f"{key}."),
                       self.counter(node, "retries", PIN_TRIES, f"{key}."),
                       self.counter(node, "puk_retries", PUK_TRIES, f"{key}."))

    def pin(self, key: str, low: int, high: int, doc: dict[str, Any] | None = None,
            where: str = "") -> str | None:
        doc = self.doc if doc is None else doc
        if key not in doc:
            return None
        value = doc[key]
        if not isinstance(value, str) or not value.isascii() or not value.isdigit() or not (
            low <= len(value) <= high
        ):
            span = f"{low}" if low == high else f"{low}-{high}"
            # The value is secret: say what is wrong with it, never what it is.
            raise self.fail(where + key, f"must be a quoted string of {span} digits")
        return value

    def mnc_length(self, profile: CardProfile, imsi: str) -> int:
        if "mnc_length" in self.doc:
            value = self.doc["mnc_length"]
            if value not in (2, 3) or isinstance(value, bool):
                raise self.fail("mnc_length", "must be 2 or 3")
            return int(value)
        return profile.mnc_length_for(imsi) or 2

    def isim(self, profile: CardProfile) -> IsimData | None:
        node = self.doc.get("isim")
        if profile.isim is None:
            if node is not None:
                raise self.fail("isim", f"profile {profile.name!r} has no ISIM")
            return None
        if node is None:
            raise InputError(f"{self.path}: missing key 'isim' (profile {profile.name!r} has "
                             "an ISIM)")
        if not isinstance(node, dict):
            raise self.fail("isim", "must be a mapping with impi, domain, impu, pcscf")
        unknown = sorted(str(k) for k in node if k not in _ISIM_KEYS)
        if unknown:
            raise InputError(f"{self.path}: unknown key 'isim.{unknown[0]}'")
        for key in ("impi", "domain", "impu"):
            if key not in node:
                raise InputError(f"{self.path}: missing key 'isim.{key}'")
        impi = self.text(node["impi"], "isim.impi")
        domain = self.text(node["domain"], "isim.domain")
        impu = self.texts(node["impu"], "isim.impu", allow_empty=False)
        pcscf = self.texts(node.get("pcscf", []), "isim.pcscf", allow_empty=True)
        return IsimData(impi, domain, impu, pcscf)

    def text(self, value: object, key: str) -> str:
        # Each value becomes one BER-TLV in a record or file of at most 255 bytes.
        if not isinstance(value, str) or not value or len(value.encode()) > 200:
            raise self.fail(key, "must be a non-empty string of at most 200 bytes")
        return value

    def texts(self, value: object, key: str, *, allow_empty: bool) -> tuple[str, ...]:
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.fail(key, "must be a list of strings" +
                            ("" if allow_empty else " with at least one entry"))
        items = tuple(self.text(v, f"{key}[{i}]") for i, v in enumerate(value))
        if key == "isim.pcscf":
            for i, item in enumerate(items):
                if not _is_address(item):
                    raise self.fail(f"{key}[{i}]", "is neither an IP address nor a host name")
        return items


def _is_address(text: str) -> bool:
    """A P-CSCF is an IPv4/IPv6 address or an FQDN (TS 31.103 clause 4.2.8)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        labels = text.rstrip(".").split(".")
        return all(label and len(label) <= 63 and label.replace("-", "").isascii()
                   and label.replace("-", "").isalnum() for label in labels)
