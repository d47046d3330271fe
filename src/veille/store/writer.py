"""The hot path: one transaction per batch for posts, history, matches, conversations, cursors.

Everything a batch changes is written in a single transaction, so a cursor never runs ahead of
the data and a process killed at any moment leaves either the whole batch or none of it. The
bulk statements (posts, full-text rows, matches) go through the DB-API cursor's
``executemany`` — measured several times faster than SQLAlchemy Core's executemany for the same
rows (see docs/benchmarks.md); the rest uses Core.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from veille import conversations as conv
from veille.model import Match, Post, Quarantined
from veille.store.schema import (
    conversation_participants,
    conversations,
    cursors,
    post_versions,
    posts,
    quarantine,
)
from veille.store.types import aware, from_micros, time_binder

MAX_PLATFORM: Final = 64
MAX_ID: Final = 512
MAX_URL: Final = 8192
MAX_TEXT: Final = 100_000
MAX_RAW: Final = 1_000_000
MAX_LIST: Final = 1000
MAX_PAYLOAD: Final = 1_000_000
"""Bounds of what the store accepts; a post over a bound is quarantined with a clear error."""

_NO_RULES: Final[frozenset[str]] = frozenset()

CHUNK: Final = 500
"""Values per ``IN (…)`` lookup."""

_POST_COLUMNS: Final = [
    "id",
    "platform",
    "native_id",
    "url",
    "author_id",
    "author_handle",
    "author_name",
    "author_followers",
    "text",
    "search_text",
    "lang",
    "lang_hint",
    "created_at",
    "received_at",
    "stored_at",
    "reply_to",
    "root_id",
    "conv_root",
    "quote_of",
    "repost_of",
    "hashtags",
    "mentions",
    "links",
    "edited_at",
    "deleted",
    "deleted_at",
    "version",
    "raw",
]

_MATCH_COLUMNS: Final = [
    "post_id",
    "rule",
    "rule_version",
    "post_version",
    "spans",
    "terms",
    "backfilled",
    "matched_at",
]

_ACTIVITY: Final = sa.case(
    (posts.c.created_at <= posts.c.stored_at, posts.c.created_at),
    (posts.c.received_at <= posts.c.stored_at, posts.c.received_at),
    else_=posts.c.stored_at,
)
"""SQL twin of :func:`veille.conversations.activity_time` for stored posts."""

_PARTICIPANT: Final = sa.case(
    (posts.c.author_id != "", posts.c.author_id), else_=posts.c.author_handle
)
"""SQL twin of :func:`veille.conversations.participant`."""


class WriteResult(msgspec.Struct, kw_only=True):
    """What one :meth:`Store.write_batch` did."""

    inserted: int = 0
    """New post rows (tombstones of unknown posts included)."""
    edited: int = 0
    """Stored posts whose text changed (the previous text went to history)."""
    deleted: int = 0
    """Posts newly marked deleted."""
    unchanged: int = 0
    """Posts already stored as they are (re-deliveries), or older copies of edited posts."""
    dropped: int = 0
    """Posts not kept (``keep = "matched"``: no match, no followed conversation)."""
    quarantined: int = 0
    """Records quarantined in this transaction (given, or posts the store refused)."""
    matches: int = 0
    """New match rows."""
    post_ids: list[int | None] = msgspec.field(default_factory=list)
    """Row id of each post of the batch (``None`` when dropped or quarantined)."""
    flagged: list[tuple[str, str]] = msgspec.field(default_factory=list)
    """Conversations (platform, root) flagged by this batch."""


@dataclass(slots=True)
class _Row:
    """What the batch needs to know of a stored (or just inserted) post."""

    id: int
    text: str
    edited_at: datetime | None
    deleted: bool
    version: int
    search_text: str
    conv_root: str


@dataclass(slots=True)
class _Plan:
    """The statements one round of a batch will run."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    fts_inserts: list[tuple[int, str]] = field(default_factory=list)
    fts_deletes: list[tuple[int, str]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    matches: list[tuple[Any, ...]] = field(default_factory=list)


class BatchWriter:
    """Writes batches on one engine; built once per store (statements compiled once)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        fold: Callable[[str], str],
        keep_all: bool,
        follow_window: timedelta,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.fold = fold
        self.keep_all = keep_all
        self.follow_window = follow_window
        self.sqlite = self.dialect == "sqlite"
        self.bind_time = time_binder(self.dialect)
        mark = "?" if self.sqlite else "%s"

        def insert(table: str, columns: Sequence[str], tail: str = "") -> str:
            # Only our own constant table and column names go into the text; values are bound.
            marks = ", ".join([mark] * len(columns))
            return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){tail}"  # noqa: S608

        self.sql_insert_post = insert("posts", _POST_COLUMNS)
        self.sql_insert_match = insert(
            "matches",
            _MATCH_COLUMNS,
            " ON CONFLICT (post_id, rule, rule_version, post_version) DO NOTHING",
        )
        self.sql_fts_insert = insert("posts_fts", ("rowid", "search_text"))
        self.sql_fts_delete = insert("posts_fts", ("posts_fts", "rowid", "search_text")).replace(
            f"({mark},", "('delete',", 1
        )
        self.sql_next_ids = (
            "SELECT coalesce(max(id), 0) FROM posts"
            if self.sqlite
            else "SELECT nextval(pg_get_serial_sequence('posts', 'id')) FROM generate_series(1, %s)"
        )

    # -- entry point -------------------------------------------------------------------------

    def write(
        self,
        conn: sa.Connection,
        batch: Sequence[Post],
        matches: Sequence[Sequence[Match]] | None,
        cursor_updates: Mapping[str, str],
        rejected: Sequence[Quarantined],
        folded: Sequence[str] | None,
        source: str,
        now: datetime,
    ) -> WriteResult:
        """Write a batch on ``conn`` inside its (already begun) transaction."""
        if matches is not None and len(matches) != len(batch):
            raise ValueError(f"{len(batch)} posts but {len(matches)} match lists")
        if folded is not None and len(folded) != len(batch):
            raise ValueError(f"{len(batch)} posts but {len(folded)} folded texts")
        result = WriteResult(post_ids=[None] * len(batch))
        refused: list[Quarantined] = list(rejected)
        valid: list[int] = []
        for index, post in enumerate(batch):
            error = check_post(post)
            if error is None:
                valid.append(index)
            else:
                refused.append(_refusal(post, error, source, now))
        for round_ in _rounds(batch, valid):
            self._write_round(conn, batch, round_, matches, folded, now, result)
        if refused:
            conn.execute(sa.insert(quarantine), [_quarantine_row(q) for q in refused])
            result.quarantined = len(refused)
        if cursor_updates:
            self._save_cursors(conn, cursor_updates, now)
        return result

    # -- one round: each post key at most once -------------------------------------------------

    def _write_round(
        self,
        conn: sa.Connection,
        batch: Sequence[Post],
        indices: list[int],
        matches: Sequence[Sequence[Match]] | None,
        folded: Sequence[str] | None,
        now: datetime,
        result: WriteResult,
    ) -> None:
        round_posts = [batch[i] for i in indices]
        existing = self._lookup_posts(conn, round_posts)
        parents = self._lookup_roots(
            conn, {(p.platform, p.reply_to) for p in round_posts if p.reply_to and not p.root_id}
        )
        known = {key: row.conv_root for key, row in existing.items()}
        known.update(parents)
        threads = conv.resolve_roots(round_posts, known)
        self._relink(conn, threads.relinks, now)

        match_lists: list[Sequence[Match]] = [
            matches[i] if matches is not None else () for i in indices
        ]
        activities = [
            conv.Activity(
                conversation=(post.platform, root),
                author=conv.participant(post),
                at=conv.activity_time(post, now),
                rules=frozenset(m.rule for m in found) if found else _NO_RULES,
                new=post.key not in existing,
            )
            for post, root, found in zip(round_posts, threads.roots, match_lists, strict=True)
        ]
        touched = {act.conversation for act in activities}
        flagged = self._load_conversations(conn, touched)
        unflagged_matched = {
            act.conversation for act in activities if act.rules and act.conversation not in flagged
        }
        archive = self._archive_stats(conn, unflagged_matched)
        outcome = conv.follow(
            activities,
            flagged,
            archive,
            now=now,
            window=self.follow_window,
            keep_all=self.keep_all,
        )

        old_texts = self._old_texts(conn, existing, round_posts)
        plan = _Plan()
        new_posts: list[tuple[int, Post, str, str, Sequence[Match]]] = []
        for position, (index, post, root) in enumerate(
            zip(indices, round_posts, threads.roots, strict=True)
        ):
            row = existing.get(post.key)
            found = match_lists[position]
            if row is None:
                if not outcome.keep[position]:
                    result.dropped += 1
                    continue
                search = folded[index] if folded is not None else self.fold(post.text)
                new_posts.append((index, post, root, search, found))
                continue
            result.post_ids[index] = row.id
            if (row.id, post.text) in old_texts:
                result.unchanged += 1  # a late copy of a text the post had before
                continue
            current = self._update_existing(plan, row, post, index, folded, now, result)
            if current and found:
                plan.matches.extend(self._match_rows(row.id, row.version, found, now))
        if new_posts:
            ids = self._next_ids(conn, len(new_posts))
            for (index, post, root, search, found), post_id in zip(new_posts, ids, strict=True):
                result.post_ids[index] = post_id
                plan.inserts.append(self._post_row(post_id, post, root, search, now))
                if self.sqlite:
                    plan.fts_inserts.append((post_id, search))
                if post.deleted:
                    result.deleted += 1
                if found:
                    plan.matches.extend(self._match_rows(post_id, 1, found, now))
            result.inserted += len(new_posts)
        result.matches += self._execute(conn, plan)
        self._save_conversations(conn, outcome)
        result.flagged.extend(outcome.flagged)

    def _old_texts(
        self, conn: sa.Connection, existing: Mapping[conv.Key, _Row], batch: Sequence[Post]
    ) -> set[tuple[int, str]]:
        """Earlier texts of the stored posts that arrive with a different text (rare)."""
        ids = [
            row.id
            for post in batch
            if (row := existing.get(post.key)) is not None and post.text != row.text
        ]
        found: set[tuple[int, str]] = set()
        v = post_versions.c
        for start in range(0, len(ids), CHUNK):
            query = sa.select(v.post_id, v.text).where(v.post_id.in_(ids[start : start + CHUNK]))
            found.update((post_id, text) for post_id, text in conn.execute(query))
        return found

    def record_matches(
        self,
        conn: sa.Connection,
        found: Sequence[tuple[int, Sequence[Match]]],
        backfilled: bool,
        now: datetime,
    ) -> int:
        """Record matches of stored posts (backfill) and flag their conversations."""
        wanted = {post_id: ms for post_id, ms in found if ms}
        c = posts.c
        columns = (c.id, c.platform, c.conv_root, c.version, c.created_at, c.received_at)
        rows: list[Any] = []
        ids = sorted(wanted)
        for start in range(0, len(ids), CHUNK):
            query = sa.select(*columns, c.stored_at, c.author_id, c.author_handle).where(
                c.id.in_(ids[start : start + CHUNK])
            )
            rows.extend(conn.execute(query))
        plan = _Plan()
        activities: list[conv.Activity] = []
        for row in sorted(rows, key=lambda r: r.id):
            found_here = [
                msgspec.structs.replace(m, backfilled=m.backfilled or backfilled)
                for m in wanted[row.id]
            ]
            plan.matches.extend(self._match_rows(row.id, row.version, found_here, now))
            activities.append(
                conv.Activity(
                    conversation=(row.platform, row.conv_root),
                    author=row.author_id or row.author_handle,
                    at=conv.active_at(row.created_at, row.received_at, row.stored_at),
                    rules=frozenset(m.rule for m in found_here),
                    new=False,
                )
            )
        added = self._execute(conn, plan)
        touched = {act.conversation for act in activities}
        flagged = self._load_conversations(conn, touched)
        archive = self._archive_stats(conn, touched - set(flagged))
        outcome = conv.follow(
            activities, flagged, archive, now=now, window=self.follow_window, keep_all=True
        )
        self._save_conversations(conn, outcome)
        return added

    # -- per-post decisions --------------------------------------------------------------------

    def _update_existing(
        self,
        plan: _Plan,
        row: _Row,
        post: Post,
        index: int,
        folded: Sequence[str] | None,
        now: datetime,
        result: WriteResult,
    ) -> bool:
        """Plan what an already-stored post becomes; True when ``post`` is its current text."""
        if row.deleted:
            result.unchanged += 1
            return post.text == row.text
        if post.deleted:
            plan.deletes.append({"b_id": row.id, "b_deleted_at": now})
            row.deleted = True
            result.deleted += 1
            return post.text == row.text
        if post.text == row.text:
            result.unchanged += 1
            return True
        if _older(post.edited_at, row.edited_at):
            result.unchanged += 1
            return False
        search = folded[index] if folded is not None else self.fold(post.text)
        plan.history.append({"b_id": row.id, "replaced_at": now})
        plan.edits.append(
            {
                "b_id": row.id,
                "b_text": post.text,
                "b_search_text": search,
                "b_edited_at": post.edited_at,
                "b_version": row.version + 1,
                "b_raw": post.raw,
                "b_lang": post.lang,
                "b_hashtags": list(post.hashtags),
                "b_mentions": list(post.mentions),
                "b_links": list(post.links),
            }
        )
        if self.sqlite:
            plan.fts_deletes.append((row.id, row.search_text))
            plan.fts_inserts.append((row.id, search))
        row.text, row.search_text, row.version = post.text, search, row.version + 1
        row.edited_at = post.edited_at
        result.edited += 1
        return True

    def _post_row(
        self, post_id: int, post: Post, root: str, search: str, now: datetime
    ) -> tuple[Any, ...]:
        t = self.bind_time
        author = post.author
        return (
            post_id,
            post.platform,
            post.native_id,
            post.url,
            author.id,
            author.handle,
            author.display_name,
            author.followers,
            post.text,
            search,
            post.lang,
            post.lang_hint,
            None if post.created_at is None else t(post.created_at),
            None if post.received_at is None else t(post.received_at),
            t(now),
            post.reply_to,
            post.root_id,
            root,
            post.quote_of,
            post.repost_of,
            _json_list(post.hashtags),
            _json_list(post.mentions),
            _json_list(post.links),
            None if post.edited_at is None else t(post.edited_at),
            post.deleted,
            t(now) if post.deleted else None,
            1,
            post.raw,
        )

    def _match_rows(
        self, post_id: int, post_version: int, found: Iterable[Match], now: datetime
    ) -> list[tuple[Any, ...]]:
        at = self.bind_time(now)
        return [
            (
                post_id,
                m.rule,
                m.version,
                post_version,
                orjson.dumps(m.spans).decode(),
                orjson.dumps(m.terms).decode(),
                m.backfilled,
                at,
            )
            for m in found
        ]

    # -- statements ----------------------------------------------------------------------------

    def _execute(self, conn: sa.Connection, plan: _Plan) -> int:
        """Run a round's statements in dependency order; returns the number of new matches."""
        cursor = conn.connection.cursor()
        try:
            if plan.fts_deletes:
                cursor.executemany(self.sql_fts_delete, plan.fts_deletes)
            if plan.history:
                conn.execute(_COPY_TO_HISTORY, plan.history)
            if plan.edits:
                conn.execute(_APPLY_EDIT, plan.edits)
            if plan.deletes:
                conn.execute(_MARK_DELETED, plan.deletes)
            if plan.inserts:
                cursor.executemany(self.sql_insert_post, plan.inserts)
            if plan.fts_inserts:
                cursor.executemany(self.sql_fts_insert, plan.fts_inserts)
            added = 0
            if plan.matches:
                cursor.executemany(self.sql_insert_match, plan.matches)
                added = max(cursor.rowcount, 0)
            return added
        finally:
            cursor.close()

    def _next_ids(self, conn: sa.Connection, count: int) -> list[int]:
        if self.sqlite:
            top = conn.exec_driver_sql(self.sql_next_ids).scalar_one()
            return list(range(top + 1, top + 1 + count))
        rows = conn.exec_driver_sql(self.sql_next_ids, (count,)).all()
        return [row[0] for row in rows]

    def _select_in(
        self, conn: sa.Connection, sql: str, platform: str, values: list[str]
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (ending in ``WHERE platform = … AND <column>``) for each value, with
        the raw DB-API cursor: the lookups run once per batch over up to thousands of keys."""
        cursor = conn.connection.cursor()
        try:
            for chunk in _chunks(values):
                if self.sqlite:
                    marks = ",".join("?" * len(chunk))
                    cursor.execute(f"{sql} IN ({marks})", (platform, *chunk))
                else:
                    cursor.execute(f"{sql} = ANY(%s)", (platform, chunk))
                yield from cursor.fetchall()
        finally:
            cursor.close()

    def _where_platform(self, select: str, column: str) -> str:
        # Our own constant SQL text; every value is bound.
        mark = "?" if self.sqlite else "%s"
        return f"{select} WHERE platform = {mark} AND {column}"

    def _lookup_posts(self, conn: sa.Connection, batch: Sequence[Post]) -> dict[conv.Key, _Row]:
        found: dict[conv.Key, _Row] = {}
        sql = self._where_platform(
            "SELECT native_id, id, text, edited_at, deleted, version, search_text, conv_root "
            "FROM posts",
            "native_id",
        )
        for platform, ids in _by_platform((p.platform, p.native_id) for p in batch):
            for native, *row in self._select_in(conn, sql, platform, ids):
                found[(platform, native)] = _Row(
                    id=row[0],
                    text=row[1],
                    edited_at=_as_time(row[2]),
                    deleted=bool(row[3]),
                    version=row[4],
                    search_text=row[5],
                    conv_root=row[6],
                )
        return found

    def _lookup_roots(self, conn: sa.Connection, keys: Iterable[conv.Key]) -> dict[conv.Key, str]:
        sql = self._where_platform("SELECT native_id, conv_root FROM posts", "native_id")
        return {
            (platform, native): root
            for platform, ids in _by_platform(keys)
            for native, root in self._select_in(conn, sql, platform, ids)
        }

    def _relink(self, conn: sa.Connection, relinks: Mapping[conv.Key, str], now: datetime) -> None:
        """Move posts and conversations from provisional roots that turned out to be replies."""
        if not relinks:
            return
        sql = self._where_platform("SELECT DISTINCT conv_root FROM posts", "conv_root")
        waiting = {
            (platform, root)
            for platform, roots in _by_platform(relinks)
            for (root,) in self._select_in(conn, sql, platform, roots)
        }
        if not waiting:
            return
        conn.execute(
            sa.update(posts)
            .where(posts.c.platform == sa.bindparam("p"), posts.c.conv_root == sa.bindparam("old"))
            .values(conv_root=sa.bindparam("new")),
            [{"p": p, "old": old, "new": relinks[(p, old)]} for p, old in waiting],
        )
        moved = self._load_conversations(conn, waiting)
        if not moved:
            return
        targets = self._load_conversations(conn, {(k[0], relinks[k]) for k in moved})
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
                    self._insert_ignore(conversation_participants).from_select(
                        ["conversation_id", "author"],
                        sa.select(sa.literal(merged.id), p.author).where(
                            p.conversation_id == old.id
                        ),
                    )
                )
                conn.execute(sa.delete(conversations).where(conversations.c.id == old.id))
            targets[new_key] = merged
            self._refresh_from_archive(conn, merged)

    def _load_conversations(
        self, conn: sa.Connection, keys: Iterable[conv.Key]
    ) -> dict[conv.Key, conv.Conversation]:
        """The flagged conversations among ``keys`` (most roots of a batch have none: a raw
        existence check first, the full rows only for those that exist)."""
        sql = self._where_platform("SELECT root FROM conversations", "root")
        present = [
            (platform, root)
            for platform, roots in _by_platform(keys)
            for (root,) in self._select_in(conn, sql, platform, roots)
        ]
        found: dict[conv.Key, conv.Conversation] = {}
        c = conversations.c
        for platform, roots in _by_platform(present):
            for chunk in _chunks(roots):
                query = sa.select(conversations).where(c.platform == platform, c.root.in_(chunk))
                for r in conn.execute(query):
                    found[(r.platform, r.root)] = conversation_from_row(r)
        return found

    def _archive_stats(
        self, conn: sa.Connection, keys: Iterable[conv.Key]
    ) -> dict[conv.Key, conv.ArchiveStats]:
        found: dict[conv.Key, conv.ArchiveStats] = {}
        c = posts.c
        for platform, roots in _by_platform(keys):
            for chunk in _chunks(roots):
                query = (
                    sa.select(
                        c.conv_root,
                        sa.func.count(),
                        sa.func.min(_ACTIVITY),
                        sa.func.max(_ACTIVITY),
                    )
                    .where(c.platform == platform, c.conv_root.in_(chunk))
                    .group_by(c.conv_root)
                )
                for root, count, first, last in conn.execute(query):
                    found[(platform, root)] = conv.ArchiveStats(
                        post_count=count,
                        first_activity=_as_time(first),
                        last_activity=_as_time(last),
                    )
        return found

    def _save_conversations(self, conn: sa.Connection, outcome: conv.Outcome) -> None:
        if not outcome.conversations:
            return
        self._store_conversations(conn, list(outcome.conversations.values()))
        flagged = [outcome.conversations[key] for key in outcome.flagged]
        self._participants_from_archive(conn, flagged)
        if outcome.joined:
            rows = [
                {"conversation_id": outcome.conversations[key].id, "author": author}
                for key, author in outcome.joined
            ]
            conn.execute(self._insert_ignore(conversation_participants), rows)
        self._recount(conn, [c.id for c in outcome.conversations.values() if c.id is not None])

    def _store_conversations(self, conn: sa.Connection, items: Sequence[conv.Conversation]) -> None:
        """Insert new conversations (setting their ids) and update the others, in bulk."""

        def values(c: conv.Conversation) -> dict[str, Any]:
            return {
                "b_platform": c.platform,
                "b_root": c.root,
                "b_flagged_at": c.flagged_at,
                "b_follow_until": c.follow_until,
                "b_rules": sorted(c.rules),
                "b_post_count": c.post_count,
                "b_first_activity": c.first_activity,
                "b_last_activity": c.last_activity,
            }

        fresh = [c for c in items if c.id is None]
        if fresh:
            conn.execute(_INSERT_CONVERSATION, [values(c) for c in fresh])
            ids = self._conversation_ids(conn, [c.key for c in fresh])
            for c in fresh:
                c.id = ids[c.key]
        known = [c for c in items if c not in fresh]
        if known:
            conn.execute(_UPDATE_CONVERSATION, [{"b_id": c.id, **values(c)} for c in known])

    def _conversation_ids(
        self, conn: sa.Connection, keys: Iterable[conv.Key]
    ) -> dict[conv.Key, int]:
        c = conversations.c
        found: dict[conv.Key, int] = {}
        for platform, roots in _by_platform(keys):
            for chunk in _chunks(roots):
                query = sa.select(c.id, c.root).where(c.platform == platform, c.root.in_(chunk))
                found.update(((platform, root), row_id) for row_id, root in conn.execute(query))
        return found

    def _participants_from_archive(
        self, conn: sa.Connection, items: Sequence[conv.Conversation]
    ) -> None:
        """Add the authors of the stored posts of newly flagged (or merged) conversations."""
        if not items:
            return
        c, k = posts.c, conversations.c
        ids = [item.id for item in items]
        select = (
            sa.select(k.id, _PARTICIPANT)
            .select_from(
                posts.join(conversations, sa.and_(k.platform == c.platform, k.root == c.conv_root))
            )
            .where(k.id.in_(ids), _PARTICIPANT != "")
            .distinct()
        )
        conn.execute(
            self._insert_ignore(conversation_participants).from_select(
                ["conversation_id", "author"], select
            )
        )

    def _refresh_from_archive(self, conn: sa.Connection, conversation: conv.Conversation) -> None:
        """Recount a merged conversation from the posts now under its root."""
        stats = self._archive_stats(conn, [conversation.key]).get(conversation.key)
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

    def _insert_ignore(self, table: sa.Table) -> Any:
        """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect."""
        insert = sqlite_insert if self.sqlite else pg_insert
        return insert(table).on_conflict_do_nothing()

    def _save_cursors(
        self, conn: sa.Connection, cursor_updates: Mapping[str, str], now: datetime
    ) -> None:
        rows = [{"source": s, "cursor": c, "updated_at": now} for s, c in cursor_updates.items()]
        stmt = (sqlite_insert if self.sqlite else pg_insert)(cursors)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["source"],
                set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
            ),
            rows,
        )


_COPY_TO_HISTORY: Final = sa.insert(post_versions).from_select(
    ["post_id", "version", "text", "edited_at", "replaced_at", "raw"],
    sa.select(
        posts.c.id,
        posts.c.version,
        posts.c.text,
        posts.c.edited_at,
        sa.bindparam("replaced_at", type_=post_versions.c.replaced_at.type),
        posts.c.raw,
    ).where(posts.c.id == sa.bindparam("b_id")),
)

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

_INSERT_CONVERSATION: Final = sa.insert(conversations).values(
    {
        name: sa.bindparam(f"b_{name}", type_=conversations.c[name].type)
        for name in _CONVERSATION_FIELDS
    }
)

_UPDATE_CONVERSATION: Final = (
    sa.update(conversations)
    .where(conversations.c.id == sa.bindparam("b_id"))
    .values(
        {
            name: sa.bindparam(f"b_{name}", type_=conversations.c[name].type)
            for name in _CONVERSATION_FIELDS
        }
    )
)

_APPLY_EDIT: Final = (
    sa.update(posts)
    .where(posts.c.id == sa.bindparam("b_id"))
    .values(
        {
            name: sa.bindparam(f"b_{name}", type_=posts.c[name].type)
            for name in (
                "text",
                "search_text",
                "edited_at",
                "version",
                "raw",
                "lang",
                "hashtags",
                "mentions",
                "links",
            )
        }
    )
)

_MARK_DELETED: Final = (
    sa.update(posts)
    .where(posts.c.id == sa.bindparam("b_id"))
    .values(deleted=True, deleted_at=sa.bindparam("b_deleted_at", type_=posts.c.deleted_at.type))
)


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


def check_post(post: Post) -> str | None:
    """Why the store refuses ``post`` (a bound exceeded, text it cannot keep), or ``None``."""
    author = post.author
    if (
        0 < len(post.platform) <= MAX_PLATFORM
        and 0 < len(post.native_id) <= MAX_ID
        and len(post.text) <= MAX_TEXT
        and len(post.raw) <= MAX_RAW
        and len(post.url) <= MAX_URL
        and len(author.id) <= MAX_ID
        and len(author.handle) <= MAX_ID
        and len(author.display_name) <= MAX_ID
        and len(post.lang) <= 16
        and len(post.lang_hint) <= 16
        and len(post.reply_to or "") <= MAX_ID
        and len(post.root_id or "") <= MAX_ID
        and len(post.quote_of or "") <= MAX_ID
        and len(post.repost_of or "") <= MAX_ID
        and len(post.hashtags) <= MAX_LIST
        and len(post.mentions) <= MAX_LIST
        and len(post.links) <= MAX_LIST
        and (author.followers is None or 0 <= author.followers < 2**63)
    ):
        # The common case: every field within bounds; one pass over all the text decides.
        joined = "".join(
            (
                post.platform,
                post.native_id,
                post.text,
                post.raw,
                post.url,
                author.id,
                author.handle,
                author.display_name,
                post.lang,
                post.lang_hint,
                post.reply_to or "",
                post.root_id or "",
                post.quote_of or "",
                post.repost_of or "",
                *post.hashtags,
                *post.mentions,
                *post.links,
            )
        )
        items = (*post.hashtags, *post.mentions, *post.links)
        if (
            "\x00" not in joined
            and (joined.isascii() or _text_error(joined) is None)
            and all(len(item) <= MAX_URL for item in items)
        ):
            return None
    return _explain(post)


def _explain(post: Post) -> str | None:
    """The first problem of a post that failed the fast check, in words."""
    if not post.platform or len(post.platform) > MAX_PLATFORM:
        return f"platform must have 1 to {MAX_PLATFORM} characters"
    if not post.native_id:
        return "native_id is empty"
    for name, value, limit in (
        ("native_id", post.native_id, MAX_ID),
        ("reply_to", post.reply_to, MAX_ID),
        ("root_id", post.root_id, MAX_ID),
        ("quote_of", post.quote_of, MAX_ID),
        ("repost_of", post.repost_of, MAX_ID),
        ("author.id", post.author.id, MAX_ID),
        ("author.handle", post.author.handle, MAX_ID),
        ("author.display_name", post.author.display_name, MAX_ID),
        ("url", post.url, MAX_URL),
        ("lang", post.lang, 16),
        ("lang_hint", post.lang_hint, 16),
        ("text", post.text, MAX_TEXT),
        ("raw", post.raw, MAX_RAW),
    ):
        if value is None:
            continue
        if len(value) > limit:
            return f"{name} is {len(value)} characters long (limit {limit})"
        error = _text_error(value)
        if error:
            return f"{name} {error}"
    lists = (("hashtags", post.hashtags), ("mentions", post.mentions), ("links", post.links))
    for name, items in lists:
        if len(items) > MAX_LIST:
            return f"{name} has {len(items)} entries (limit {MAX_LIST})"
        for item in items:
            if len(item) > MAX_URL:
                return f"{name} entry is {len(item)} characters long (limit {MAX_URL})"
            error = _text_error(item)
            if error:
                return f"{name} entry {error}"
    followers = post.author.followers
    if followers is not None and not 0 <= followers < 2**63:
        return f"author.followers {followers} is out of range"
    return None


def _text_error(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (PostgreSQL cannot store it)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"is not valid Unicode at character {exc.start} (lone surrogate)"
    return None


def _refusal(post: Post, error: str, source: str, now: datetime) -> Quarantined:
    payload = post.raw.encode("utf-8", "backslashreplace") if post.raw else b""
    if not payload:
        # ensure_ascii escapes lone surrogates, so even a refused text survives as JSON.
        payload = json.dumps(msgspec.to_builtins(post), ensure_ascii=True).encode()
    return Quarantined(
        source=source,
        stage="store",
        error=f"post {post.platform[:MAX_PLATFORM]}:{post.native_id[:MAX_ID]!r}: {error}",
        payload=payload,
        at=now,
        platform=post.platform[:MAX_PLATFORM],
    )


def _quarantine_row(q: Quarantined) -> dict[str, Any]:
    payload = q.payload
    error = q.error
    if len(payload) > MAX_PAYLOAD:
        error = f"{error} [payload cut from {len(payload)} to {MAX_PAYLOAD} bytes]"
        payload = payload[:MAX_PAYLOAD]
    return {
        "source": _clean(q.source),
        "stage": q.stage,
        "platform": _clean(q.platform),
        "error": _clean(error),
        "payload": payload,
        "at": q.at,
    }


def _clean(value: str) -> str:
    """Text that both engines can store: NULs and lone surrogates made visible, not fatal."""
    if _text_error(value) is None:
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _rounds(batch: Sequence[Post], valid: list[int]) -> list[list[int]]:
    """Split a batch so that each round holds a post key at most once (k-th copies in round k)."""
    seen: dict[tuple[str, str], int] = {}
    rounds: list[list[int]] = []
    for index in valid:
        key = batch[index].key
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(index)
    return rounds


def _by_platform(keys: Iterable[conv.Key]) -> list[tuple[str, list[str]]]:
    grouped: dict[str, set[str]] = {}
    for platform, native in keys:
        grouped.setdefault(platform, set()).add(native)
    return [(platform, sorted(ids)) for platform, ids in grouped.items()]


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _json_list(items: Sequence[str]) -> str:
    return orjson.dumps(list(items)).decode() if items else "[]"


def _older(incoming: datetime | None, stored: datetime | None) -> bool:
    """Whether an incoming copy is an older edit than the stored one (a late re-delivery)."""
    if incoming is None:
        return stored is not None
    if stored is None:
        return False
    return aware(incoming) <= aware(stored)


def _as_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return from_micros(int(value))
