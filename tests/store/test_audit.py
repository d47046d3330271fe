"""The audit log is append-only and hash-chained: any change, removal or cut is detected."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from veille.store import Store
from veille.store.audit import GENESIS, AuditLog


def _fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append(f"user{i}", "search", f"query {i}", reason="case 42", detail={"n": i, "é": "ü"})


def _bypass(store: Store, statement: str) -> None:
    """Tamper the way an attacker with database access would: around the triggers."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        conn.exec_driver_sql(statement)


def test_chain_verifies(store: Store) -> None:
    log = AuditLog(store.engine, clock=store.clock)
    assert log.verify().ok
    assert log.head() == (0, GENESIS)
    _fill(log)
    result = log.verify()
    assert result.ok
    assert result.entries == 5
    assert log.head() == (5, result.head_hash)
    assert [e.id for e in log.entries(limit=2)] == [5, 4]
    assert log.entries(limit=10, before=3)[0].id == 2
    assert log.entries(actor="user1")[0].target == "query 1"


def test_database_refuses_updates_and_deletes(store: Store) -> None:
    log = AuditLog(store.engine, clock=store.clock)
    _fill(log, 2)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert log.verify().ok


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit_log SET reason = 'nothing to see' WHERE id = 3", "entry 3: content changed"),
        ("DELETE FROM audit_log WHERE id = 2", "entries 2… are missing"),
        ("UPDATE audit_log SET detail = '{\"n\": 9}' WHERE id = 4", "entry 4: content changed"),
    ],
)
def test_tampering_is_found(store: Store, statement: str, problem: str) -> None:
    log = AuditLog(store.engine, clock=store.clock)
    _fill(log)
    _bypass(store, statement)
    result = log.verify()
    assert not result.ok
    assert problem in result.problem


def test_rewritten_hash_breaks_the_next_link(store: Store) -> None:
    log = AuditLog(store.engine, clock=store.clock)
    _fill(log)
    _bypass(store, "UPDATE audit_log SET actor = 'mallory', hash = prev_hash WHERE id = 2")
    assert not log.verify().ok


def test_a_cut_tail_is_found_against_a_recorded_head(store: Store) -> None:
    log = AuditLog(store.engine, clock=store.clock)
    _fill(log)
    recorded = log.head()
    _bypass(store, "DELETE FROM audit_log WHERE id >= 4")
    assert log.verify().ok  # a shorter chain is still a chain …
    result = log.verify(expect=recorded)
    assert not result.ok
    assert "cut after entry 3" in result.problem
    _fill(log, 2)  # refilling does not give the same hashes back
    assert not log.verify(expect=recorded).ok


def test_appends_join_a_callers_transaction(store: Store) -> None:
    log = AuditLog(store.engine, clock=store.clock)

    def fail_after_append() -> None:
        with store.engine.begin() as conn:
            log.append("a", "x", conn=conn)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        fail_after_append()
    assert log.head() == (0, GENESIS)
    long = "x" * 5000
    entry = log.append(long, "y", long)
    assert len(entry.actor) == 2000
    assert log.verify().ok
