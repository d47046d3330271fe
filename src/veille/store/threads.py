"""Persistence of conversations inside the write transaction: load the state the pure logic
of :mod:`veille.conversations` needs, and store its outcome (flags, counts, participants,
relinked threads)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

import orjson
import sqlalchemy as sa

from veille import conversations as conv
from veille.store.schema import (
    conversation_halves,
    conversation_participants,
    conversations,
    of_conversation,
    posts,
)
from veille.store.sql import CHUNK, Dialect, as_time, by_platform, chunks, next_ids
from veille.store.types import time_binder

_ACTIVITY: Final = sa.case(
    (posts.c.created_at <= posts.c.stored_at, posts.c.created_at),
    (posts.c.received_at <= posts.c.stored_at, posts.c.received_at),
    else_=posts.c.stored_at,
)
"""SQL twin of :func:`veille.conversations.activity_time` for stored posts."""

_REPLY_SQL: Final = "conv_root <> native_id"
_ROOT_SQL: Final = "conv_root = native_id"
"""The two halves of ``schema.conversation_halves`` in the raw statements: replies (the
condition of the partial index by conversation, which a query must repeat to use it), roots."""

_PARTICIPANT: Final = sa.case(
    (posts.c.author_id != "", posts.c.author_id), else_=posts.c.author_handle
)
"""SQL twin of :func:`veille.conversations.participant`."""


_CONVERSATION_FIELDS: Final = [
    "platform",
    "root",
    "flagged_at",
    "follow_until",
    "rules",
    "post_count",
    "first_activity",
    "last_activity",
]


def conversation_from_row(r: Any) -> conv.Conversation:
    """A :class:`veille.conversations.Conversation` from a ``conversations`` row."""
    return conv.Conversation(
        platform=r.platform,
        root=r.root,
        flagged_at=r.flagged_at,
        follow_until=r.follow_until,
        rules=frozenset(r.rules),
        post_count=r.post_count,
        participants=r.participants,
        first_activity=r.first_activity,
        last_activity=r.last_activity,
        id=r.id,
    )


class ConversationWriter:
    """Reads and writes the ``conversations`` tables for the batch writer."""

    def __init__(self, sql: Dialect) -> None:
        self.sql = sql
        self.bind_time = time_binder(sql.name)
        mark = sql.mark
        # Our own constant table and column names; every value is bound.
        fields = ", ".join(_CONVERSATION_FIELDS)
        self.sql_insert = (
            f"INSERT INTO conversations (id, {fields}) "  # noqa: S608
            f"VALUES ({', '.join([mark] * (len(_CONVERSATION_FIELDS) + 1))})"
        )
        assignments = ", ".join(f"{name} = {mark}" for name in _CONVERSATION_FIELDS)
        self.sql_update = f"UPDATE conversations SET {assignments} WHERE id = {mark}"  # noqa: S608
        # Which provisional roots have posts, in the two halves of conversation_halves, for
        # the raw cursor (a batch can hold thousands of replies).
        self.sql_waiting = (
            sql.where_platform(
                "SELECT DISTINCT conv_root FROM posts", "conv_root", also=_REPLY_SQL
            ),
            sql.where_platform("SELECT native_id FROM posts", "native_id", also=_ROOT_SQL),
        )
        # The archive of conversations about to be flagged, in the same two halves.
        activity = str(_ACTIVITY.compile(dialect=sql.dialect))
        self.sql_stats = tuple(
            (
                sql.where_platform(
                    f"SELECT {column}, count(*), min({activity}), max({activity}) "  # noqa: S608
                    "FROM posts",
                    column,
                    also=condition,
                ),
                f" GROUP BY {column}",
            )
            for column, condition in (("conv_root", _REPLY_SQL), ("native_id", _ROOT_SQL))
        )
        self.sql_of_posts = (
            "SELECT DISTINCT c.platform, c.root FROM posts p JOIN conversations c "  # noqa: S608
            "ON c.platform = p.platform AND c.root = p.conv_root "
            f"WHERE p.id BETWEEN {mark} AND {mark}"
        )
        self.sql_join = (
            "INSERT INTO conversation_participants (conversation_id, author) "  # noqa: S608
            f"VALUES ({mark}, {mark}) ON CONFLICT DO NOTHING"
        )

    def relink(
        self,
        conn: sa.Connection,
        relinks: Mapping[conv.Key, str],
        stored: Collection[conv.Key],
    ) -> None:
        """Move posts and conversations from provisional roots that turned out to be replies.

        ``stored``: which of the batch's posts (the keys of ``relinks``) were stored before it;
        only those can be stored as roots (the other half of a provisional root's posts).
        """
        if not relinks:
            return
        replies, roots = self.sql_waiting
        stored_roots = [key for key in relinks if key in stored] if stored else []
        waiting = {
            (platform, root)
            for sql, keys in ((replies, relinks), (roots, stored_roots))
            for platform, natives in by_platform(keys)
            for (root,) in self.sql.select_in(conn, sql, platform, natives)
        }
        if not waiting:
            return
        moves = [{"p": p, "old": old, "new": relinks[(p, old)]} for p, old in waiting]
        for half in conversation_halves(sa.bindparam("p"), sa.bindparam("old")):
            conn.execute(sa.update(posts).where(half).values(conv_root=sa.bindparam("new")), moves)
        moved = self.load(conn, waiting)
        if not moved:
            return
        targets = self.load(conn, {(k[0], relinks[k]) for k in moved})
        for key, old in moved.items():
            new_key = (key[0], relinks[key])
            merged = conv.merge(targets.get(new_key), old, new_key[1])
            if merged.id is None:
                merged.id = old.id
                conn.execute(
                    sa.update(conversations)
                    .where(conversations.c.id == old.id)
                    .values(root=new_key[1])
                )
            else:
                p = conversation_participants.c
                conn.execute(
                    self.sql.insert_ignore(conversation_participants).from_select(
                        ["conversation_id", "author"],
                        sa.select(sa.literal(merged.id), p.author).where(
                            p.conversation_id == old.id
                        ),
                    )
                )
                conn.execute(sa.delete(conversations).where(conversations.c.id == old.id))
            targets[new_key] = merged
            self._refresh_from_archive(conn, merged)

    def load(
        self, conn: sa.Connection, keys: Iterable[conv.Key]
    ) -> dict[conv.Key, conv.Conversation]:
        """The flagged conversations among ``keys`` (most roots of a batch have none: a raw
        existence check first, the full rows only for those that exist)."""
        sql = self.sql.where_platform("SELECT root FROM conversations", "root")
        present = [
            (platform, root)
            for platform, roots in by_platform(keys)
            for (root,) in self.sql.select_in(conn, sql, platform, roots)
        ]
        return self._rows(conn, present)

    def load_of_posts(
        self, conn: sa.Connection, ids: tuple[int, int]
    ) -> dict[conv.Key, conv.Conversation]:
        """The flagged conversations of the posts whose row ids run from ``ids[0]`` to
        ``ids[1]``: what :meth:`load` returns for their conversations, found by a join with
        their rows instead of binding each root."""
        present = [tuple(row) for row in conn.exec_driver_sql(self.sql_of_posts, ids)]
        return self._rows(conn, present)

    def _rows(
        self, conn: sa.Connection, present: Iterable[tuple[str, str]]
    ) -> dict[conv.Key, conv.Conversation]:
        """The conversations ``present`` (known to exist), read whole."""
        found: dict[conv.Key, conv.Conversation] = {}
        c = conversations.c
        for platform, roots in by_platform(present):
            for chunk in chunks(roots):
                query = sa.select(conversations).where(c.platform == platform, c.root.in_(chunk))
                for r in conn.execute(query):
                    found[(r.platform, r.root)] = conversation_from_row(r)
        return found

    def archive_stats(
        self, conn: sa.Connection, keys: Iterable[conv.Key]
    ) -> dict[conv.Key, conv.ArchiveStats]:
        found: dict[conv.Key, conv.ArchiveStats] = {}
        for platform, roots in by_platform(keys):
            for sql, tail in self.sql_stats:
                rows = self.sql.select_in(conn, sql, platform, roots, tail)
                for root, count, first, last in rows:
                    key = (platform, root)
                    found[key] = _add_stats(found.get(key), count, first, last)
        return found

    def save(
        self,
        conn: sa.Connection,
        outcome: conv.Outcome,
        archive: Mapping[conv.Key, conv.ArchiveStats] | None = None,
    ) -> None:
        """Store what :func:`veille.conversations.follow` decided.

        ``archive`` is what it was given: a newly flagged conversation absent from it had no
        stored post before this batch, so its participants are all in ``outcome.joined`` and
        the archive is not searched for more (``None``: search for every flagged one).
        """
        if not outcome.conversations:
            return
        self._store_conversations(conn, list(outcome.conversations.values()))
        flagged = [
            outcome.conversations[key]
            for key in outcome.flagged
            if archive is None or key in archive
        ]
        self._participants_from_archive(conn, flagged)
        if outcome.joined:
            rows = [(outcome.conversations[key].id, author) for key, author in outcome.joined]
            cursor = conn.connection.cursor()
            try:
                cursor.executemany(self.sql_join, rows)
            finally:
                cursor.close()
        self._recount(conn, [c.id for c in outcome.conversations.values() if c.id is not None])

    def _store_conversations(self, conn: sa.Connection, items: Sequence[conv.Conversation]) -> None:
        """Insert new conversations (setting their ids) and update the others, in bulk."""
        t = self.bind_time

        def values(c: conv.Conversation) -> tuple[Any, ...]:
            return (
                c.platform,
                c.root,
                t(c.flagged_at),
                t(c.follow_until),
                orjson.dumps(sorted(c.rules)).decode(),
                c.post_count,
                None if c.first_activity is None else t(c.first_activity),
                None if c.last_activity is None else t(c.last_activity),
            )

        fresh = [c for c in items if c.id is None]
        known = [c for c in items if c.id is not None]
        cursor = conn.connection.cursor()
        try:
            if fresh:
                ids = next_ids(conn, "conversations", len(fresh))
                for c, row_id in zip(fresh, ids, strict=True):
                    c.id = row_id
                cursor.executemany(self.sql_insert, [(c.id, *values(c)) for c in fresh])
            if known:
                cursor.executemany(self.sql_update, [(*values(c), c.id) for c in known])
        finally:
            cursor.close()

    def _participants_from_archive(
        self, conn: sa.Connection, items: Sequence[conv.Conversation]
    ) -> None:
        """Add the authors of the stored posts of newly flagged (or merged) conversations."""
        if not items:
            return
        k = conversations.c
        ids = [item.id for item in items]
        select = (
            sa.select(k.id, _PARTICIPANT)
            .select_from(posts.join(conversations, of_conversation(k.platform, k.root)))
            .where(k.id.in_(ids), _PARTICIPANT != "")
            .distinct()
        )
        conn.execute(
            self.sql.insert_ignore(conversation_participants).from_select(
                ["conversation_id", "author"], select
            )
        )

    def _refresh_from_archive(self, conn: sa.Connection, conversation: conv.Conversation) -> None:
        """Recount a merged conversation from the posts now under its root."""
        stats = self.archive_stats(conn, [conversation.key]).get(conversation.key)
        if stats is not None:
            conversation.post_count = stats.post_count
            conversation.first_activity = stats.first_activity
            conversation.last_activity = stats.last_activity
        self._store_conversations(conn, [conversation])
        self._participants_from_archive(conn, [conversation])
        self._recount(conn, [conversation.id])

    def _recount(self, conn: sa.Connection, ids: Sequence[int | None]) -> None:
        wanted = [i for i in ids if i is not None]
        p = conversation_participants.c
        count = (
            sa.select(sa.func.count())
            .where(p.conversation_id == conversations.c.id)
            .scalar_subquery()
        )
        for start in range(0, len(wanted), CHUNK):
            conn.execute(
                sa.update(conversations)
                .where(conversations.c.id.in_(wanted[start : start + CHUNK]))
                .values(participants=count)
            )


def _add_stats(
    known: conv.ArchiveStats | None, count: int, first: Any, last: Any
) -> conv.ArchiveStats:
    """``known`` (the other half of a conversation, see ``conversation_halves``) with ``count``
    more posts active from ``first`` to ``last`` (raw values)."""
    first_at, last_at = as_time(first), as_time(last)
    if known is None:
        return conv.ArchiveStats(post_count=count, first_activity=first_at, last_activity=last_at)
    firsts = [t for t in (known.first_activity, first_at) if t is not None]
    lasts = [t for t in (known.last_activity, last_at) if t is not None]
    return conv.ArchiveStats(
        post_count=known.post_count + count,
        first_activity=min(firsts, default=None),
        last_activity=max(lasts, default=None),
    )
