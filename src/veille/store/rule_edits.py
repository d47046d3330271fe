"""Who changed which rule, when and why: the history the dashboard's rule editor shows.

The rule itself lives in its TOML file (rules are code); each edit made through veille keeps a
snapshot of the rule before and after, with the author and the reason given. Query versions as
the matcher numbers them stay in ``rule_versions`` (``veille.store.schema``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Column, Index, Integer, Table, Text

from veille.clock import Clock, utcnow
from veille.store.engine import WRITE
from veille.store.schema import RowId, metadata, rule_versions
from veille.store.types import JSONText, Timestamp

rule_edits: Final = Table(
    "rule_edits",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("rule", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("file", Text, nullable=False, server_default=""),
    Column("before", JSONText),
    Column("after", JSONText),
    Index(None, "rule", "at"),
)
"""``before`` is null for a created rule, ``after`` null for a deleted one; ``version`` is the
query version the rule had after the edit."""


@dataclass(frozen=True, slots=True)
class RuleEdit:
    id: int
    rule: str
    version: int
    at: datetime
    actor: str
    reason: str = ""
    file: str = ""
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class QueryVersion:
    version: int
    query: str
    created_at: datetime
    edits: tuple[RuleEdit, ...] = field(default_factory=tuple)


class RuleEdits:
    """Record and read rule edits on the store's database."""

    def __init__(self, engine: sa.Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def record(
        self,
        rule: str,
        version: int,
        actor: str,
        *,
        reason: str,
        file: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                rule_edits.insert().values(
                    rule=rule,
                    version=version,
                    at=self.clock(),
                    actor=actor,
                    reason=reason,
                    file=file,
                    before=None if before is None else dict(before),
                    after=None if after is None else dict(after),
                )
            )

    def edits(self, rule: str, *, limit: int = 200) -> list[RuleEdit]:
        """Newest first."""
        e = rule_edits.c
        query = sa.select(rule_edits).where(e.rule == rule).order_by(e.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                RuleEdit(
                    id=r.id,
                    rule=r.rule,
                    version=r.version,
                    at=r.at,
                    actor=r.actor,
                    reason=r.reason,
                    file=r.file,
                    before=r.before,
                    after=r.after,
                )
                for r in conn.execute(query)
            ]

    def query_versions(self, rule: str) -> list[QueryVersion]:
        """Every query the rule has had (newest first), as the matcher numbered them."""
        v = rule_versions.c
        query = sa.select(rule_versions).where(v.rule == rule).order_by(v.version.desc())
        with self.engine.connect() as conn:
            return [
                QueryVersion(version=r.version, query=r.query, created_at=r.created_at)
                for r in conn.execute(query)
            ]
