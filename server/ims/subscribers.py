"""The MCPTT-specific identities as the Cx peer needs them, read from identity
management (``server.idms.identities``, whose validity rule this follows): IMPI2 →
IMPI1, IMPU2 and its aliases, the card behind them, and whether they may register.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from server.idms.identities import (
    ATTESTATION,
    LOST,
    RETURNED,
    McIdentities,
    invalid_reason,
    lookup_by_impu,
    mapping_query,
)
from server.store.models import Card, McIdentity, McIdentityAlias

# active: may register; barred: the handset was returned, reported lost or attested
# non-affirming (DIAMETER_AUTHORIZATION_REJECTED, 5003); ended: the identities ended for
# another reason (DIAMETER_ERROR_USER_UNKNOWN, 5001, as for an IMPI never issued).
SubscriberState = Literal["active", "barred", "ended"]
_BARRED = {RETURNED, LOST, ATTESTATION}


@dataclass(frozen=True)
class Subscriber:
    impi: str  # IMPI2
    impi1: str
    impus: tuple[str, ...]  # IMPU2 first, then the alias IMPUs
    card_id: int | None  # None: the card has left the pool
    state: SubscriberState


def _state(end_reason: str | None) -> SubscriberState:
    if end_reason is None:
        return "active"
    return "barred" if end_reason in _BARRED else "ended"


def _subscriber(session: Session, found: McIdentities | None) -> Subscriber | None:
    if found is None:
        return None
    card_id = session.scalar(select(Card.id).where(Card.iccid == found.iccid))
    return Subscriber(found.impi2, found.impi1, found.impus, card_id,
                      _state(found.end_reason))


@dataclass(slots=True)
class SubscriberCard:
    """The pooled card behind a subscriber, as the MAR needs it (``vectors.KeyedCard``):
    its row id and its keys, still encrypted.  Not frozen: ``card_algorithm`` takes what
    has a card's attributes, as an ORM ``Card`` has them."""

    id: int
    iccid: str
    algorithm: str
    k_enc: bytes = field(repr=False)
    opc_enc: bytes = field(repr=False)


# The MAR hot path: identity management's own query and validity rule, with the card's
# encrypted keys (the query joins the card already), built once with an expanding bound
# parameter (SQLAlchemy then reuses its compiled form) so a group of MARs looks up all its
# IMPI2s, their cards and their aliases in two statements.
_BY_IMPI2 = (mapping_query().add_columns(Card.algorithm, Card.k_enc, Card.opc_enc)
             .where(McIdentity.impi2.in_(bindparam("impi2s", expanding=True))))
_ALIASES = (select(McIdentityAlias.identity_id, McIdentityAlias.impu)
            .where(McIdentityAlias.identity_id.in_(bindparam("ids", expanding=True)))
            .order_by(McIdentityAlias.identity_id, McIdentityAlias.position))


def find_with_cards(session: Session,
                    impis: list[str]) -> dict[str, tuple[Subscriber, SubscriberCard]]:
    """The subscribers whose IMPI2 is one of ``impis``, with their cards, by IMPI2 (those
    that never existed are absent)."""
    rows = session.execute(_BY_IMPI2, {"impi2s": sorted(set(impis))}).all()
    aliases: dict[int, list[str]] = {row[0].id: [] for row in rows}
    if aliases:
        for identity_id, impu in session.connection().execute(_ALIASES, {"ids": list(aliases)}):
            aliases[identity_id].append(impu)
    found = {}
    for row in rows:
        identity: McIdentity = row[0]
        found[identity.impi2] = (
            Subscriber(identity.impi2, identity.impi1, (identity.impu2, *aliases[identity.id]),
                       identity.card_id, _state(invalid_reason(row))),
            SubscriberCard(identity.card_id, row.iccid, row.algorithm, row.k_enc,
                           row.opc_enc))
    return found


def find_by_impi(session: Session, impi: str) -> Subscriber | None:
    """The subscriber whose IMPI2 is ``impi``, None if there never was one."""
    found = find_with_cards(session, [impi]).get(impi)
    return None if found is None else found[0]


def find_by_impu(session: Session, impu: str) -> Subscriber | None:
    """The subscriber with IMPU2 or alias ``impu``, None if there never was one."""
    return _subscriber(session, lookup_by_impu(session, impu))
