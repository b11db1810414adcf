"""Which rate limits a device-facing request counts against: per client address and,
when the request names a well-formed IMEI, per IMEI (``ServiceConfig``'s per-minute
limits; 0 turns one off).  The per-IMEI ones count only once the handset's device key
has proven the request (``per_client`` leaves them out until then), so nobody else can
spend a handset's allowance.

The counting itself — fixed windows shared by every process, shares of an allowance
per process — is ``server.store.rate_counters``; it raises ``RateLimited``.
"""

from __future__ import annotations

from typing import Any

from server.core.config import ServiceConfig
from server.store.rate_counters import IMEI_SCOPE, for_imei, per_client, per_imei

__all__ = ["for_imei", "limits_for", "per_client", "per_imei"]


def limits_for(config: ServiceConfig, imei: Any, client: str) -> dict[str, int]:
    """``{counter key: per minute}`` for a request from ``client`` naming ``imei``
    (anything the body held: only a 15-digit string counts as an IMEI)."""
    limits = {f"client:{client or '-'}": config.rate_limit_per_client}
    if isinstance(imei, str) and imei.isdigit() and len(imei) == 15:
        limits[f"{IMEI_SCOPE}:{imei}"] = config.rate_limit_per_imei
    return limits

