"""The attestation hot path on SQLAlchemy Core (SQLite, the embedded default).

Statements are built once (SQLAlchemy caches their compiled form).  Every write runs
in ``Database.connection()``: on SQLite a ``BEGIN IMMEDIATE`` transaction, which
serialises writers across processes, so the conditional UPDATE that consumes a
challenge is decided by whichever writer gets the lock first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, Update, and_, bindparam, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import aliased

from server.store import audit_chain as audit
from server.store import rate_counters as ratelimit
from server.store.attestations import NewChallenge, PairedCard, Proof, StoredChallenge, Verdict
from server.store.db import Database
from server.store.models import Attestation, Card, Handset, Pairing, RateCounter, UtcDateTime

_ATT = cast(Table, Attestation.__table__)
_CARDS = cast(Table, Card.__table__)
_HANDSET_AND_CARD = (
    select(Handset.id, Handset.public_key_pem, Card.id, Card.iccid, Card.imsi, Card.profile,
           Card.algorithm, Card.k_enc, Card.opc_enc)
    .select_from(Handset)
    .outerjoin(Pairing, and_(Pairing.handset_id == Handset.id, Pairing.ended_at.is_(None)))
    .outerjoin(Card, Card.id == Pairing.card_id)
    .where(Handset.imei == bindparam("imei"))
)
_RESERVE_SQN = (update(_CARDS).where(_CARDS.c.id == bindparam("card_id"))
                .values(sqn_seq=_CARDS.c.sqn_seq + 1).returning(_CARDS.c.sqn_seq))
_INSERT = insert(_ATT)
_HANDSET_KEY = select(Handset.public_key_pem).where(Handset.imei == bindparam("imei"))
_COUNTERS = cast(Table, RateCounter.__table__)
# The handset's last bound request time moves forward only (see attestations.Proof).
_SIGNED_AT = sqlite.insert(_COUNTERS).values(key=bindparam("key"), window=bindparam("at"),
                                             count=0)
_FRESH = _SIGNED_AT.on_conflict_do_update(
    index_elements=[_COUNTERS.c.key], set_={"window": _SIGNED_AT.excluded.window},
    where=_COUNTERS.c.window < _SIGNED_AT.excluded.window).returning(_COUNTERS.c.key)
_EVIDENCE_CARD = aliased(Card)
_EVIDENCE_PAIRING = aliased(Pairing)
_EVIDENCE_HANDSET = aliased(Handset)
_LOAD = (
    select(_ATT.c.id, _ATT.c.imei, _ATT.c.rand, _ATT.c.nonce, _ATT.c.state,
           _ATT.c.expires_at > bindparam("now", type_=UtcDateTime()),
           Handset.public_key_pem, Card.iccid, Card.imsi, Card.profile, Card.algorithm,
           Card.k_enc, Card.opc_enc,
           _EVIDENCE_CARD.iccid, _EVIDENCE_CARD.imsi, _EVIDENCE_HANDSET.imei)
    .select_from(_ATT)
    .outerjoin(Handset, Handset.id == _ATT.c.handset_id)
    .outerjoin(Card, Card.id == _ATT.c.card_id)
    .outerjoin(_EVIDENCE_CARD, _EVIDENCE_CARD.iccid == bindparam("iccid"))
    .outerjoin(_EVIDENCE_PAIRING, and_(_EVIDENCE_PAIRING.card_id == _EVIDENCE_CARD.id,
                                       _EVIDENCE_PAIRING.ended_at.is_(None)))
    .outerjoin(_EVIDENCE_HANDSET, _EVIDENCE_HANDSET.id == _EVIDENCE_PAIRING.handset_id)
    .where(_ATT.c.id == bindparam("att_id"))
)
_PENDING = and_(_ATT.c.id == bindparam("att_id"), _ATT.c.state == "pending")
_RECORD = update(_ATT).where(
    _PENDING, _ATT.c.expires_at > bindparam("at", type_=UtcDateTime())).values(
    state="consumed", appraised_at=bindparam("at", type_=UtcDateTime()),
    status=bindparam("status"), reasons=bindparam("reasons"), ear=bindparam("ear"),
    resync_id=bindparam("resync_id"), iccid=bindparam("iccid"), imsi=bindparam("imsi"),
    evidence=bindparam("evidence"), device_certificate=bindparam("device_certificate"))
_EXPIRE = update(_ATT).where(_PENDING).values(
    state="expired", appraised_at=bindparam("at", type_=UtcDateTime()),
    status=bindparam("status"), reasons=bindparam("reasons"), ear=bindparam("ear"))


class SqlAlchemyStore:
    """``server.store.attestations.AttestationStore`` on ``db``'s engine."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def issue(self, challenge: NewChallenge, limits: dict[str, int] | None,
              proof: Proof | None) -> PairedCard | None:
        with self.db.connection() as conn:
            row = conn.execute(_HANDSET_AND_CARD, {"imei": challenge.imei}).first()
            bound = row is not None and proof is not None \
                and row.public_key_pem == proof.public_key_pem \
                and (proof.signed_at is None or conn.execute(_FRESH, {
                    "key": f"signed:{challenge.imei}", "at": proof.signed_at}).first()
                    is not None)
            ratelimit.count(conn, limits if bound else ratelimit.per_client(limits))
            if row is None:
                found = None
            else:
                card_id = row[2]
                seq = None if card_id is None or not bound \
                    else conn.scalar(_RESERVE_SQN, {"card_id": card_id})
                found = PairedCard(*row, sqn_seq=seq)
            conn.execute(_INSERT, {
                **challenge.values(), "state": "pending",
                "handset_id": found.handset_id if bound and found else None,
                "card_id": found.card_id if bound and found else None})
        return found

    def handset_key(self, imei: str) -> str | None:
        with self.db.read_session() as session:
            return cast(str | None, session.scalar(_HANDSET_KEY, {"imei": imei}))

    def count(self, limits: dict[str, int] | None) -> None:
        with self.db.connection() as conn:
            ratelimit.count(conn, limits)

    def load(self, attestation_id: str, evidence_iccid: str, now: dt.datetime,
             limits: dict[str, int] | None) -> StoredChallenge | None:
        with self.db.connection() as conn:
            ratelimit.count(conn, limits)
            row = conn.execute(_LOAD, {"att_id": attestation_id, "iccid": evidence_iccid,
                                       "now": now}).first()
        return None if row is None else StoredChallenge.from_row(row)

    def _consume(self, stmt: Update, params: dict[str, Any], entry: audit.Entry,
                 limits: dict[str, int] | None = None) -> bool:
        with self.db.connection() as conn:
            ratelimit.count(conn, limits)
            if conn.execute(stmt, params).rowcount != 1:
                return False
            audit.append_entry(conn, entry)
            return True

    def record(self, attestation_id: str, at: dt.datetime, verdict: Verdict,
               entry: audit.Entry, limits: dict[str, int] | None = None) -> bool:
        return self._consume(_RECORD, {
            "att_id": attestation_id, "at": at, "status": verdict.status,
            "reasons": verdict.reasons, "ear": verdict.ear, "resync_id": verdict.resync_id,
            "iccid": verdict.iccid, "imsi": verdict.imsi, "evidence": verdict.evidence,
            "device_certificate": verdict.device_certificate},
            entry, limits)

    def expire(self, attestation_id: str, at: dt.datetime, status: str, reasons: list[str],
               ear: str, entry: audit.Entry) -> bool:
        return self._consume(_EXPIRE, {"att_id": attestation_id, "at": at, "status": status,
                                       "reasons": reasons, "ear": ear}, entry)

    def close(self) -> None:
        """Nothing of its own: the connections are the engine's."""

    def audit(self, entry: audit.Entry) -> None:
        with self.db.connection() as conn:
            audit.append_entry(conn, entry)
