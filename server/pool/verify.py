"""``pool verify``: prove every inserted card holds the keys the pool has for it.

For each reader: read the ICCID (``hw.identity``), look the card up, decrypt its K/OPc
inside this process, reserve the next SQN in the service's IND slot, and run the
self-check AKA (``hw.selfcheck``: RAND/AUTN from the imported keys, RES/CK/IK compared
in constant time, one AUTS resync).  The card's verification state becomes
``verified``, or ``failed`` with the reason (the self-check's reason code, or
``IMSI_MISMATCH`` when the card's IMSI is not the imported one).  Readers run in
parallel threads — the time goes into APDU round trips, not Python.

It needs the keys, so it runs on the data directory / database directly (like
``admin token create``), never through the HTTP API.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from attest.errors import InputError, SimattestError
from hw.identity import read_identities
from hw.selfcheck import self_check
from hw.transport.base import open_transport
from server.core.service import Service
from server.pool import registry
from server.pool.cardkeys import card_algorithm
from server.store.models import Card

# Outcome states: the card's new verification state, or why none was recorded.
VERIFIED, FAILED, NOT_IN_POOL, READER_ERROR = "verified", "failed", "not-in-pool", "error"


@dataclass(frozen=True)
class CardOutcome:
    reader: str
    iccid: str | None
    state: str
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"reader": self.reader, "iccid": self.iccid, "state": self.state,
                "reason": self.reason}


def expand_readers(uris: list[str]) -> list[str]:
    """``pcsc:*`` (or any ``pcsc:`` glob with ``*?[``) → ``pcsc:<index>`` of every matching
    reader that holds a card; other URIs pass through unchanged."""
    expanded: list[str] = []
    for uri in uris:
        scheme, _, rest = uri.partition(":")
        if scheme == "pcsc" and any(c in rest for c in "*?["):
            # Imported here: pyscard (and libpcsclite's socket choice) only when asked for.
            from hw.transport.pcsc import list_readers

            matches = [r for r in list_readers()
                       if r.card_present and fnmatch.fnmatchcase(r.name, rest)]
            expanded += [f"pcsc:{r.index}" for r in matches]
        else:
            expanded.append(uri)
    if not expanded:
        raise InputError("no reader with a card matches " + " ".join(uris))
    return expanded


def verify_card(svc: Service, uri: str, *, actor: str) -> CardOutcome:
    """Self-check the card in one reader and record the verdict."""
    try:
        with open_transport(uri) as transport:
            identities = read_identities(transport)
            iccid = identities.iccid
            with svc.db.session() as session:
                card = session.scalar(select(Card).where(Card.iccid == iccid))
                if card is None:
                    return CardOutcome(uri, iccid, NOT_IN_POOL, "ICCID not in the pool")
                sqn = registry.reserve_sqn(svc, iccid, session=session)
            algorithm = card_algorithm(svc, card)
            result = self_check(transport, algorithm, sqn)
    except SimattestError as exc:
        return CardOutcome(uri, None, READER_ERROR, str(exc))
    if not result.passed:
        state, reason = FAILED, str(result.reason)
    elif identities.imsi != card.imsi:
        # Right keys, wrong identity: not the card the vendor file describes.
        state, reason = FAILED, "IMSI_MISMATCH"
    else:
        state, reason = VERIFIED, "self-check AKA passed"
    with svc.db.session() as session:
        # After a resync the second challenge used a higher SEQ: never hand that out again.
        registry.resync_sqn(svc, iccid, result.sqn, session=session)
        registry.set_card_verification(svc, iccid, state, reason, actor=actor, session=session)
    return CardOutcome(uri, iccid, state, reason)


def verify_pool(
    svc: Service, uris: list[str], *, actor: str,
    on_done: Callable[[CardOutcome], None] | None = None,
) -> list[CardOutcome]:
    """Verify the cards in ``uris`` (already expanded), one thread per reader."""
    with ThreadPoolExecutor(max_workers=max(1, len(uris)),
                            thread_name_prefix="pool-verify") as pool:
        futures = [pool.submit(verify_card, svc, uri, actor=actor) for uri in uris]
        for future in as_completed(futures):
            if on_done is not None:
                on_done(future.result())
    return [future.result() for future in futures]
