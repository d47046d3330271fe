"""Rule versions kept in the database, so a rule's version survives restarts.

Implements :class:`veille.rules.VersionRegistry` over the ``rule_versions`` table: a rule seen
for the first time gets version 1, the same query as its latest version keeps it, any other
query text (even one used before) gets latest + 1. Every version's query is kept, so a match
can always be explained with the exact query that produced it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa

from veille.clock import Clock, utcnow
from veille.store.engine import WRITE
from veille.store.schema import rule_versions

_CHUNK = 500
_RETRIES = 5


def digest(query: str) -> str:
    """SHA-256 of a query as compared (surrounding whitespace stripped)."""
    return hashlib.sha256(query.strip().encode("utf-8", "surrogatepass")).hexdigest()


class StoredVersionRegistry:
    """:class:`veille.rules.VersionRegistry` persisted in the ``rule_versions`` table."""

    def __init__(self, engine: sa.Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def assign(self, rules: Iterable[tuple[str, str]]) -> dict[str, int]:
        """The version of each ``(rule id, query)``, recording new versions (one transaction).

        Processes starting together on PostgreSQL (scale-out workers) may record the same new
        version at once: the loser's transaction fails whole and is retried against what the
        winner stored, so every process gets the same versions.
        """
        wanted = [(rule, query.strip()) for rule, query in rules]
        for attempt in range(_RETRIES):
            try:
                return self._assign(wanted)
            except sa.exc.IntegrityError:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _assign(self, wanted: list[tuple[str, str]]) -> dict[str, int]:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            latest = _latest(conn, sorted({rule for rule, _ in wanted}))
            out: dict[str, int] = {}
            new_rows: list[dict[str, object]] = []
            now = self.clock()
            for rule, query in wanted:
                found = latest.get(rule)
                query_digest = digest(query)
                if found is not None and found[1] == query_digest:
                    out[rule] = found[0]
                    continue
                version = 1 if found is None else found[0] + 1
                latest[rule] = (version, query_digest)
                out[rule] = version
                new_rows.append(
                    {
                        "rule": rule,
                        "version": version,
                        "digest": query_digest,
                        "query": query,
                        "created_at": now,
                    }
                )
            if new_rows:
                conn.execute(sa.insert(rule_versions), new_rows)
        return out

    def query(self, rule: str, version: int) -> str | None:
        """The query text of ``rule`` at ``version`` (to explain an old match)."""
        v = rule_versions.c
        with self.engine.connect() as conn:
            found: str | None = conn.execute(
                sa.select(v.query).where(v.rule == rule, v.version == version)
            ).scalar_one_or_none()
        return found


def _latest(conn: sa.Connection, rules: list[str]) -> dict[str, tuple[int, str]]:
    """Latest ``(version, digest)`` of each rule that has one."""
    v = rule_versions.c
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(rules), _CHUNK):
        chunk = rules[start : start + _CHUNK]
        top = (
            sa.select(v.rule, sa.func.max(v.version).label("version"))
            .where(v.rule.in_(chunk))
            .group_by(v.rule)
            .subquery()
        )
        query = sa.select(v.rule, v.version, v.digest).join(
            top, sa.and_(v.rule == top.c.rule, v.version == top.c.version)
        )
        for rule, version, query_digest in conn.execute(query):
            found[rule] = (version, query_digest)
    return found
