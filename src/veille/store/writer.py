"""The hot path: one transaction per batch for posts, history, matches, findings, conversations
and cursors.

Everything a batch changes is written in a single transaction, so a cursor never runs ahead of
the data and a process killed at any moment leaves either the whole batch or none of it. The
bulk statements (posts, full-text rows, matches, findings) go through the DB-API cursor's
``executemany`` — measured several times faster than SQLAlchemy Core's executemany for the same
rows (see docs/benchmarks.md); the rest uses Core.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import compress
from operator import itemgetter
from typing import Any, Final

import msgspec
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from veille import conversations as conv
from veille.model import Enrichment, Match, Post, Quarantined
from veille.store import bulk, findings
from veille.store.checks import check_post, quarantine_row, raw_of, refusal
from veille.store.rows import EMPTY_JSON, post_rows
from veille.store.schema import (
    cursors,
    post_versions,
    posts,
    quarantine,
)
from veille.store.sql import CHUNK, Dialect, as_time, by_platform, next_ids
from veille.store.threads import ConversationWriter
from veille.store.types import aware, time_binder

_NO_RULES: Final[frozenset[str]] = frozenset()

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

_POST_DEFAULTS: Final[Mapping[str, Any]] = {
    "url": "",
    "author_id": "",
    "author_handle": "",
    "author_name": "",
    "author_followers": None,
    "lang": "",
    "lang_hint": "",
    "reply_to": None,
    "root_id": None,
    "quote_of": None,
    "repost_of": None,
    "hashtags": EMPTY_JSON,
    "mentions": EMPTY_JSON,
    "links": EMPTY_JSON,
    "edited_at": None,
    "deleted": False,
    "deleted_at": None,
    "version": 1,
}
"""The value a new post row takes for each column the insert may leave out (the column's
server default, or ``NULL``): see :mod:`veille.store.rows`."""

_DEFAULT_AT: Final = tuple(
    (_POST_COLUMNS.index(name), value) for name, value in _POST_DEFAULTS.items()
)

_NATIVE_ID: Final = itemgetter(1)

_MAX_INSERT_SHAPES: Final = 256
"""Most post inserts (sets of columns) the writer keeps compiled; a handful in practice."""

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

    def add(self, part: WriteResult) -> None:
        """Count in ``part``, the result of some posts of the same batch."""
        for name in self.__struct_fields__:
            value = getattr(part, name)
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.post_ids = [
            a if b is None else b for a, b in zip(self.post_ids, part.post_ids, strict=True)
        ]
        self.flagged += part.flagged


MAX_ROUNDS_WITHOUT_BET: Final = 64
"""Most rounds written the usual way after lost bets (see BatchWriter._write_new_round)."""


class _AlreadyStored(Exception):
    """A round written as new held a post already stored (see BatchWriter._write_new_round)."""


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
    """New posts' rows, cut to ``insert_columns`` (positions in ``_POST_COLUMNS``)."""
    insert_columns: tuple[int, ...] = ()
    fts_inserts: list[tuple[int, str]] = field(default_factory=list)
    fts_deletes: list[tuple[int, str]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    matches: list[tuple[Any, ...]] = field(default_factory=list)
    findings: list[tuple[Any, ...]] = field(default_factory=list)
    fresh_ids: tuple[int, int] | None = None
    """First and last row id of ``inserts`` (consecutive): their full-text rows are copied
    from the posts table by one statement."""


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
        self.sql = Dialect(engine)
        self.threads = ConversationWriter(self.sql)
        self._bet_backoff = 0
        self._rounds_without_bet = 0
        self.sqlite = self.sql.sqlite
        self.bind_time = time_binder(self.dialect)
        mark = "?" if self.sqlite else "%s"
        self._post_inserts: dict[tuple[tuple[int, ...], bool], str] = {}

        def insert(table: str, columns: Sequence[str], tail: str = "") -> str:
            return _insert_sql(mark, table, columns, tail)

        self.sql_insert_post = insert("posts", _POST_COLUMNS)
        self.sql_insert_match = insert(
            "matches",
            _MATCH_COLUMNS,
            " ON CONFLICT (post_id, rule, rule_version, post_version) DO NOTHING",
        )
        self.sql_insert_finding = insert(
            "findings",
            findings.COLUMNS,
            " ON CONFLICT (post_id, post_version, seq) DO NOTHING",
        )
        self.sql_fts_insert = insert("posts_fts", ("rowid", "search_text"))
        self.sql_fts_copy = (
            "INSERT INTO posts_fts (rowid, search_text) "
            "SELECT id, search_text FROM posts WHERE id BETWEEN ? AND ?"
        )
        self.sql_fts_delete = insert("posts_fts", ("posts_fts", "rowid", "search_text")).replace(
            f"({mark},", "('delete',", 1
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
        enrichments: Sequence[Enrichment] | None = None,
        checked: bool = False,
        payloads: Sequence[bytes | None] | None = None,
    ) -> WriteResult:
        """Write a batch on ``conn`` inside its (already begun) transaction.

        ``payloads[i]``, when not ``None``, is the raw copy of ``batch[i]``: with ``checked``
        it is UTF-8 without NUL (``checks.storable_payload``) and stored as it is; otherwise
        it is decoded into the post's ``raw`` and checked with the post."""
        if matches is not None and len(matches) != len(batch):
            raise ValueError(f"{len(batch)} posts but {len(matches)} match lists")
        if folded is not None and len(folded) != len(batch):
            raise ValueError(f"{len(batch)} posts but {len(folded)} folded texts")
        if folded is not None and not isinstance(folded, list):
            folded = list(folded)  # the compiled row builder indexes a list
        if enrichments is not None and len(enrichments) != len(batch):
            raise ValueError(f"{len(batch)} posts but {len(enrichments)} enrichments")
        if payloads is not None:
            if len(payloads) != len(batch):
                raise ValueError(f"{len(batch)} posts but {len(payloads)} payloads")
            if not checked:
                for post, payload in zip(batch, payloads, strict=True):
                    if payload is not None:
                        post.raw = raw_of(payload)
                payloads = None
            elif not isinstance(payloads, list):
                payloads = list(payloads)  # the compiled row builder indexes a list
        result = WriteResult(post_ids=[None] * len(batch))
        refused: list[Quarantined] = list(rejected)
        valid: list[int] = []
        if checked:
            valid = list(range(len(batch)))
        else:
            for index, post in enumerate(batch):
                error = check_post(post)
                if error is None:
                    valid.append(index)
                else:
                    refused.append(refusal(post, error, source, now))
        keys = [(post.platform, post.native_id) for post in batch]
        rounds = _rounds(keys, valid)
        for round_ in rounds:
            args = (conn, batch, keys, round_, matches, folded, payloads, enrichments, now)
            if self._may_bet():
                part = WriteResult(post_ids=[None] * len(batch))
                if self._write_new_round(
                    conn, functools.partial(self._write_round, *args, part, bet=True)
                ):
                    if len(rounds) == 1:
                        result = part  # nothing written before it: no merge needed
                    else:
                        result.add(part)
                    continue
            self._write_round(*args, result)
        if refused:
            conn.execute(sa.insert(quarantine), [quarantine_row(q) for q in refused])
            result.quarantined = len(refused)
        if cursor_updates:
            self._save_cursors(conn, cursor_updates, now)
        return result

    # -- one round: each post key at most once -------------------------------------------------

    def _may_bet(self) -> bool:
        """Whether to write the next round on the bet that its posts are new (SQLite, every
        post kept), unless bets were lost lately (see :meth:`_write_new_round`)."""
        if not (self.sqlite and self.keep_all):
            return False
        if self._rounds_without_bet:
            self._rounds_without_bet -= 1
            return False
        return True

    def _write_new_round(self, conn: sa.Connection, write: Callable[[], None]) -> bool:
        """Run ``write`` (a round, written as new) on the bet that none of its posts is stored
        yet; ``False`` when the bet was lost, with nothing written.

        Most rounds hold only new posts: the posts are then inserted without looking their
        keys up first, the unique index telling whether one was stored after all (it then
        skips the row). When one was, everything the round wrote is rolled back to a
        savepoint, for :meth:`_write_round` to write it the usual way. A source that keeps
        re-delivering what it sent (a polled timeline) would lose every bet and pay twice, so
        each lost bet doubles the number of rounds written without one (up to
        :data:`MAX_ROUNDS_WITHOUT_BET`); a won bet resets it. Used only when every post is kept:
        with ``keep = "matched"`` a stored post that the bet would drop must still get its edit.
        Saves ~6,400 machine instructions per post (callgrind, docs/benchmarks.md).
        """
        conn.exec_driver_sql("SAVEPOINT new_round")
        try:
            write()
        except _AlreadyStored:
            conn.exec_driver_sql("ROLLBACK TO new_round")
            conn.exec_driver_sql("RELEASE new_round")
            self._bet_backoff = min(max(1, 2 * self._bet_backoff), MAX_ROUNDS_WITHOUT_BET)
            self._rounds_without_bet = self._bet_backoff
            return False
        conn.exec_driver_sql("RELEASE new_round")
        self._bet_backoff = 0
        return True

    def _write_round(
        self,
        conn: sa.Connection,
        batch: Sequence[Post],
        batch_keys: Sequence[conv.Key],
        indices: list[int],
        matches: Sequence[Sequence[Match]] | None,
        folded: list[str] | None,
        payloads: list[bytes | None] | None,
        enrichments: Sequence[Enrichment] | None,
        now: datetime,
        result: WriteResult,
        *,
        bet: bool = False,
    ) -> None:
        """Write one round; ``bet``: as if no post of it were stored (see _write_new_round)."""
        round_posts = [batch[i] for i in indices]
        keys = [batch_keys[i] for i in indices]
        existing = {} if bet else self._lookup_posts(conn, keys)
        known = {key: row.conv_root for key, row in existing.items()}
        parents = {(p.platform, p.reply_to) for p in round_posts if p.reply_to and not p.root_id}
        # A parent in the round is stored only if it is in ``existing`` (known already): the
        # others are new, and resolve_roots finds their roots in the round itself.
        known.update(self._lookup_roots(conn, parents.difference(known, keys)))
        threads = conv.resolve_roots(round_posts, known)
        self.threads.relink(conn, threads.relinks, existing)
        roots = threads.roots

        match_lists: list[Sequence[Match]] = (
            [matches[i] for i in indices] if matches is not None else [()] * len(indices)
        )
        conversations = [
            (post.platform, root) for post, root in zip(round_posts, roots, strict=True)
        ]
        matched = {key for key, found in zip(conversations, match_lists, strict=True) if found}
        follow = functools.partial(
            self._follow, round_posts, keys, conversations, matched, match_lists, existing, now
        )
        if bet:
            # Every post of a bet is new and inserted whatever its conversation: the round is
            # followed once its rows are in, its flagged conversations found by a join with
            # them (no key bound per post); the archive is read now, before it holds them.
            archived = self.threads.archive_stats(conn, matched)
            outcome: conv.Outcome | None = None
            archive: dict[conv.Key, conv.ArchiveStats] = {}
            keep: list[bool] | None = None
        else:
            flagged = self.threads.load(conn, set(conversations))
            outcome, archive, keep = follow(
                flagged, functools.partial(self.threads.archive_stats, conn)
            )

        old_texts = self._old_texts(conn, existing, round_posts) if existing else set()
        plan = _Plan()
        found_at = self.bind_time(now)
        fresh: list[int] = []  # positions in the round of the posts to insert
        for position, index in enumerate(indices):
            row = existing.get(keys[position]) if existing else None
            if row is None:
                if keep is None or keep[position]:
                    fresh.append(position)
                else:
                    result.dropped += 1
                continue
            post = round_posts[position]
            result.post_ids[index] = row.id
            if (row.id, post.text) in old_texts:
                result.unchanged += 1  # a late copy of a text the post had before
                continue
            payload = None if payloads is None else payloads[index]
            current = self._update_existing(plan, row, post, index, folded, payload, now, result)
            found = match_lists[position]
            if current and found:
                plan.matches.extend(self._match_rows(row.id, row.version, found, now))
            if current and enrichments is not None:
                plan.findings += findings.rows(row.id, row.version, enrichments[index], found_at)
        if fresh:
            ids = next_ids(conn, "posts", len(fresh))
            plan.fresh_ids = (ids[0], ids[-1])
            self._plan_inserts(
                plan,
                round_posts,
                indices,
                fresh,
                ids,
                roots,
                match_lists,
                folded,
                payloads,
                now,
                result,
            )
            if enrichments is not None:
                for position, post_id in zip(fresh, ids, strict=True):
                    enrichment = enrichments[indices[position]]
                    plan.findings += findings.rows(post_id, 1, enrichment, found_at)
        result.matches += self._execute(conn, plan, bet=bet)
        if bet and plan.fresh_ids is not None:
            outcome, archive, _ = follow(
                self.threads.load_of_posts(conn, plan.fresh_ids),
                lambda wanted: {key: archived[key] for key in wanted if key in archived},
            )
        if outcome is not None:
            self.threads.save(conn, outcome, archive)
            result.flagged.extend(outcome.flagged)

    def _follow(
        self,
        round_posts: Sequence[Post],
        keys: Sequence[conv.Key],
        conversations: Sequence[conv.Key],
        matched: set[conv.Key],
        match_lists: Sequence[Sequence[Match]],
        existing: Mapping[conv.Key, _Row],
        now: datetime,
        flagged: dict[conv.Key, conv.Conversation],
        archive_of: Callable[[set[conv.Key]], dict[conv.Key, conv.ArchiveStats]],
    ) -> tuple[conv.Outcome | None, dict[conv.Key, conv.ArchiveStats], list[bool] | None]:
        """Flag and follow the round's conversations; returns the outcome (``None`` when no
        conversation is concerned), the archive stats it used and which posts to keep
        (``None``: all).

        Only the posts of conversations that are flagged already or in which a post of the
        round matched can change anything: the others are kept (``keep = "all"``) or dropped,
        so the pure logic sees just the concerned ones. ``conversations`` holds the
        conversation of each post, ``matched`` those in which a post matched, ``flagged`` the
        stored state of the flagged ones; ``archive_of`` reads the stored posts of others.
        """
        concerned = matched.union(flagged)
        keep: list[bool] | None = None if self.keep_all else [False] * len(round_posts)
        if not concerned:
            return None, {}, keep
        positions = [n for n, key in enumerate(conversations) if key in concerned]
        activities = []
        for n in positions:
            post, found = round_posts[n], match_lists[n]
            activities.append(
                conv.Activity(
                    conversation=conversations[n],
                    author=conv.participant(post),
                    at=conv.activity_time(post, now),
                    rules=frozenset(m.rule for m in found) if found else _NO_RULES,
                    new=keys[n] not in existing,
                )
            )
        archive = archive_of(matched.difference(flagged))
        outcome = conv.follow(
            activities,
            flagged,
            archive,
            now=now,
            window=self.follow_window,
            keep_all=self.keep_all,
        )
        if keep is not None:
            for n, kept in zip(positions, outcome.keep, strict=True):
                keep[n] = kept
        return outcome, archive, keep

    def _plan_inserts(
        self,
        plan: _Plan,
        round_posts: list[Post],
        indices: list[int],
        fresh: list[int],
        ids: list[int],
        roots: list[str],
        match_lists: Sequence[Sequence[Match]],
        folded: list[str] | None,
        payloads: list[bytes | None] | None,
        now: datetime,
        result: WriteResult,
    ) -> None:
        """The rows of the new posts (built in C, :func:`veille.store.rows.post_rows`)."""
        plan.insert_columns, plan.inserts, deleted = post_rows(
            round_posts,
            fresh,
            indices,
            ids,
            roots,
            folded,
            payloads,
            result.post_ids,
            self.bind_time(now),
            self.bind_time,
            orjson.dumps,
            self.fold,
            EMPTY_JSON,
            _DEFAULT_AT,
        )
        result.deleted += deleted
        result.inserted += len(fresh)
        # Most posts match nothing: only the matched ones leave C-level iteration.
        found = map(match_lists.__getitem__, fresh)
        for position, post_id in compress(zip(fresh, ids, strict=True), found):
            plan.matches.extend(self._match_rows(post_id, 1, match_lists[position], now))

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
        flagged = self.threads.load(conn, touched)
        archive = self.threads.archive_stats(conn, touched - set(flagged))
        outcome = conv.follow(
            activities, flagged, archive, now=now, window=self.follow_window, keep_all=True
        )
        self.threads.save(conn, outcome, archive)
        return added

    # -- per-post decisions --------------------------------------------------------------------

    def _update_existing(
        self,
        plan: _Plan,
        row: _Row,
        post: Post,
        index: int,
        folded: Sequence[str] | None,
        payload: bytes | None,
        now: datetime,
        result: WriteResult,
    ) -> bool:
        """Plan what an already-stored post becomes (``payload``, when given, is its raw copy);
        True when ``post`` is its current text."""
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
                "b_raw": post.raw if payload is None else raw_of(payload),
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

    def _execute(self, conn: sa.Connection, plan: _Plan, *, bet: bool = False) -> int:
        """Run a round's statements in dependency order; returns the number of new matches.

        ``bet``: the posts are inserted only where their key is not stored; raises
        :class:`_AlreadyStored` when one was (see :meth:`_write_new_round`)."""
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
                sql = self._post_insert(plan.insert_columns, bet)
                inserted = bulk.executemany(
                    conn.connection.dbapi_connection, sql, plan.inserts, bytes_as_text=True
                )
                if bet and inserted != len(plan.inserts):
                    raise _AlreadyStored
                if self.sqlite and plan.fresh_ids is not None:
                    cursor.execute(self.sql_fts_copy, plan.fresh_ids)
            if plan.fts_inserts:
                cursor.executemany(self.sql_fts_insert, plan.fts_inserts)
            if plan.findings:
                cursor.executemany(self.sql_insert_finding, plan.findings)
            added = 0
            if plan.matches:
                cursor.executemany(self.sql_insert_match, plan.matches)
                added = max(cursor.rowcount, 0)
            return added
        finally:
            cursor.close()

    def _post_insert(self, kept: tuple[int, ...], bet: bool) -> str:
        """The insert of new posts with the columns at positions ``kept``; ``bet``: skipping
        the rows whose key is stored already (see :meth:`_write_new_round`)."""
        sql = self._post_inserts.get((kept, bet))
        if sql is None:
            tail = " ON CONFLICT (platform, native_id) DO NOTHING" if bet else ""
            columns = [_POST_COLUMNS[i] for i in kept]
            sql = _insert_sql(self.sql.mark, "posts", columns, tail)
            if len(self._post_inserts) >= _MAX_INSERT_SHAPES:  # bounded, whatever the stream
                self._post_inserts.clear()
            self._post_inserts[(kept, bet)] = sql
        return sql

    def _lookup_posts(self, conn: sa.Connection, keys: Iterable[conv.Key]) -> dict[conv.Key, _Row]:
        found: dict[conv.Key, _Row] = {}
        sql = self.sql.where_platform(
            "SELECT native_id, id, text, edited_at, deleted, version, search_text, conv_root "
            "FROM posts",
            "native_id",
        )
        for platform, ids in by_platform(keys):
            for native, *row in self.sql.select_in(conn, sql, platform, ids):
                found[(platform, native)] = _Row(
                    id=row[0],
                    text=row[1],
                    edited_at=as_time(row[2]),
                    deleted=bool(row[3]),
                    version=row[4],
                    search_text=row[5],
                    conv_root=row[6],
                )
        return found

    def _lookup_roots(self, conn: sa.Connection, keys: Iterable[conv.Key]) -> dict[conv.Key, str]:
        sql = self.sql.where_platform("SELECT native_id, conv_root FROM posts", "native_id")
        return {
            (platform, native): root
            for platform, ids in by_platform(keys)
            for native, root in self.sql.select_in(conn, sql, platform, ids)
        }

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


def _insert_sql(mark: str, table: str, columns: Sequence[str], tail: str = "") -> str:
    """``INSERT INTO table (columns) VALUES (…)`` with a parameter ``mark`` per column."""
    # Only our own constant table and column names go into the text; values are bound.
    marks = ", ".join([mark] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){tail}"  # noqa: S608


def _rounds(keys: Sequence[conv.Key], valid: list[int]) -> list[list[int]]:
    """Split a batch (its posts' ``keys``) so that each round holds a key at most once (k-th
    copies in round k)."""
    if len(valid) == len(keys):
        # Distinct native ids make distinct keys: a set of strings (hashes cached) is built
        # faster than one of tuples (hashed anew), so it is tried first.
        distinct = len(set(map(_NATIVE_ID, keys))) == len(keys) or len(set(keys)) == len(keys)
    else:
        distinct = len({keys[i] for i in valid}) == len(valid)
    if distinct:
        return [valid] if valid else []
    seen: dict[tuple[str, str], int] = {}
    rounds: list[list[int]] = []
    for index in valid:
        key = keys[index]
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(index)
    return rounds


def _older(incoming: datetime | None, stored: datetime | None) -> bool:
    """Whether an incoming copy is an older edit than the stored one (a late re-delivery)."""
    if incoming is None:
        return stored is not None
    if stored is None:
        return False
    return aware(incoming) <= aware(stored)
