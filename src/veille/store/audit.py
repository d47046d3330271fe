"""The audit log: who did what, when and why — append-only and hash-chained.

Each entry's hash covers its own fields and the previous entry's hash, so changing, removing or
reordering any entry breaks the chain from there on: :meth:`AuditLog.verify` (``veille audit
verify``) finds the first broken link. Database triggers refuse UPDATE and DELETE on the table;
the chain catches whoever goes around them. Cutting the *end* of the log leaves a shorter valid
chain, so an operator keeps the head (``veille audit head``) somewhere else and verifies against
it (``--expect ID:HASH``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy import Column, Index, String, Table, Text

from veille.clock import Clock, utcnow
from veille.store.engine import WRITE
from veille.store.schema import RowId, metadata
from veille.store.types import JSONText, Timestamp, to_micros

GENESIS: Final = "0" * 64
"""The ``prev_hash`` of the first entry."""

MAX_FIELD: Final = 2000
"""Longest actor/action/target/reason kept (longer values are cut, with a marker)."""

_PG_LOCK: Final = 0x7665696C6C65  # "veille": serialises appends on PostgreSQL

audit_log: Final = Table(
    "audit_log",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=False),
    Column("at", Timestamp, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("detail", JSONText, nullable=False, server_default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "at"),
    Index(None, "actor"),
)
"""One row per audited act; ``id`` counts from 1 without gaps (part of the hashed content)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str = ""
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""


@dataclass(frozen=True, slots=True)
class Verification:
    """What :meth:`AuditLog.verify` found: ``ok``, how many entries, the head, the first fault."""

    ok: bool
    entries: int
    head_id: int = 0
    head_hash: str = GENESIS
    problem: str = ""


def _cut(value: str) -> str:
    return value if len(value) <= MAX_FIELD else value[: MAX_FIELD - 1] + "…"


def entry_hash(
    entry_id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    reason: str,
    detail: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON of the entry and the previous hash."""
    body = orjson.dumps(
        [entry_id, to_micros(at), actor, action, target, reason, detail, prev_hash],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(body).hexdigest()


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        reason=row.reason,
        detail=row.detail,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditLog:
    """Append to and read the audit log on the store's database."""

    def __init__(self, engine: sa.Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def append(
        self,
        actor: str,
        action: str,
        target: str = "",
        *,
        reason: str = "",
        detail: Mapping[str, Any] | None = None,
        conn: sa.Connection | None = None,
    ) -> AuditEntry:
        """Write one entry, chained to the last. Pass ``conn`` to join a caller's transaction
        (so that, e.g., a retention deletion and its audit entry commit together)."""
        if conn is not None:
            return self._append(conn, actor, action, target, reason, detail or {})
        with self.engine.connect().execution_options(**WRITE) as own, own.begin():
            return self._append(own, actor, action, target, reason, detail or {})

    def _append(
        self,
        conn: sa.Connection,
        actor: str,
        action: str,
        target: str,
        reason: str,
        detail: Mapping[str, Any],
    ) -> AuditEntry:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK)))
        a = audit_log.c
        last = conn.execute(sa.select(a.id, a.hash).order_by(a.id.desc()).limit(1)).first()
        entry_id, prev = (last.id + 1, last.hash) if last else (1, GENESIS)
        # Round-trip the detail through JSON so the hash covers exactly what is stored.
        stored_detail = orjson.loads(orjson.dumps(dict(detail), default=str))
        values = {
            "id": entry_id,
            "at": self.clock(),
            "actor": _cut(actor),
            "action": _cut(action)[:64],
            "target": _cut(target),
            "reason": _cut(reason),
            "detail": stored_detail,
            "prev_hash": prev,
        }
        values["hash"] = entry_hash(
            entry_id,
            values["at"],
            values["actor"],
            values["action"],
            values["target"],
            values["reason"],
            stored_detail,
            prev,
        )
        conn.execute(audit_log.insert().values(**values))
        return AuditEntry(**values)

    def entries(
        self,
        *,
        limit: int = 100,
        before: int | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """Newest first; ``before`` an id for the next page."""
        a = audit_log.c
        query = sa.select(audit_log).order_by(a.id.desc()).limit(limit)
        if before is not None:
            query = query.where(a.id < before)
        if actor:
            query = query.where(a.actor == actor)
        if action:
            query = query.where(a.action == action)
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def head(self) -> tuple[int, str]:
        """``(id, hash)`` of the last entry (``(0, GENESIS)`` when empty)."""
        a = audit_log.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(a.id, a.hash).order_by(a.id.desc()).limit(1)).first()
        return (row.id, row.hash) if row else (0, GENESIS)

    def _walk(self, batch: int = 5000) -> Iterator[AuditEntry]:
        a = audit_log.c
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = list(
                    conn.execute(
                        sa.select(audit_log).where(a.id > last).order_by(a.id).limit(batch)
                    )
                )
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            last = rows[-1].id

    def verify(self, expect: tuple[int, str] | None = None) -> Verification:
        """Recompute the whole chain; ``expect`` is a head recorded earlier that must still be
        in the chain (this catches a log cut short)."""
        count, prev, prev_id = 0, GENESIS, 0
        seen_expected = expect is None or expect[0] == 0
        for entry in self._walk():
            where = f"entry {entry.id}"
            if entry.id != prev_id + 1:
                return Verification(
                    False, count, prev_id, prev, f"{where}: entries {prev_id + 1}… are missing"
                )
            if entry.prev_hash != prev:
                return Verification(
                    False, count, prev_id, prev, f"{where}: not chained to entry {prev_id}"
                )
            computed = entry_hash(
                entry.id,
                entry.at,
                entry.actor,
                entry.action,
                entry.target,
                entry.reason,
                entry.detail,
                entry.prev_hash,
            )
            if computed != entry.hash:
                return Verification(
                    False, count, prev_id, prev, f"{where}: content changed after it was written"
                )
            if expect is not None and entry.id == expect[0]:
                if entry.hash != expect[1]:
                    return Verification(
                        False, count, prev_id, prev, f"{where}: differs from the recorded head"
                    )
                seen_expected = True
            count, prev, prev_id = count + 1, entry.hash, entry.id
        if not seen_expected:
            assert expect is not None
            return Verification(
                False,
                count,
                prev_id,
                prev,
                f"the recorded head (entry {expect[0]}) is gone: the log was cut after entry "
                f"{prev_id}",
            )
        return Verification(True, count, prev_id, prev)
