"""MAR: IMS AKA vectors for an IMPI2 (TS 33.203 clause 6.1, TS 29.228 clause 6.3).

The vectors come from the K/OPc of the pooled card behind the IMPI2's IMPI1 (the card's
ISIM and USIM share K/OPc and the SQN array, docs/ims.md), with SQNs from the IdM's own
IND slot (``[cx] ind_slot``, TS 33.102 Annex C.1.1.2).  The Cx peer's SEQ per card lives
in ``cx_sqn``; a range of SEQs is reserved by one ``INSERT … ON CONFLICT DO UPDATE …
RETURNING`` so any number of Cx processes on one PostgreSQL database never hand out the
same SQN.  A resynchronisation (``SIP-Authorization`` = RAND‖AUTS) moves the SEQ past the
card's SQN_MS in the same kind of statement, never backwards, and only after MAC-S
verifies (clause 6.3.5).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from attest.aka.base import RAND_SIZE
from attest.aka.sqn import AutsInvalid, join_sqn, resync, split_sqn
from attest.errors import InputError
from server.attestation.challenge import AMF
from server.core.service import Service
from server.pool.cardkeys import card_algorithm
from server.store.models import Card, CxSqn

_CX_SQN = cast(Table, CxSqn.__table__)
# A MAR may ask for several vectors (SIP-Number-Auth-Items); more than this is answered
# with this many (TS 29.228 clause 6.3.1 lets the HSS return fewer).
MAX_VECTORS = 5


@dataclass(frozen=True)
class CxVector:
    """One IMS AKA vector for the MAA: SIP-Authenticate = RAND‖AUTN, SIP-Authorization =
    XRES, Confidentiality-Key, Integrity-Key (TS 29.229 clause 6.3.13).  Only RAND and
    AUTN are shown by ``repr``."""

    rand: bytes
    autn: bytes
    xres: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)


def _statements(dialect: Any) -> tuple[Any, Any]:
    """The two upserts for one dialect, built once: reserve ``n`` SEQs (the new row holds
    ``n``, an existing one grows by it) and move past ``n`` (never lower)."""
    insert = dialect.insert(_CX_SQN).values(card_id=bindparam("card_id"), seq=bindparam("n"))
    reserve = insert.on_conflict_do_update(
        index_elements=[_CX_SQN.c.card_id], set_={"seq": _CX_SQN.c.seq + insert.excluded.seq})
    move = insert.on_conflict_do_update(
        index_elements=[_CX_SQN.c.card_id],
        set_={"seq": case((_CX_SQN.c.seq < insert.excluded.seq, insert.excluded.seq),
                          else_=_CX_SQN.c.seq)})
    return reserve.returning(_CX_SQN.c.seq), move


_STATEMENTS = {"postgresql": _statements(postgresql), "sqlite": _statements(sqlite)}


def _dialect(session: Session) -> str:
    return "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"


def reserve_seqs(session: Session, card_id: int, count: int) -> range:
    """Reserve ``count`` consecutive SEQs in the Cx slot of card ``card_id`` (one atomic
    statement inside ``session``'s transaction)."""
    reserve, _move = _STATEMENTS[_dialect(session)]
    # On the session's connection: a Core statement needs none of the ORM's execution.
    highest = int(session.connection().execute(
        reserve, {"card_id": card_id, "n": count}).scalar_one())
    return range(highest - count + 1, highest + 1)


def move_past(session: Session, card_id: int, seq_ms: int) -> None:
    """Raise the Cx SEQ of card ``card_id`` to at least ``seq_ms``, never lowering it."""
    _reserve, move = _STATEMENTS[_dialect(session)]
    session.execute(move, {"card_id": card_id, "n": seq_ms})


class ResyncRefused(Exception):
    """The AUTS of a resynchronisation does not verify (forged or from another card)."""


def issue_vectors(svc: Service, session: Session, card: Card, ind_slot: int, count: int,
                  resync_data: bytes | None = None) -> list[CxVector]:
    """``count`` vectors for ``card`` (at most ``MAX_VECTORS``), after resynchronising
    from ``resync_data`` = RAND‖AUTS when given.  Raises ``ResyncRefused`` before any
    state changes when MAC-S does not verify."""
    alg = card_algorithm(svc, card)
    if resync_data is not None:
        rand, auts = resync_data[:RAND_SIZE], resync_data[RAND_SIZE:]
        if len(rand) != RAND_SIZE:
            raise ResyncRefused("SIP-Authorization: expected RAND (16 bytes) ‖ AUTS")
        try:
            sqn_ms = resync(alg, rand, auts)
        except (AutsInvalid, InputError) as exc:
            raise ResyncRefused(str(exc)) from None
        move_past(session, card.id, split_sqn(sqn_ms)[0])
    vectors = []
    for seq in reserve_seqs(session, card.id, max(1, min(count, MAX_VECTORS))):
        rand = os.urandom(RAND_SIZE)
        v = alg.vector(rand, join_sqn(seq, ind_slot), AMF)
        vectors.append(CxVector(rand, v.autn, v.res, v.ck, v.ik))
    return vectors
