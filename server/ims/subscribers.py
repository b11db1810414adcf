"""The MCPTT-specific identities as the Cx peer needs them, read from identity
management (``server.idms``): IMPI2 → IMPI1, IMPU2 and its aliases, the card behind them
and whether the identities may still register.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

# active: may register; barred: the handset was returned, reported lost or attested
# contraindicated (DIAMETER_AUTHORIZATION_REJECTED); ended: the identities ended for
# another reason (DIAMETER_ERROR_USER_UNKNOWN, as for an IMPI never issued).
SubscriberState = Literal["active", "barred", "ended"]


@dataclass(frozen=True)
class Subscriber:
    impi: str  # IMPI2
    impi1: str
    impus: tuple[str, ...]  # IMPU2 first, then the alias IMPUs
    card_id: int
    state: SubscriberState


def find_by_impi(session: Session, impi: str) -> Subscriber | None:
    """The subscriber whose IMPI2 is ``impi``, None if there never was one."""
    raise NotImplementedError  # filled in from server.idms


def find_by_impu(session: Session, impu: str) -> Subscriber | None:
    """The subscriber with IMPU2 or alias ``impu``, None if there never was one."""
    raise NotImplementedError
