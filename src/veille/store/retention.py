"""Retention: posts expire by platform and purpose, and their traces go with them.

A post is *matched* when a rule matched it or it belongs to a flagged conversation (the context
of a match); otherwise it is *unmatched*. Each purpose has its own keep period, per platform when
configured (``[retention]``). A run deletes expired posts in chunks; each chunk, in ONE
transaction, removes the posts' full-text rows, matches and edit history (foreign-key cascade),
the alerts about them, conversations left without posts, and appends one audit entry saying
what went. Old quarantined payloads expire with the unmatched period, per-author trend counts
with the matched period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import sqlalchemy as sa
from sqlalchemy import Column, Integer, Table, Text

from veille.clock import Clock, utcnow
from veille.store.alerts import alerts
from veille.store.audit import AuditLog
from veille.store.engine import WRITE
from veille.store.schema import (
    RowId,
    conversations,
    matches,
    metadata,
    of_conversation,
    posts,
    quarantine,
)
from veille.store.trends import trend_terms
from veille.store.types import JSONText, Timestamp

if TYPE_CHECKING:
    from veille.config import RetentionSettings

CHUNK: Final = 1000

retention_runs: Final = Table(
    "retention_runs",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("actor", Text, nullable=False),
    Column("posts", Integer, nullable=False, server_default="0"),
    Column("conversations", Integer, nullable=False, server_default="0"),
    Column("alerts", Integer, nullable=False, server_default="0"),
    Column("quarantine", Integer, nullable=False, server_default="0"),
    Column("detail", JSONText, nullable=False, server_default="{}"),
)
"""One row per run of the retention job (the audit log has the same facts, chained)."""


@dataclass(frozen=True, slots=True)
class Keep:
    """How long posts are kept, per purpose; ``None`` keeps them for ever."""

    unmatched: timedelta | None = timedelta(days=7)
    matched: timedelta | None = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Policy:
    """The default keep periods and per-platform overrides."""

    default: Keep = field(default_factory=Keep)
    platforms: Mapping[str, Keep] = field(default_factory=dict)

    def keep(self, platform: str) -> Keep:
        return self.platforms.get(platform, self.default)

    @classmethod
    def from_settings(cls, section: RetentionSettings) -> Policy:
        """The policy of the ``[retention]`` section (``0`` days: keep for ever)."""

        def period(days: float) -> timedelta | None:
            return timedelta(days=days) if days > 0 else None

        default = Keep(period(section.unmatched_days), period(section.matched_days))
        platforms = {
            name: Keep(
                period(
                    p.unmatched_days if p.unmatched_days is not None else section.unmatched_days
                ),
                period(p.matched_days if p.matched_days is not None else section.matched_days),
            )
            for name, p in section.platforms.items()
        }
        return cls(default, platforms)


@dataclass(slots=True)
class Purged:
    """What a run deleted."""

    posts: int = 0
    conversations: int = 0
    alerts: int = 0
    quarantine: int = 0
    author_counts: int = 0
    """Rows of per-author trend counts forgotten."""
    by: dict[str, int] = field(default_factory=dict)
    """Posts deleted per ``platform/purpose``."""


def _matched(platform_col: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """SQL: the post has a match or sits in a flagged conversation."""
    has_match = sa.exists().where(matches.c.post_id == posts.c.id)
    in_flagged = sa.exists().where(
        conversations.c.platform == platform_col, conversations.c.root == posts.c.conv_root
    )
    return sa.or_(has_match, in_flagged)


def _delete_alerts(conn: sa.Connection, keys: list[tuple[str, str]]) -> int:
    """Alerts raised about deleted posts go with them (their groups' memberships, outbox rows
    and events follow by foreign-key cascade)."""
    deleted = 0
    for platform in {p for p, _ in keys}:
        ids = [n for p, n in keys if p == platform]
        done = conn.execute(
            alerts.delete().where(alerts.c.platform == platform, alerts.c.native_id.in_(ids))
        )
        deleted += done.rowcount
    return deleted


class Retention:
    """Runs the retention policy against the store's database."""

    def __init__(self, engine: sa.Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = AuditLog(engine, clock=clock)

    def _expired(
        self, conn: sa.Connection, policy: Policy, now: datetime
    ) -> list[tuple[int, str, str, str, str]]:
        """Up to CHUNK expired posts: (id, platform, native_id, search_text, purpose)."""
        found: list[tuple[int, str, str, str, str]] = []
        platforms = [p for (p,) in conn.execute(sa.select(posts.c.platform).distinct())]
        for platform in platforms:
            keep = policy.keep(platform)
            for purpose, period in (("unmatched", keep.unmatched), ("matched", keep.matched)):
                if period is None or len(found) >= CHUNK:
                    continue
                matched = _matched(posts.c.platform)
                query = (
                    sa.select(posts.c.id, posts.c.native_id, posts.c.search_text)
                    .where(
                        posts.c.platform == platform,
                        posts.c.stored_at < now - period,
                        matched if purpose == "matched" else sa.not_(matched),
                    )
                    .limit(CHUNK - len(found))
                )
                found += [
                    (r.id, platform, r.native_id, r.search_text, purpose)
                    for r in conn.execute(query)
                ]
        return found

    def run(self, policy: Policy, *, actor: str = "retention") -> Purged:
        """Delete everything expired under ``policy``; each chunk commits with its audit entry."""
        started = self.clock()
        total = Purged()
        while True:
            with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                now = self.clock()
                expired = self._expired(conn, policy, now)
                if not expired:
                    break
                chunk = self._delete(conn, expired)
                self.audit.append(
                    actor,
                    "retention.delete",
                    f"{chunk.posts} posts",
                    reason="retention policy",
                    detail={
                        "posts": chunk.posts,
                        "conversations": chunk.conversations,
                        "alerts": chunk.alerts,
                        "by": chunk.by,
                    },
                    conn=conn,
                )
            total.posts += chunk.posts
            total.conversations += chunk.conversations
            total.alerts += chunk.alerts
            for key, count in chunk.by.items():
                total.by[key] = total.by.get(key, 0) + count
        if policy.default.matched is not None:
            total.author_counts = self._forget_authors(policy.default.matched, actor)
        if policy.default.unmatched is not None:
            with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                cutoff = self.clock() - policy.default.unmatched
                done = conn.execute(quarantine.delete().where(quarantine.c.at < cutoff))
                total.quarantine = done.rowcount
                if total.quarantine:
                    self.audit.append(
                        actor,
                        "retention.delete",
                        f"{total.quarantine} quarantined records",
                        reason="retention policy",
                        detail={"quarantine": total.quarantine},
                        conn=conn,
                    )
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                retention_runs.insert().values(
                    started_at=started,
                    finished_at=self.clock(),
                    actor=actor,
                    posts=total.posts,
                    conversations=total.conversations,
                    alerts=total.alerts,
                    quarantine=total.quarantine,
                    detail={"by": total.by},
                )
            )
        return total

    def _forget_authors(self, period: timedelta, actor: str) -> int:
        """Per-author counts of the trend rollups (the "top authors") are personal data: they
        go with the matched period; the anonymous figures (volume, sentiment, words) stay."""
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            t = trend_terms.c
            done = conn.execute(
                trend_terms.delete().where(t.kind == "author", t.start < self.clock() - period)
            )
            if done.rowcount:
                self.audit.append(
                    actor,
                    "retention.delete",
                    f"{done.rowcount} author counts",
                    reason="retention policy",
                    detail={"author_counts": done.rowcount},
                    conn=conn,
                )
            return int(done.rowcount)

    def _delete(self, conn: sa.Connection, expired: list[tuple[int, str, str, str, str]]) -> Purged:
        out = Purged()
        ids = [e[0] for e in expired]
        if conn.dialect.name == "sqlite":
            # The external-content FTS5 index is told what to forget, with the indexed text.
            conn.exec_driver_sql(
                "INSERT INTO posts_fts(posts_fts, rowid, search_text) VALUES ('delete', ?, ?)",
                [(post_id, text) for post_id, _, _, text, _ in expired],
            )
        out.alerts = _delete_alerts(conn, [(p, n) for _, p, n, _, _ in expired])
        touched = {
            (p, r)
            for p, r in conn.execute(
                sa.select(posts.c.platform, posts.c.conv_root).where(posts.c.id.in_(ids)).distinct()
            )
        }
        done = conn.execute(posts.delete().where(posts.c.id.in_(ids)))
        out.posts = done.rowcount
        for _, platform, _, _, purpose in expired:
            key = f"{platform}/{purpose}"
            out.by[key] = out.by.get(key, 0) + 1
        if touched:
            c = conversations.c
            emptied = conn.execute(
                conversations.delete().where(
                    sa.tuple_(c.platform, c.root).in_(sorted(touched)),
                    ~sa.exists().where(of_conversation(c.platform, c.root)),
                )
            )
            out.conversations = emptied.rowcount
        return out

    def last_run(self) -> Mapping[str, object] | None:
        r = retention_runs.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(retention_runs).order_by(r.id.desc()).limit(1)).first()
        return None if row is None else dict(row._mapping)
