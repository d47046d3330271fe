"""Trend tables: each stored post's sentiment, and the rollups kept incrementally from them.

``post_sentiment`` holds one row per post that the rollups have counted: the row's presence is
what makes recording idempotent (a re-delivered post is not counted twice) and it keeps the
sentiment so that a rebuild from the archive gives exactly the incremental result.

``trend_buckets`` and ``trend_terms`` hold the additive figures of
:mod:`veille.trends.rollup`; increments are upserted with ``value = value + excluded.value``
(``ON CONFLICT`` on both engines). Every function takes an open connection: the caller
chooses the transaction.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from veille.model import Author, Post, Sentiment
from veille.store.schema import RowId, matches, metadata, posts
from veille.store.sql import Dialect, by_platform
from veille.store.types import Timestamp, aware, from_micros, time_binder
from veille.trends.rollup import (
    STEP,
    Bucket,
    Dimension,
    Granularity,
    Increments,
    PostFacts,
    TermKind,
    facts_of,
    floor,
    increments,
)

post_sentiment: Final = sa.Table(
    "post_sentiment",
    metadata,
    sa.Column("post_id", RowId, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("label", sa.String(8), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("polarity", sa.Float, nullable=False),
    # The post's bucket time: creation time, else arrival, never later than storage.
    sa.Column("at", Timestamp, nullable=False, index=True),
)

trend_buckets: Final = sa.Table(
    "trend_buckets",
    metadata,
    sa.Column("granularity", sa.String(8), nullable=False),
    sa.Column("dimension", sa.String(16), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("start", Timestamp, nullable=False),
    sa.Column("volume", sa.BigInteger, nullable=False),
    sa.Column("negative", sa.BigInteger, nullable=False),
    sa.Column("neutral", sa.BigInteger, nullable=False),
    sa.Column("positive", sa.BigInteger, nullable=False),
    sa.Column("polarity_sum", sa.Float, nullable=False),
    sa.Column("reach", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("granularity", "dimension", "value", "start"),
)

trend_terms: Final = sa.Table(
    "trend_terms",
    metadata,
    sa.Column("granularity", sa.String(8), nullable=False),
    sa.Column("dimension", sa.String(16), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("start", Timestamp, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("term", sa.Text, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("granularity", "dimension", "value", "start", "kind", "term"),
)

_FIGURES: Final = ("volume", "negative", "neutral", "positive", "polarity_sum", "reach")
_figures: Final = operator.attrgetter(*_FIGURES)
_BUCKET_KEY: Final = ("granularity", "dimension", "value", "start")
_TERM_KEY: Final = (*_BUCKET_KEY, "kind", "term")


def _upsert_sql(conn: Connection, table: sa.Table, key: Sequence[str], add: Sequence[str]) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE SET x = x + excluded.x`` for the DB-API cursor.

    Raw text rather than Core: a batch upserts ~15 rows per post, and Core's per-row parameter
    processing cost more than the statement itself (docs/benchmarks.md, "veille run").
    """
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    columns = [*key, *add]  # the order of the bound rows
    sets = ", ".join(f"{name} = {table.name}.{name} + excluded.{name}" for name in add)
    # Our own constant table and column names; every value is bound.
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def _executemany(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def apply(conn: Connection, inc: Increments) -> None:
    """Add ``inc`` to the stored rollups."""
    bind = time_binder(conn.dialect.name)
    times: dict[datetime, Any] = {}  # a batch's buckets share a few start times

    def at(start: datetime) -> Any:
        bound = times.get(start)
        if bound is None:
            bound = times[start] = bind(start)
        return bound

    bucket_rows = [
        (g, dim, value, at(start), *_figures(b))
        for (g, start, dim, value), b in inc.buckets.items()
    ]
    _executemany(conn, _upsert_sql(conn, trend_buckets, _BUCKET_KEY, _FIGURES), bucket_rows)
    term_rows = [
        (g, dim, value, bound, kind, term, n)
        for (g, start, dim, value), kinds in inc.terms.items()
        for bound in (at(start),)
        for kind, counts in kinds.items()
        for term, n in counts.items()
    ]
    _executemany(conn, _upsert_sql(conn, trend_terms, _TERM_KEY, ("count",)), term_rows)


def bucket_time(created: datetime | None, received: datetime | None, stored: datetime) -> datetime:
    """When a post counts: its creation time, else arrival, else storage; never in the future
    of its storage (a wrong clock on the platform must not create future buckets)."""
    at = created if created is not None else received if received is not None else stored
    return min(at, stored)


class _Stored(NamedTuple):
    id: int
    at: datetime
    conv_root: str
    counted: bool


def _stored(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], _Stored]:
    """The stored posts among ``keys``: row id, bucket time, conversation root, and whether
    they are counted already (one indexed lookup each, with the raw cursor)."""
    sql = Dialect(conn.engine)
    query = sql.where_platform(
        "SELECT native_id, posts.id, created_at, received_at, stored_at, conv_root, "
        "post_sentiment.post_id FROM posts "
        "LEFT JOIN post_sentiment ON post_sentiment.post_id = posts.id",
        "native_id",
    )
    out: dict[tuple[str, str], _Stored] = {}
    for platform, natives in by_platform(keys):
        for native, post_id, created, received, stored, root, counted in sql.select_in(
            conn, query, platform, natives
        ):
            # Raw values: epoch microseconds on SQLite, which compare as the times do.
            at = bucket_time(created, received, stored)
            when = aware(at) if isinstance(at, datetime) else from_micros(at)
            out[(platform, native)] = _Stored(post_id, when, root, counted is not None)
    return out


def record(
    conn: Connection,
    batch: Sequence[Post],
    rules: Sequence[Sequence[str]],
    sentiments: Sequence[Sentiment],
    tags_of: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Count the stored posts of a batch into the rollups, each post once ever.

    ``rules[i]`` are the rule ids ``batch[i]`` matched, ``sentiments[i]`` its sentiment. Posts
    not in the store (dropped by ``keep = "matched"``) and posts already counted are skipped.
    Returns how many posts were counted now.
    """
    if not (len(batch) == len(rules) == len(sentiments)):
        raise ValueError("record: batch, rules and sentiments must have the same length")
    stored = _stored(conn, [p.key for p in batch])
    bind = time_binder(conn.dialect.name)
    facts: list[PostFacts] = []
    rows: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    for post, post_rules, sentiment in zip(batch, rules, sentiments, strict=True):
        row = stored.get(post.key)
        if row is None or row.counted or row.id in seen:
            continue
        seen.add(row.id)
        label, polarity = sentiment.label, sentiment.polarity
        rows.append((row.id, label, sentiment.score, polarity, bind(row.at)))
        facts.append(
            facts_of(
                post,
                at=row.at,
                conversation=f"{post.platform}:{row.conv_root}",
                rules=post_rules,
                tags_of=tags_of,
                sentiment=label,
                polarity=polarity,
            )
        )
    if rows:
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        marks = ", ".join([mark] * 5)
        # Our own constant SQL text; every value is bound.
        sql = f"INSERT INTO post_sentiment (post_id, label, score, polarity, at) VALUES ({marks})"  # noqa: S608
        _executemany(conn, sql, rows)
        apply(conn, increments(facts))
    return len(rows)


def rebuild(
    conn: Connection,
    tags_of: Mapping[str, Sequence[str]] | None = None,
    since: datetime | None = None,
) -> int:
    """Recompute the rollups from the archive (every counted post from the day of ``since``).

    The sentiment comes from ``post_sentiment`` (what was recorded), rules from the stored
    matches and tags from ``tags_of`` (the current catalogue). Returns the posts counted.
    """
    start = floor(since, "day") if since is not None else None
    for table in (trend_buckets, trend_terms):
        delete = sa.delete(table)
        if start is not None:
            delete = delete.where(table.c.start >= start)
        conn.execute(delete)
    query = (
        sa.select(posts, post_sentiment.c.label, post_sentiment.c.polarity, post_sentiment.c.at)
        .join(post_sentiment, post_sentiment.c.post_id == posts.c.id)
        .order_by(posts.c.id)
    )
    if start is not None:
        query = query.where(post_sentiment.c.at >= start)
    counted = 0
    last_id = 0
    while True:
        chunk = conn.execute(query.where(posts.c.id > last_id).limit(2000)).all()
        if not chunk:
            break
        last_id = chunk[-1].id
        ids = [r.id for r in chunk]
        rules_of: dict[int, list[str]] = {}
        for m in conn.execute(
            sa.select(matches.c.post_id, matches.c.rule).where(matches.c.post_id.in_(ids))
        ):
            rules_of.setdefault(m.post_id, []).append(m.rule)
        facts = []
        for r in chunk:
            post = Post(
                platform=r.platform,
                native_id=r.native_id,
                text=r.text,
                lang=r.lang,
                author=Author(id=r.author_id, handle=r.author_handle, followers=r.author_followers),
                hashtags=tuple(r.hashtags),
                links=tuple(r.links),
            )
            facts.append(
                facts_of(
                    post,
                    at=r.at,
                    conversation=f"{r.platform}:{r.conv_root}",
                    rules=rules_of.get(r.id, ()),
                    tags_of=tags_of,
                    sentiment=r.label,
                    polarity=r.polarity,
                )
            )
        apply(conn, increments(facts))
        counted += len(chunk)
    return counted


def series(
    conn: Connection,
    granularity: Granularity,
    dimension: Dimension,
    value: str,
    since: datetime,
    until: datetime,
) -> list[tuple[datetime, Bucket]]:
    """Buckets in ``[since, until)``, one per step, empty buckets included (zero-filled)."""
    t = trend_buckets
    rows = conn.execute(
        sa.select(t).where(
            t.c.granularity == granularity,
            t.c.dimension == dimension,
            t.c.value == value,
            t.c.start >= floor(since, granularity),
            t.c.start < until,
        )
    ).all()
    found = {r.start: Bucket(**{name: getattr(r, name) for name in _FIGURES}) for r in rows}
    out = []
    at, step = floor(since, granularity), STEP[granularity]
    while at < until:
        out.append((at, found.get(at) or Bucket()))
        at += step
    return out


def total(
    conn: Connection, dimension: Dimension, value: str, since: datetime, until: datetime
) -> Bucket:
    """The sum of the hour buckets of one value over ``[since, until)``."""
    out = Bucket()
    for _, b in series(conn, "hour", dimension, value, since, until):
        out.add(b)
    return out


def top_terms(
    conn: Connection,
    dimension: Dimension,
    value: str,
    kind: TermKind,
    since: datetime,
    until: datetime,
    limit: int = 10,
) -> list[tuple[str, int]]:
    """The most frequent terms of one kind over ``[since, until)`` (hour buckets)."""
    t = trend_terms
    n = sa.func.sum(t.c.count).label("n")
    query = (
        sa.select(t.c.term, n)
        .where(
            t.c.granularity == "hour",
            t.c.dimension == dimension,
            t.c.value == value,
            t.c.kind == kind,
            t.c.start >= floor(since, "hour"),
            t.c.start < until,
        )
        .group_by(t.c.term)
        .order_by(n.desc(), t.c.term)
        .limit(limit)
    )
    return [(r.term, int(r.n)) for r in conn.execute(query)]


def top_values(
    conn: Connection, dimension: Dimension, since: datetime, until: datetime, limit: int = 10
) -> list[tuple[str, int]]:
    """The values of a dimension with the most posts over ``[since, until)`` (hour buckets)."""
    t = trend_buckets
    n = sa.func.sum(t.c.volume).label("n")
    query = (
        sa.select(t.c.value, n)
        .where(
            t.c.granularity == "hour",
            t.c.dimension == dimension,
            t.c.start >= floor(since, "hour"),
            t.c.start < until,
        )
        .group_by(t.c.value)
        .order_by(n.desc(), t.c.value)
        .limit(limit)
    )
    return [(r.value, int(r.n)) for r in conn.execute(query)]


def active_values(
    conn: Connection, dimensions: Iterable[Dimension], since: datetime, until: datetime
) -> list[tuple[Dimension, str]]:
    """Dimension values with at least one post in ``[since, until)`` (what to check for spikes)."""
    t = trend_buckets
    query = (
        sa.select(t.c.dimension, t.c.value)
        .where(
            t.c.granularity == "hour",
            t.c.dimension.in_(list(dimensions)),
            t.c.start >= floor(since, "hour"),
            t.c.start < until,
        )
        .distinct()
        .order_by(t.c.dimension, t.c.value)
    )
    return [(r.dimension, r.value) for r in conn.execute(query)]


def top_posts(
    conn: Connection,
    dimension: Dimension,
    value: str,
    since: datetime,
    until: datetime,
    limit: int = 3,
    label: str | None = None,
) -> list[Any]:
    """The most-reached counted posts of a rule (or of everything) in ``[since, until)``."""
    ps = post_sentiment
    query = (
        sa.select(
            posts.c.id,
            posts.c.platform,
            posts.c.native_id,
            posts.c.url,
            posts.c.author_handle,
            posts.c.author_followers,
            posts.c.text,
            ps.c.label,
            ps.c.polarity,
            ps.c.at,
        )
        .join(ps, ps.c.post_id == posts.c.id)
        .where(ps.c.at >= since, ps.c.at < until)
    )
    if dimension == "rule":
        query = query.where(
            sa.exists().where(matches.c.post_id == posts.c.id, matches.c.rule == value)
        )
    elif dimension in ("platform", "lang"):
        query = query.where(posts.c[dimension] == value)
    if label is not None:
        query = query.where(ps.c.label == label)
    reach = sa.func.coalesce(posts.c.author_followers, 0)
    return list(conn.execute(query.order_by(reach.desc(), posts.c.id).limit(limit)).all())


def window(until: datetime, hours: int) -> tuple[datetime, datetime]:
    """``[until - hours, until)`` with ``until`` floored to the hour."""
    end = floor(until, "hour")
    return end - timedelta(hours=hours), end
