"""The configuration file (TOML, ``docs/operations.md``, Configuration): where the service
keeps its database, data directory and keys, how it listens, and ``ServiceConfig``'s
settings.

Which file: ``--config FILE``, else ``SIMATTEST_CONFIG``, else the first of
``/etc/simattest/simattest.toml`` and ``./simattest.toml`` that exists, else none (every
setting at its default).  A setting given on the command line wins over its environment
variable, which wins over the file, which wins over the default.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from attest.devicepolicy import (
    DEFAULT_MAX_PATCH_AGE_DAYS,
    DEFAULT_SEVERITY,
    FINDINGS,
    DevicePolicy,
    Severity,
)
from attest.errors import InputError
from attest.textfile import os_reason

CONFIG_ENV = "SIMATTEST_CONFIG"
DEFAULT_CONFIG_FILES = (Path("/etc/simattest/simattest.toml"), Path("simattest.toml"))


class _Section(BaseModel):
    # Unknown keys are refused (a misspelt key must not silently fall back to a default);
    # strict: a port written as a string is an error, not converted.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DatabaseSection(_Section):
    url: str | None = None  # SQLAlchemy URL; default SQLite in the data directory
    password_file: str | None = None  # the password of ``url``'s user, kept out of the URL


class ServerSection(_Section):
    """``simattest serve``'s listeners and TLS (its options of the same names)."""

    bind: str = "127.0.0.1:8080"
    metrics_bind: str | None = None
    workers: int = 2
    threads: int = 4
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    trusted_proxies: list[str] = []


class ServiceSection(_Section):
    """``server.core.config.ServiceConfig``'s settings, same names and units."""

    ind_slot: int | None = None
    challenge_ttl: float | None = None
    checkout_max_age: float | None = None
    rate_limit_per_imei: int | None = None
    rate_limit_per_client: int | None = None
    max_body_bytes: int | None = None
    max_import_bytes: int | None = None
    card_verification: Literal["off", "warn", "require"] | None = None


class CxPeerSection(_Section):
    """One S-CSCF (or I-CSCF) allowed to connect: its Diameter identity and the source
    addresses its connections may come from."""

    origin_host: str
    addresses: list[str]


class CxSection(_Section):
    """``simattest cx serve``: the IdM as the MCPTT domain's Cx server (``server.ims``)."""

    origin_host: str = "localhost"
    origin_realm: str = "mcptt.example.org"
    listen: str = "127.0.0.1:3868"
    ind_slot: int = 30
    peers: list[CxPeerSection] = []
    application_server: str | None = None
    charging_impi1: bool = False
    termination_poll: float = 1.0
class IdmsSection(_Section):
    """``server.core.config.IdmsConfig``'s settings, same names and units."""

    enabled: bool | None = None
    mcptt_domain: str | None = None
    home_domain: str | None = None
    registrar: str | None = None
    alias_count: int | None = None
    retention_days: int | None = None
    access_token_seconds: int | None = None
    refresh_token_seconds: int | None = None
    code_seconds: int | None = None
    issuer: str | None = None


class AndroidSection(_Section):
    """Android key attestation: the roots trusted beside Google's (``serve
    --attestation-roots``) and the device policy (``attest.devicepolicy``): which findings
    are contraindicated, warnings or accepted — a finding not named keeps its default —
    and how old a patch level may be."""

    attestation_roots: str | None = None
    contraindicated: list[str] = []
    warning: list[str] = []
    accepted: list[str] = []
    max_patch_age_days: int = DEFAULT_MAX_PATCH_AGE_DAYS

    def device_policy(self) -> DevicePolicy:
        """The policy these settings make (InputError naming the key at fault)."""
        severity: dict[str, Severity] = dict(DEFAULT_SEVERITY)
        named: dict[str, str] = {}
        for key in ("contraindicated", "warning", "accepted"):
            for code in getattr(self, key):
                if code not in FINDINGS:
                    raise InputError(f"android.{key}: {code!r} is not a finding (one of "
                                     f"{', '.join(FINDINGS)})")
                if code in named:
                    raise InputError(f"android.{key}: {code} is in android.{named[code]} "
                                     "too")
                named[code] = key
                severity[code] = cast(Severity, key)
        try:
            return DevicePolicy(severity, self.max_patch_age_days)
        except InputError as exc:
            raise InputError(f"android.{exc}".replace("device policy: ", "")) from None


class ConfigFile(_Section):
    data_dir: str | None = None
    kek_file: str | None = None
    database: DatabaseSection = DatabaseSection()
    server: ServerSection = ServerSection()
    service: ServiceSection = ServiceSection()
    cx: CxSection = CxSection()
    idms: IdmsSection = IdmsSection()
    android: AndroidSection = AndroidSection()


def locate(option: Path | None) -> Path | None:
    """The configuration file to read: ``--config``, ``SIMATTEST_CONFIG`` or a default."""
    if option is not None:
        return option
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return next((path for path in DEFAULT_CONFIG_FILES if path.is_file()), None)


def load(path: Path | None) -> ConfigFile:
    """The file at ``path`` checked (``None``: no file, all defaults); any fault is one
    ``InputError`` line naming the file and the key."""
    if path is None:
        return ConfigFile()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InputError(f"configuration file {path}: cannot read it ({os_reason(exc)})") \
            from None
    except UnicodeDecodeError:
        raise InputError(f"configuration file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"configuration file {path}: not TOML ({exc})") from None
    try:
        config = ConfigFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        reason = "unknown key" if error["type"] == "extra_forbidden" \
            else f"{error['msg'][0].lower()}{error['msg'][1:]}, got {error['input']!r}"
        raise InputError(f"configuration file {path}: {key}: {reason}") from None
    if config.database.url is not None:
        check_url(config.database.url, f"configuration file {path}: database.url")
    try:
        config.android.device_policy()
    except InputError as exc:
        raise InputError(f"configuration file {path}: {exc}") from None
    return config


def check_url(url: str, where: str) -> None:
    """Refuse, in one line naming ``where`` it came from, a database URL without a scheme."""
    try:
        make_url(url)
    except ArgumentError:
        raise InputError(f"{where}: not a database URL (expected e.g. "
                         "postgresql+psycopg://user@host/db)") from None


def database_url(config: ConfigFile, path: Path | None, url: str | None) -> str | None:
    """``url`` (the one in effect) with the password of ``database.password_file`` in it.

    The password file must be readable by this process only and its group (mode 0640 at
    most): a password anyone on the host can read is refused.
    """
    password_file = config.database.password_file
    if url is None or password_file is None:
        return url
    where = f"configuration file {path}: database.password_file {password_file}"
    try:
        mode = os.stat(password_file).st_mode
        password = Path(password_file).read_text("utf-8").strip()
    except OSError as exc:
        raise InputError(f"{where}: cannot read it ({os_reason(exc)})") from None
    if mode & stat.S_IRWXO:
        raise InputError(f"{where}: readable by every user of this host (mode "
                         f"{stat.S_IMODE(mode):04o}); chmod 0600 or 0640")
    if not password:
        raise InputError(f"{where}: empty")
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)
