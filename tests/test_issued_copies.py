"""Evidence that comes back to the process that issued its challenge is appraised from
that process's copy (``server.attestation.copies``), on SQLite and PostgreSQL: one read less, and
the database still decides — a copy out of date (consumed by another process, expired)
gives the verdict the database holds; the rate limits are counted with the verdict.

A second ``Service`` on the same data directory and database stands for a second
worker process (gunicorn's workers are such processes, each with its own copies).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from attest.appraisal import PooledCard
from server.attestation.challenge import create_challenge
from server.attestation.copies import Issued, IssuedChallenges, copies_of
from server.attestation.evidence import submit_evidence
from server.attestation.views import get_attestation
from server.core.config import ServiceConfig
from server.core.service import Service
from server.store import audit_chain as audit
from server.store import rate_counters as ratelimit
from server.store.attestations import StoredChallenge
from server.store.models import AuditEntry, utcnow
from tests.fixtures_attestation import Pool, TestHandset

LIMIT_PER_IMEI = 3


@pytest.fixture
def service_config() -> ServiceConfig:
    return ServiceConfig(rate_limit_per_imei=LIMIT_PER_IMEI, rate_limit_per_client=1000)


@pytest.fixture
def other_process(db_url: str, tmp_path: Path, service_config: ServiceConfig,
                  service: Service) -> Iterator[Service]:
    with Service.open(tmp_path / "data", db_url, service_config) as svc:
        yield svc


@pytest.fixture
def window_start() -> None:
    """The rate-limit tests' requests must fall in one counting window (a minute)."""
    left = ratelimit.WINDOW_SECONDS - time.time() % ratelimit.WINDOW_SECONDS
    if left < 10:
        time.sleep(left + 0.1)


def _limits(svc: Service, imei: str) -> dict[str, int]:
    return {f"imei:{imei}": svc.config.rate_limit_per_imei}


def _challenge(svc: Service, handset: TestHandset) -> dict[str, str]:
    return create_challenge(svc, handset.request(), "127.0.0.1",
                            _limits(svc, handset.imei)).to_json()


def _submit(svc: Service, doc: dict[str, Any], sig: str) -> dict[str, Any]:
    return submit_evidence(svc, doc["attestation_id"], doc, sig, "127.0.0.1",
                           _limits(svc, doc["imei"])).to_json()


def _reads(svc: Service, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The challenge ids ``svc``'s store reads back (the real store, only watched)."""
    seen: list[str] = []
    load: Callable[..., Any] = svc.store.load

    def watched(attestation_id: str, *args: Any) -> Any:
        seen.append(attestation_id)
        return load(attestation_id, *args)

    monkeypatch.setattr(svc.store, "load", watched)
    return seen


def _audit_actions(svc: Service, attestation_id: str) -> list[str]:
    with svc.db.read_session() as session:
        return list(session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == f"attestation:{attestation_id}")
            .order_by(AuditEntry.seq)))


def test_evidence_back_at_the_issuing_process_is_not_read_back(
    service: Service, other_process: Service, pool: Pool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    here, there = _reads(service, monkeypatch), _reads(other_process, monkeypatch)
    handset, card = pool.handsets[0], pool.cards[0]
    first = _challenge(service, handset)
    assert _submit(service, *handset.evidence(first, card))["status"] == "affirming"
    # Issued by one process, answered to another: that one reads the challenge.
    handset, card = pool.handsets[1], pool.cards[1]
    second = _challenge(service, handset)
    assert _submit(other_process, *handset.evidence(second, card))["status"] == "affirming"
    assert (here, there) == ([], [second["id"]])
    assert len(copies_of(service)) == 1  # the second's copy, until it expires
    assert audit.verify_chain(service.db).ok


def test_a_copy_consumed_meanwhile_by_another_process_is_a_reuse(
    service: Service, other_process: Service, pool: Pool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    doc, sig = handset.evidence(_challenge(service, handset), card)
    assert _submit(other_process, doc, sig)["status"] == "affirming"
    reads = _reads(service, monkeypatch)
    replay = _submit(service, doc, sig)  # appraised from the copy, refused by the database
    assert (replay["status"], replay["reasons"]) == ("contraindicated", ["CHALLENGE_REUSED"])
    assert reads == [doc["attestation_id"]]  # then read back
    view = get_attestation(service, doc["attestation_id"])
    assert (view.state, view.status) == ("consumed", "affirming")  # the first verdict stands
    assert _audit_actions(service, doc["attestation_id"]) == [
        "attestation", "attestation.reused"]
    assert audit.verify_chain(service.db).ok


@pytest.mark.usefixtures("window_start")
def test_evidence_from_the_copy_is_counted_and_refused_with_nothing_written(
    service: Service, pool: Pool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    handset, card = pool.handsets[0], pool.cards[0]
    challenges = [_challenge(service, handset) for _ in range(LIMIT_PER_IMEI)]
    reads = _reads(service, monkeypatch)
    with pytest.raises(ratelimit.RateLimited, match="imei"):
        _submit(service, *handset.evidence(challenges[0], card))
    assert reads == []  # refused on recording the verdict from the copy
    assert get_attestation(service, challenges[0]["id"]).state == "pending"
    assert _audit_actions(service, challenges[0]["id"]) == []


def _copy(attestation_id: str, expires_at: dt.datetime) -> Issued:
    challenge = StoredChallenge(attestation_id, "490154203237518", b"\0" * 16, "n", "pending",
                                True, "pem", "89001010000000001", "001010000000001", None,
                                "milenage", b"k", b"o",
                                PooledCard("89001010000000001", "001010000000001",
                                           "490154203237518"))
    return Issued(challenge, b"x" * 8, expires_at)


def test_copies_are_single_use_expire_and_are_bounded() -> None:
    now = utcnow()
    later = now + dt.timedelta(seconds=60)
    copies = IssuedChallenges(capacity=2)
    copies.add(_copy("a", later), now)
    assert copies.take("a", now) is not None
    assert copies.take("a", now) is None  # single use
    copies.add(_copy("b", later), now)
    assert copies.take("b", later) is None  # expired at its expiry time
    copies.add(_copy("c", later), now)
    copies.add(_copy("d", later), now)
    copies.add(_copy("e", later), now)  # over capacity: not kept
    assert [copies.take(i, now) is not None for i in "cde"] == [True, True, False]
    copies.add(_copy("f", later), now)
    copies.add(_copy("g", later + dt.timedelta(seconds=1)), now)
    copies.add(_copy("h", later + dt.timedelta(seconds=1)), later)  # f dropped: h fits
    assert [copies.take(i, later) is not None for i in "fgh"] == [False, True, True]
    assert len(copies) == 0
    assert "x" * 8 not in repr(_copy("i", later))  # XRES stays out of logs
