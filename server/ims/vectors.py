"""MAR: IMS AKA vectors for an IMPI2 (TS 33.203 clause 6.1, TS 29.228 clause 6.3).

The vectors come from the K/OPc of the pooled card behind the IMPI2's IMPI1 (the card's
ISIM and USIM share K/OPc and the SQN array, docs/ims.md), with SQNs from the IdM's own
IND slot (``[cx] ind_slot``, TS 33.102 Annex C.1.1.2).  The Cx peer's SEQ per card lives
in ``cx_sqn``; the SEQs of a whole group of MARs are reserved by one ``INSERT … ON
CONFLICT DO UPDATE … RETURNING`` (``reserve``) so any number of Cx processes on one
PostgreSQL database never hand out the same SQN.  A resynchronisation
(``SIP-Authorization`` = RAND‖AUTS) moves the SEQ past the card's SQN_MS in that same
statement, never backwards, and only after MAC-S verifies (clause 6.3.5).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, case
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from attest.aka.base import RAND_SIZE, AkaAlgorithm
from attest.aka.sqn import AutsInvalid, join_sqn, resync, split_sqn
from attest.errors import InputError
from server.attestation.challenge import AMF
from server.core.service import Service
from server.pool.cardkeys import CardSecrets, card_algorithm
from server.store.models import CxSqn

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


class KeyedCard(CardSecrets, Protocol):
    """A card whose vectors are asked for: its row id and what ``card_algorithm`` reads."""

    id: int


def _sqlite_statements() -> tuple[Any, Any]:
    """The two SQLite upserts, built once: reserve ``n`` SEQs (the new row holds ``n``, an
    existing one grows by it) and move past ``n`` (never lower)."""
    insert = sqlite.insert(_CX_SQN).values(card_id=bindparam("card_id"), seq=bindparam("n"))
    reserve = insert.on_conflict_do_update(
        index_elements=[_CX_SQN.c.card_id], set_={"seq": _CX_SQN.c.seq + insert.excluded.seq})
    move = insert.on_conflict_do_update(
        index_elements=[_CX_SQN.c.card_id],
        set_={"seq": case((_CX_SQN.c.seq < insert.excluded.seq, insert.excluded.seq),
                          else_=_CX_SQN.c.seq)})
    return reserve.returning(_CX_SQN.c.seq), move


_SQLITE = _sqlite_statements()

# PostgreSQL: the SEQs of a whole group of MARs in one statement.  For each card (in
# ascending id, the lock order every group follows, so groups never deadlock) it moves
# the SEQ up to ``floor`` (the SEQ of a verified resynchronisation, 0 without one; never
# lower) and reserves ``n`` after it: new SEQ = max(SEQ, floor) + n, returned per card.
_RESERVE_PG = """
WITH wanted AS (
    SELECT * FROM json_to_recordset(%(wanted)s::json) AS w(card_id int, floor bigint, n bigint)
)
INSERT INTO cx_sqn AS s (card_id, seq)
SELECT card_id, floor + n FROM wanted ORDER BY card_id
ON CONFLICT (card_id) DO UPDATE SET seq = greatest(
    s.seq + (SELECT n FROM wanted WHERE wanted.card_id = excluded.card_id), excluded.seq)
RETURNING card_id, seq
"""


def reserve(session: Session, wanted: dict[int, tuple[int, int]]) -> dict[int, range]:
    """Reserve SEQs in the Cx slot of several cards, inside ``session``'s transaction:
    ``wanted`` maps a card id to (how many, floor) — the SEQ first moves up to ``floor``
    (never lower), then ``how many`` consecutive SEQs after it are reserved.  One atomic
    statement on PostgreSQL; returns the reserved range per card id."""
    if not wanted:
        return {}
    conn = session.connection()
    highest: dict[int, int] = {}
    if conn.dialect.name == "postgresql":
        highest = dict(conn.exec_driver_sql(_RESERVE_PG, {"wanted": json.dumps([
            {"card_id": card_id, "floor": floor, "n": count}
            for card_id, (count, floor) in wanted.items()])}).all())
    else:  # SQLite: the write transaction already holds the database lock
        reserve_one, move = _SQLITE
        for card_id in sorted(wanted):
            count, floor = wanted[card_id]
            if floor:
                conn.execute(move, {"card_id": card_id, "n": floor})
            highest[card_id] = int(conn.execute(
                reserve_one, {"card_id": card_id, "n": count}).scalar_one())
    return {card_id: range(highest[card_id] - count + 1, highest[card_id] + 1)
            for card_id, (count, _floor) in wanted.items()}


class ResyncRefused(Exception):
    """The AUTS of a resynchronisation does not verify (forged or from another card)."""


@dataclass(frozen=True)
class VectorsWanted:
    """One MAR's ask: ``count`` vectors for ``card`` (at most ``MAX_VECTORS``), after
    resynchronising from ``resync_data`` = RAND‖AUTS when given."""

    card: KeyedCard
    count: int
    resync_data: bytes | None = None


def issue_vectors(svc: Service, session: Session, ind_slot: int,
                  wanted: list[VectorsWanted]) -> list[list[CxVector] | ResyncRefused]:
    """The vectors of a group of MARs, in their order: each a list of vectors, or
    ``ResyncRefused`` when its AUTS does not verify (that MAR changes no state).  Every
    AUTS is checked before any SEQ moves; then one reservation for the whole group
    (``reserve``), the SEQs of one card handed out in the order of the MARs."""
    algs: dict[int, AkaAlgorithm] = {}
    outcomes: list[list[CxVector] | ResyncRefused] = []
    asked: dict[int, tuple[int, int]] = {}
    for w in wanted:
        card_id = w.card.id
        alg = algs.get(card_id)
        if alg is None:
            alg = algs[card_id] = card_algorithm(svc, w.card)
        floor = 0
        if w.resync_data is not None:
            try:
                floor = _resync_seq(alg, w.resync_data)
            except ResyncRefused as exc:
                outcomes.append(exc)
                continue
        count = max(1, min(w.count, MAX_VECTORS))
        before, before_floor = asked.get(card_id, (0, 0))
        asked[card_id] = (before + count, max(before_floor, floor))
        outcomes.append([])
    seqs = {card_id: iter(r) for card_id, r in reserve(session, asked).items()}
    for w, outcome in zip(wanted, outcomes, strict=True):
        if isinstance(outcome, ResyncRefused):
            continue
        alg = algs[w.card.id]
        for seq in itertools.islice(seqs[w.card.id], max(1, min(w.count, MAX_VECTORS))):
            rand = os.urandom(RAND_SIZE)
            v = alg.vector(rand, join_sqn(seq, ind_slot), AMF)
            outcome.append(CxVector(rand, v.autn, v.res, v.ck, v.ik))
    return outcomes


def _resync_seq(alg: AkaAlgorithm, resync_data: bytes) -> int:
    """The card's SEQ_MS from RAND‖AUTS (TS 33.102 clause 6.3.5); ``ResyncRefused`` when
    MAC-S does not verify."""
    rand, auts = resync_data[:RAND_SIZE], resync_data[RAND_SIZE:]
    if len(rand) != RAND_SIZE:
        raise ResyncRefused("SIP-Authorization: expected RAND (16 bytes) ‖ AUTS")
    try:
        sqn_ms = resync(alg, rand, auts)
    except (AutsInvalid, InputError) as exc:
        raise ResyncRefused(str(exc)) from None
    return split_sqn(sqn_ms)[0]
