"""Card profiles (what a card type must look like) and the card classifier.

A profile is parsed from YAML *text* (the caller reads the file; this module does no
I/O). It names the PLMNs and ICCID prefixes a card type belongs to, the USIM services
(EF.UST, 3GPP TS 31.102 clause 4.2.8) set on such cards and those a conforming card must
have, which optional DFs exist (DF.ProSe 5F90, TS 31.102 clause 4.4.8; DF.MCS 5F3D under
DF.TELECOM, TS 31.102 clause 4.6), and the ISIM (EF.IST, TS 31.103 clause 4.2.7) if any.

:func:`classify` takes plain facts read from a card (the ``read`` JSON keys: ``iccid``,
``imsi``, ``mnc_length``, ``ust``, ``prose``, ``isim``) and says which profile it is and
why it does not conform, as reason codes the attestation appraisal maps to
``COMMERCIAL_SIM`` / ``UNKNOWN_SIM`` / ``PROFILE_MISMATCH``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from attest.errors import InputError

PUBLIC_SAFETY = "public-safety"
COMMERCIAL = "commercial"
UNKNOWN = "unknown"
_CLASSIFICATIONS = (PUBLIC_SAFETY, COMMERCIAL)

# Services with a reason code of their own; any other missing service is reported as
# UST_SERVICE_<n>_MISSING / IST_SERVICE_<n>_MISSING.
_UST_REASONS = {101: "PROSE_SERVICE_MISSING", 109: "MCPTT_SERVICE_MISSING"}
_IST_REASONS = {15: "ISIM_MCPTT_SERVICE_MISSING"}

_PLMN_RE = re.compile(r"(\d{3})-?(\d{2,3})")


@dataclass(frozen=True)
class UsimSpec:
    """The USIM of a card type (TS 31.102)."""

    services: frozenset[int]
    required_services: frozenset[int]
    df_prose: bool
    df_mcs: bool
    df_gsm: bool = False  # DF.GSM 7F20 and the GSM class (TS 51.011)
    files: frozenset[str] = frozenset()  # optional files present, e.g. "EF.SMS"


@dataclass(frozen=True)
class IsimSpec:
    """The ISIM of a card type (TS 31.103). ``impi_realm`` is a regex for the realm."""

    services: frozenset[int]
    required_services: frozenset[int]
    impi_realm: re.Pattern[str] | None
    files: frozenset[str] = frozenset()  # optional files present, e.g. "EF.GBABP"


@dataclass(frozen=True)
class CardProfile:
    """A card type: where its cards come from and what they must hold."""

    name: str
    description: str
    classification: str
    plmns: tuple[str, ...]  # MCC+MNC digits, e.g. "00101"
    iccid_prefixes: tuple[str, ...]
    usim: UsimSpec
    isim: IsimSpec | None

    def mnc_length_for(self, imsi: str) -> int | None:
        """The MNC length of the profile PLMN that ``imsi`` starts with, if any."""
        for plmn in self.plmns:
            if imsi.startswith(plmn):
                return len(plmn) - 3
        return None


@dataclass(frozen=True)
class Classification:
    """What a card is (``kind``), which profile it matched, and why it falls short."""

    kind: str
    profile: str | None
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "profile": self.profile, "reasons": list(self.reasons)}


# --- parsing --------------------------------------------------------------------------

_PROFILE_KEYS = {"name", "description", "classification", "plmns", "iccid_prefixes", "usim",
                 "isim"}
_USIM_KEYS = {"services", "required_services", "df_prose", "df_mcs", "df_gsm", "files"}
_ISIM_KEYS = {"services", "required_services", "impi_realm", "files"}


def parse_yaml(text: str, source: str) -> Any:
    """YAML text to plain values; a syntax error is one InputError naming source and line.

    Shared by profiles and personalised card files (:mod:`hw.cardfile`).
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{source}: not valid YAML{where}") from None


def parse_profile(text: str, source: str) -> CardProfile:
    """Parse one profile from YAML text; ``source`` names it in errors (usually the path)."""
    doc = parse_yaml(text, source)
    top = _mapping(doc, source, "the document", _PROFILE_KEYS, required={"name",
                   "classification", "plmns", "iccid_prefixes", "usim"})
    name = _string(top["name"], source, "name")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise InputError(f"{source}: key 'name' must be lower-case letters, digits and '-'")
    classification = _string(top["classification"], source, "classification")
    if classification not in _CLASSIFICATIONS:
        raise InputError(f"{source}: key 'classification' must be one of "
                         f"{', '.join(_CLASSIFICATIONS)}, got {classification!r}")
    description = top.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{source}: key 'description' must be a string")
    plmns = tuple(_plmn(p, source) for p in _list(top["plmns"], source, "plmns"))
    prefixes = tuple(_digits(p, source, "iccid_prefixes") for p in
                     _list(top["iccid_prefixes"], source, "iccid_prefixes"))
    if not plmns and not prefixes:
        raise InputError(f"{source}: keys 'plmns' and 'iccid_prefixes' are both empty; "
                         "nothing could ever match this profile")
    return CardProfile(
        name=name,
        description=description,
        classification=classification,
        plmns=plmns,
        iccid_prefixes=prefixes,
        usim=_usim(top["usim"], source),
        isim=None if top.get("isim") is None else _isim(top["isim"], source),
    )


def _usim(node: object, source: str) -> UsimSpec:
    usim = _mapping(node, source, "usim", _USIM_KEYS, required={"services"})
    services = _services(usim["services"], source, "usim.services")
    required = _services(usim.get("required_services", []), source, "usim.required_services")
    _subset(required, services, source, "usim")
    return UsimSpec(services, required, _bool(usim.get("df_prose", False), source,
                    "usim.df_prose"), _bool(usim.get("df_mcs", False), source, "usim.df_mcs"),
                    _bool(usim.get("df_gsm", False), source, "usim.df_gsm"),
                    _files(usim.get("files", []), source, "usim.files"))


def _isim(node: object, source: str) -> IsimSpec:
    isim = _mapping(node, source, "isim", _ISIM_KEYS, required={"services"})
    services = _services(isim["services"], source, "isim.services")
    required = _services(isim.get("required_services", []), source, "isim.required_services")
    _subset(required, services, source, "isim")
    realm = isim.get("impi_realm")
    pattern = None
    if realm is not None:
        text = _string(realm, source, "isim.impi_realm")
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise InputError(f"{source}: key 'isim.impi_realm' is not a valid regular "
                             f"expression ({exc})") from None
    return IsimSpec(services, required, pattern, _files(isim.get("files", []), source,
                                                         "isim.files"))


def _mapping(node: object, source: str, what: str, allowed: set[str],
             required: set[str]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise InputError(f"{source}: {what} must be a mapping of keys")
    prefix = "" if what == "the document" else f"{what}."
    unknown = sorted(str(k) for k in node if k not in allowed)
    if unknown:
        raise InputError(f"{source}: unknown key '{prefix}{unknown[0]}' "
                         f"(allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - node.keys())
    if missing:
        raise InputError(f"{source}: missing key '{prefix}{missing[0]}'")
    return node


def _files(value: object, source: str, key: str) -> frozenset[str]:
    """File names such as ``EF.SMS``; which exist is checked against the services by the
    card side (:func:`hw.sim.layout.check_profile`)."""
    names = _list(value, source, key)
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"(EF|DF)\.[A-Za-z0-9_-]+", name):
            raise InputError(f"{source}: key '{key}': {name!r} is not a file name like "
                             "EF.SMS or DF.ProSe")
    return frozenset(str(n) for n in names)


def _string(value: object, source: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{source}: key '{key}' must be a non-empty string")
    return value


def _bool(value: object, source: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{source}: key '{key}' must be true or false")
    return value


def _list(value: object, source: str, key: str) -> list[object]:
    if not isinstance(value, list):
        raise InputError(f"{source}: key '{key}' must be a list")
    return value


def _digits(value: object, source: str, key: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit() or not text.isascii():
        raise InputError(f"{source}: key '{key}': {value!r} is not a string of digits")
    return text


def _plmn(value: object, source: str) -> str:
    if not isinstance(value, str) or not (m := _PLMN_RE.fullmatch(value)):
        raise InputError(f"{source}: key 'plmns': {value!r} is not a PLMN "
                         "(MCC-MNC such as \"001-01\")")
    return m.group(1) + m.group(2)


def _services(value: object, source: str, key: str) -> frozenset[int]:
    numbers = set()
    for item in _list(value, source, key):
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 255:
            raise InputError(f"{source}: key '{key}': {item!r} is not a service number 1-255")
        numbers.add(item)
    return frozenset(numbers)


def _subset(required: frozenset[int], services: frozenset[int], source: str, app: str) -> None:
    extra = sorted(required - services)
    if extra:
        raise InputError(f"{source}: key '{app}.required_services': service {extra[0]} is "
                         f"required but not in '{app}.services'")


# --- classification -------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    iccid: str
    imsi: str
    mnc_length: int | None
    ust: frozenset[int]
    prose: bool
    isim: Mapping[str, Any] | None


def _facts(raw: Mapping[str, Any]) -> _Facts:
    def text(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str):
            raise InputError(f"card facts: key '{key}' must be a string")
        return value

    mnc = raw.get("mnc_length")
    if mnc is not None and mnc not in (2, 3):
        raise InputError("card facts: key 'mnc_length' must be 2, 3 or null")
    ust = raw.get("ust", [])
    if not isinstance(ust, list | tuple | set | frozenset):
        raise InputError("card facts: key 'ust' must be a list of service numbers")
    isim = raw.get("isim")
    if isim is not None and not isinstance(isim, Mapping):
        raise InputError("card facts: key 'isim' must be a mapping or null")
    return _Facts(text("iccid"), text("imsi"), mnc, frozenset(int(s) for s in ust),
                  bool(raw.get("prose", False)), isim)


def _plmn_matches(plmn: str, facts: _Facts) -> bool:
    if facts.mnc_length is not None and len(plmn) != 3 + facts.mnc_length:
        return False
    return facts.imsi.startswith(plmn)


def classify(facts: Mapping[str, Any], profiles: Mapping[str, CardProfile]) -> Classification:
    """Match a card to a profile by ICCID prefix and PLMN, then check its requirements.

    The profile matching both ICCID prefix and PLMN wins over one matching the ICCID
    prefix, which wins over one matching the PLMN only (ties: public-safety first, then
    by name). No match gives kind ``unknown``. Reasons name each shortfall:
    ``PLMN_NOT_PUBLIC_SAFETY`` (the IMSI's PLMN belongs to no public-safety profile),
    ``ICCID_PREFIX_MISMATCH``, ``PLMN_MISMATCH``, ``PROSE_SERVICE_MISSING`` (UST 101),
    ``MCPTT_SERVICE_MISSING`` (UST 109), ``UST_SERVICE_<n>_MISSING``, ``DF_PROSE_MISSING``,
    ``ISIM_MISSING``, ``ISIM_MCPTT_SERVICE_MISSING`` (IST 15), ``IST_SERVICE_<n>_MISSING``,
    ``IMPI_REALM_MISMATCH``, ``NO_MATCHING_PROFILE``.
    """
    card = _facts(facts)
    ps_plmn = any(_plmn_matches(plmn, card) for p in profiles.values()
                  if p.classification == PUBLIC_SAFETY for plmn in p.plmns)
    candidates: list[tuple[int, bool, str, CardProfile]] = []
    for profile in profiles.values():
        by_iccid = any(card.iccid.startswith(prefix) for prefix in profile.iccid_prefixes)
        by_plmn = any(_plmn_matches(plmn, card) for plmn in profile.plmns)
        if by_iccid or by_plmn:
            # Sort key: best score first, public-safety before commercial, then by name.
            score = 2 * by_iccid + by_plmn
            candidates.append((-score, profile.classification != PUBLIC_SAFETY, profile.name,
                               profile))
    reasons: list[str] = []
    if not ps_plmn:
        reasons.append("PLMN_NOT_PUBLIC_SAFETY")
    if not candidates:
        return Classification(UNKNOWN, None, ["NO_MATCHING_PROFILE", *reasons])
    profile = min(candidates, key=lambda c: c[:3])[3]
    for reason in _shortfalls(profile, card):
        if reason not in reasons:
            reasons.append(reason)
    return Classification(profile.classification, profile.name, reasons)


def _shortfalls(profile: CardProfile, card: _Facts) -> list[str]:
    reasons: list[str] = []
    if profile.iccid_prefixes and not any(card.iccid.startswith(p)
                                          for p in profile.iccid_prefixes):
        reasons.append("ICCID_PREFIX_MISMATCH")
    if profile.plmns and not any(_plmn_matches(p, card) for p in profile.plmns):
        reasons.append("PLMN_NOT_PUBLIC_SAFETY" if profile.classification == PUBLIC_SAFETY
                       else "PLMN_MISMATCH")
    for n in sorted(profile.usim.required_services - card.ust):
        reasons.append(_UST_REASONS.get(n, f"UST_SERVICE_{n}_MISSING"))
    if profile.usim.df_prose and not card.prose:
        reasons.append("DF_PROSE_MISSING")
    if profile.isim is None:
        return reasons
    if card.isim is None:
        reasons.append("ISIM_MISSING")
        return reasons
    ist = frozenset(int(s) for s in card.isim.get("ist") or [])
    for n in sorted(profile.isim.required_services - ist):
        reasons.append(_IST_REASONS.get(n, f"IST_SERVICE_{n}_MISSING"))
    if profile.isim.impi_realm is not None:
        impi = card.isim.get("impi")
        realm = impi.rpartition("@")[2] if isinstance(impi, str) and "@" in impi else ""
        if not profile.isim.impi_realm.fullmatch(realm):
            reasons.append("IMPI_REALM_MISMATCH")
    return reasons
