"""The hash-chained audit log: verification finds the first tampered entry."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from server.core.service import Service
from server.store import audit_chain as audit
from server.store.models import AuditEntry


def _append(svc: Service, count: int) -> None:
    for n in range(count):
        with svc.db.session() as session:
            audit.append(session, "tester", "test.event", f"item:{n}", {"n": n, "ok": True})


def test_intact_chain_verifies(service: Service) -> None:
    assert audit.verify_chain(service.db).to_json() == {
        "entries": 0, "ok": True, "first_broken": None, "reason": "", "head": None}
    _append(service, 5)
    report = audit.verify_chain(service.db)
    with service.db.read_session() as session:
        last = session.scalars(select(AuditEntry).where(AuditEntry.seq == 5)).one()
    assert report.to_json() == {"entries": 5, "ok": True, "first_broken": None, "reason": "",
                                "head": f"5:{last.hash.hex()}"}


def test_changed_details_name_the_entry(service: Service) -> None:
    _append(service, 5)
    with service.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3)
                        .values(details={"n": 99, "ok": True}))
    report = audit.verify_chain(service.db)
    assert (report.ok, report.first_broken) == (False, 3)
    assert "content" in report.reason
    # It says what the entry records: something to look up in the other records.
    assert "(test.event item:2 by tester, " in report.reason


def test_rewritten_hash_breaks_the_next_link(service: Service) -> None:
    _append(service, 5)
    with service.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2)
                        .values(actor="mallory", hash=bytes(32)))
    report = audit.verify_chain(service.db)
    assert (report.ok, report.first_broken) == (False, 2)


def test_removed_entries_are_found(service: Service) -> None:
    _append(service, 5)
    with service.db.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    report = audit.verify_chain(service.db)
    assert (report.ok, report.first_broken) == (False, 4)
    assert "gap" in report.reason
    with service.db.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 3))
    report = audit.verify_chain(service.db)
    assert (report.ok, report.first_broken) == (False, 3)
    assert "head" in report.reason


def test_failed_change_leaves_no_entry(service: Service) -> None:
    try:
        with service.db.session() as session:
            audit.append(session, "tester", "test.event", "x", {})
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert audit.verify_chain(service.db).entries == 0
