"""The service's tunables (``ServiceConfig``), checked when they are made.

Set by ``simattest serve`` and the storage commands' options (``server.cli.storeargs``)
and by tests; read by every feature through ``Service.config``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from attest.errors import SimattestError

# What a checkout asks of the card's verification (``simattest pool verify``):
# - "warn" (default): a card never verified is checked out with a warning; a card
#   imported under a transport key that could not be checked (``unchecked-key``), or
#   one that failed verification, is refused until ``pool verify`` passes;
# - "require": only verified cards are checked out;
# - "off": verification is shown, never enforced (a bench with cards known good).
CardVerificationPolicy = Literal["off", "warn", "require"]
CARD_VERIFICATION_POLICIES: tuple[CardVerificationPolicy, ...] = ("off", "warn", "require")


class StartupError(SimattestError):
    """The service cannot start safely (wrong or missing keys, database unreachable)."""

    exit_code = 2


# A DNS domain name (RFC 1035 clause 2.3.1 labels, lower case): the MCPTT domain and the
# home network domain are the right-hand side of IMPIs and SIP URIs.
_DOMAIN = re.compile(r"(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                     r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
MAX_ALIASES = 16


@dataclass(frozen=True)
class IdmsConfig:
    """Identity management (``server.idms``, the configuration file's ``[idms]``).

    ``mcptt_domain`` is the right-hand side of the MCPTT-specific identities (IMPI2
    ``<random>@domain``, IMPU2 ``sip:<random>@domain``); ``home_domain`` and
    ``registrar`` are what the handset is told to register with (TS 24.229 clause
    5.1.1.1: the home network domain and the P-CSCF/registrar), default the MCPTT
    domain.  Ended mappings are kept ``retention_days`` before ``simattest idms prune``
    deletes them.  Token lifetimes in seconds: an ended sign-in stops working at a
    resource server that only verifies access tokens within ``access_token_seconds``.
    """

    enabled: bool = False
    mcptt_domain: str = "mcptt.example.org"
    home_domain: str | None = None
    registrar: str | None = None
    alias_count: int = 2
    retention_days: int = 90
    access_token_seconds: int = 300
    refresh_token_seconds: int = 8 * 3600  # a shift
    code_seconds: int = 60  # an authorization code's lifetime (at most 60 s)

    def __post_init__(self) -> None:
        for name in ("mcptt_domain", "home_domain"):
            value = getattr(self, name)
            if value is not None and not _DOMAIN.fullmatch(value):
                raise StartupError(f"idms.{name}: expected a lower-case DNS domain name "
                                   f"(e.g. mcptt.example.org), got {value!r}")
        host, _, port = (self.registrar or "").partition(":")
        if self.registrar is not None and not (
                _DOMAIN.fullmatch(host)
                and (not port or (port.isascii() and port.isdigit()
                                  and 0 < int(port) < 65536))):
            raise StartupError(f"idms.registrar: expected host or host:port, got "
                               f"{self.registrar!r}")
        if not 0 <= self.alias_count <= MAX_ALIASES:
            raise StartupError(f"idms.alias_count: must be 0..{MAX_ALIASES}, got "
                               f"{self.alias_count}")
        if not 1 <= self.retention_days <= 3650:
            raise StartupError(f"idms.retention_days: must be 1..3650, got "
                               f"{self.retention_days}")
        if not 1 <= self.code_seconds <= 60:
            raise StartupError(f"idms.code_seconds: must be 1..60 (single-use codes live "
                               f"a minute at most), got {self.code_seconds}")
        if not 30 <= self.access_token_seconds <= 3600:
            raise StartupError(f"idms.access_token_seconds: must be 30..3600, got "
                               f"{self.access_token_seconds}")
        if not self.access_token_seconds <= self.refresh_token_seconds <= 7 * 86400:
            raise StartupError("idms.refresh_token_seconds: must be at least "
                               "access_token_seconds and at most 7 days, got "
                               f"{self.refresh_token_seconds}")

    @property
    def network_domain(self) -> str:
        """The home network domain the handset registers in."""
        return self.home_domain or self.mcptt_domain

    @property
    def registrar_address(self) -> str:
        """Where the handset sends its REGISTER."""
        return self.registrar or self.network_domain


@dataclass(frozen=True)
class ServiceConfig:
    """Tunables.  Times are in seconds.

    ``ind_slot`` is the IND value (TS 33.102 Annex C.1.1.2, 5 bits) this service uses in
    every SQN it generates, so it never competes with the operator's HSS for a slot.
    """

    ind_slot: int = 31
    challenge_ttl: float = 60.0  # how long a challenge may be answered
    # How old an affirming attestation may be to start a checkout; also the EAR's
    # lifetime (``exp`` = ``iat`` + this).
    checkout_max_age: float = 300.0
    # Device-facing rate limits (requests per minute); 0 disables.
    rate_limit_per_imei: int = 30
    rate_limit_per_client: int = 600
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20  # any request body
    max_import_bytes: int = 64 << 20  # a vendor batch file (``POST /v1/pool/imports``)
    # Where the KEK comes from when SIMATTEST_KEK is unset; default <data>/kek.key.
    kek_file: Path | None = None
    card_verification: CardVerificationPolicy = "warn"  # see CardVerificationPolicy
    # Served over TLS (``serve --tls-cert``): the desk's cookies are Secure, its pages
    # carry HSTS.
    tls: bool = False
    # ``serve --client-ca``: the device endpoints refuse a request without the handset's
    # device certificate (``server.pool.devicecerts``).
    device_certificates: bool = False
    # The listener (numeric host, port) that serves /metrics without a token
    # (``simattest serve --metrics-bind``); None: /metrics needs an operator token.
    metrics_listener: tuple[str, int] | None = None
    idms: IdmsConfig = field(default_factory=IdmsConfig)  # identity management

    def __post_init__(self) -> None:
        if not 0 <= self.ind_slot < 32:
            raise StartupError(f"ind_slot: must be 0..31 (5-bit IND), got {self.ind_slot}")
        if self.card_verification not in CARD_VERIFICATION_POLICIES:
            raise StartupError(f"card_verification: must be one of "
                               f"{', '.join(CARD_VERIFICATION_POLICIES)}, got "
                               f"{self.card_verification!r}")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise StartupError(f"--trusted-proxy {proxy!r}: expected an IP address or "
                                   "network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
