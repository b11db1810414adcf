"""The service's tunables (``ServiceConfig``), checked when they are made.

Set by ``simattest serve`` and the storage commands' options (``server.cli.storeargs``)
and by tests; read by every feature through ``Service.config``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from attest.devicepolicy import DevicePolicy
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
    # Android key attestation: how the handsets' hardware facts are judged
    # (``attest.devicepolicy``, the configuration file's ``[android]``), and a PEM file
    # of attestation roots trusted beside Google's (``serve --attestation-roots``).
    device_policy: DevicePolicy = field(default_factory=DevicePolicy)
    attestation_roots: Path | None = None

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
