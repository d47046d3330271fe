"""What the CLI, the web and backfill read back: posts with matches (and, for single posts and
threads, detector findings), threads, conversations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import msgspec
import sqlalchemy as sa

from veille import conversations as conv
from veille.model import Author, Finding, Match, Post, Quarantined, Urgency
from veille.store import findings as findings_table
from veille.store.schema import (
    conversation_halves,
    conversations,
    matches,
    metadata,
    post_versions,
    posts,
    quarantine,
)
from veille.store.schema import cursors as cursors_table
from veille.store.threads import conversation_from_row

MAX_THREAD: Final = 10_000
"""Most posts :func:`thread` returns (a viral thread is cut, newest dropped)."""


class StoredMatch(msgspec.Struct, frozen=True, kw_only=True):
    """A match as stored: the rule's explanation plus when and on which text version."""

    match: Match
    post_version: int
    matched_at: datetime


class StoredPost(msgspec.Struct, frozen=True, kw_only=True):
    """A post as stored, with its row id, resolved conversation root and current matches."""

    id: int
    post: Post
    conversation_root: str
    version: int
    stored_at: datetime
    deleted_at: datetime | None = None
    matches: tuple[StoredMatch, ...] = ()
    findings: tuple[Finding, ...] = ()
    """What the detectors found in the current text (loaded by post and thread reads only)."""
    urgency: Urgency | None = None
    """The current text's urgency, when it scored any (post and thread reads only)."""


class PostVersion(msgspec.Struct, frozen=True, kw_only=True):
    """An earlier text of an edited post (it was current until ``replaced_at``)."""

    version: int
    text: str
    edited_at: datetime | None
    replaced_at: datetime
    raw: str


class ThreadNode(msgspec.Struct, kw_only=True):
    """A stored post and the stored replies to it."""

    post: StoredPost
    replies: list[ThreadNode] = msgspec.field(default_factory=list)


def cursor(conn: sa.Connection, source: str) -> str | None:
    """The committed cursor of one source."""
    c = cursors_table.c
    query = sa.select(c.cursor).where(c.source == source)
    value: str | None = conn.execute(query).scalar_one_or_none()
    return value


def cursors(conn: sa.Connection) -> dict[str, str]:
    """All committed cursors."""
    c = cursors_table.c
    return {source: value for source, value in conn.execute(sa.select(c.source, c.cursor))}


def _post(row: Any) -> Post:
    return Post(
        platform=row.platform,
        native_id=row.native_id,
        text=row.text,
        author=Author(
            id=row.author_id,
            handle=row.author_handle,
            display_name=row.author_name,
            followers=row.author_followers,
        ),
        url=row.url,
        lang=row.lang,
        lang_hint=row.lang_hint,
        created_at=row.created_at,
        received_at=row.received_at,
        reply_to=row.reply_to,
        root_id=row.root_id,
        quote_of=row.quote_of,
        repost_of=row.repost_of,
        hashtags=tuple(row.hashtags),
        mentions=tuple(row.mentions),
        links=tuple(row.links),
        edited_at=row.edited_at,
        deleted=row.deleted,
        raw=row.raw,
    )


def _stored(
    row: Any,
    found: tuple[StoredMatch, ...] = (),
    detected: tuple[tuple[Finding, ...], Urgency | None] = ((), None),
) -> StoredPost:
    return StoredPost(
        id=row.id,
        post=_post(row),
        conversation_root=row.conv_root,
        version=row.version,
        stored_at=row.stored_at,
        deleted_at=row.deleted_at,
        matches=found,
        findings=detected[0],
        urgency=detected[1],
    )


def _current_matches(conn: sa.Connection, rows: list[Any]) -> dict[int, tuple[StoredMatch, ...]]:
    """The matches of each post's current text version."""
    versions = {row.id: row.version for row in rows}
    found: dict[int, list[StoredMatch]] = {}
    ids = list(versions)
    m = matches.c
    for start in range(0, len(ids), 500):
        query = (
            sa.select(matches)
            .where(m.post_id.in_(ids[start : start + 500]))
            .order_by(m.post_id, m.id)
        )
        for r in conn.execute(query):
            if r.post_version != versions[r.post_id]:
                continue
            found.setdefault(r.post_id, []).append(
                StoredMatch(
                    match=Match(
                        rule=r.rule,
                        version=r.rule_version,
                        spans=tuple(tuple(s) for s in r.spans),
                        terms={t: tuple(tuple(s) for s in spans) for t, spans in r.terms.items()},
                        backfilled=r.backfilled,
                    ),
                    post_version=r.post_version,
                    matched_at=r.matched_at,
                )
            )
    return {post_id: tuple(items) for post_id, items in found.items()}


def _with_matches(
    conn: sa.Connection, rows: list[Any], *, with_findings: bool = False
) -> list[StoredPost]:
    found = _current_matches(conn, rows)
    if not with_findings:
        return [_stored(row, found.get(row.id, ())) for row in rows]
    detected = findings_table.current(conn, {row.id: row.version for row in rows})
    return [_stored(row, found.get(row.id, ()), detected.get(row.id, ((), None))) for row in rows]


def post_by_key(conn: sa.Connection, platform: str, native_id: str) -> StoredPost | None:
    """One post by ``(platform, native_id)``."""
    query = sa.select(posts).where(posts.c.platform == platform, posts.c.native_id == native_id)
    rows = list(conn.execute(query))
    return _with_matches(conn, rows, with_findings=True)[0] if rows else None


def post_by_id(conn: sa.Connection, post_id: int) -> StoredPost | None:
    """One post by row id."""
    rows = list(conn.execute(sa.select(posts).where(posts.c.id == post_id)))
    return _with_matches(conn, rows, with_findings=True)[0] if rows else None


def history(conn: sa.Connection, post_id: int) -> list[PostVersion]:
    """Earlier texts of a post, oldest first."""
    v = post_versions.c
    query = sa.select(post_versions).where(v.post_id == post_id).order_by(v.version)
    return [
        PostVersion(
            version=r.version,
            text=r.text,
            edited_at=r.edited_at,
            replaced_at=r.replaced_at,
            raw=r.raw,
        )
        for r in conn.execute(query)
    ]


def flagged(
    conn: sa.Connection,
    *,
    limit: int,
    following_at: datetime | None = None,
    since: datetime | None = None,
) -> list[conv.Conversation]:
    """Flagged conversations, most recently active first."""
    c = conversations.c
    query = sa.select(conversations).order_by(c.last_activity.desc(), c.id.desc()).limit(limit)
    if following_at is not None:
        query = query.where(c.follow_until >= following_at)
    if since is not None:
        query = query.where(c.last_activity >= since)
    return [conversation_from_row(r) for r in conn.execute(query)]


def conversation(conn: sa.Connection, ref: int | str | tuple[str, str]) -> conv.Conversation | None:
    """One flagged conversation by id, ``"platform:root"`` or ``(platform, root)``."""
    c = conversations.c
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        query = sa.select(conversations).where(c.id == int(ref))
    else:
        if isinstance(ref, str):
            platform, sep, root = ref.partition(":")
            if not sep:
                raise ValueError(f"conversation {ref!r}: give an id or platform:root")
        else:
            platform, root = ref
        query = sa.select(conversations).where(c.platform == platform, c.root == root)
    row = conn.execute(query).one_or_none()
    return None if row is None else conversation_from_row(row)


def thread(conn: sa.Connection, platform: str, root: str, *, limit: int) -> list[ThreadNode]:
    """Stored posts of a conversation as reply trees, each level oldest first.

    A post whose parent is not stored hangs under the root when the root is stored, else it
    starts a tree of its own.
    """
    replies, top_post = conversation_halves(platform, root)
    query = (
        sa.union_all(sa.select(posts).where(replies), sa.select(posts).where(top_post))
        .order_by("created_at", "id")
        .limit(limit)
    )
    rows = list(conn.execute(query))
    nodes = {
        row.native_id: ThreadNode(post=post)
        for row, post in zip(rows, _with_matches(conn, rows, with_findings=True), strict=True)
    }
    top = nodes.get(root)
    forest: list[ThreadNode] = [top] if top is not None else []
    for node in nodes.values():
        if node is top:
            continue
        parent = nodes.get(node.post.post.reply_to or "")
        if parent is None or parent is node:
            parent = top
        if parent is None:
            forest.append(node)
        else:
            parent.replies.append(node)
    return forest


def iter_posts(
    engine: sa.Engine,
    *,
    since: datetime | None,
    until: datetime | None,
    batch_size: int,
    include_deleted: bool,
) -> Iterator[list[StoredPost]]:
    """Keyset-paginated walk over ``(created_at, id)``; each page in its own short read."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    c = posts.c
    timed = since is not None or until is not None
    last: tuple[Any, int] | None = None
    while True:
        query = sa.select(posts).order_by(c.created_at.asc().nulls_first(), c.id).limit(batch_size)
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        if timed:
            query = query.where(c.created_at.is_not(None))
        if not include_deleted:
            query = query.where(c.deleted == sa.false())
        if last is not None:
            at, post_id = last
            if at is None:  # still among the posts without a time (they sort first)
                query = query.where(
                    sa.or_(
                        c.created_at.is_not(None), sa.and_(c.created_at.is_(None), c.id > post_id)
                    )
                )
            else:
                query = query.where(
                    sa.or_(c.created_at > at, sa.and_(c.created_at == at, c.id > post_id))
                )
        with engine.connect() as conn:
            rows = list(conn.execute(query))
            if not rows:
                return
            page = _with_matches(conn, rows)
        last = (rows[-1].created_at, rows[-1].id)
        yield page
        if len(rows) < batch_size:
            return


def quarantined(conn: sa.Connection, *, limit: int, source: str | None) -> list[Quarantined]:
    """Most recent quarantined records first."""
    q = quarantine.c
    query = sa.select(quarantine).order_by(q.id.desc()).limit(limit)
    if source is not None:
        query = query.where(q.source == source)
    return [
        Quarantined(
            source=r.source,
            stage=r.stage,
            error=r.error,
            payload=bytes(r.payload),
            at=r.at,
            platform=r.platform,
        )
        for r in conn.execute(query)
    ]


def counts(conn: sa.Connection) -> dict[str, int]:
    """Row count of every table of the shared metadata."""
    return {
        name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        for name, table in sorted(metadata.tables.items())
    }
