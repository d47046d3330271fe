"""The store's front door: open a database, write batches, read posts and conversations back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import sqlalchemy as sa

from veille import conversations as conv
from veille.clock import Clock, utcnow
from veille.model import Enrichment, Match, Post, Quarantined
from veille.rules import Rule
from veille.store import reads
from veille.store.engine import WRITE, Synchronous, create_engine
from veille.store.migrate import ensure_current
from veille.store.search import SearchResult, search
from veille.store.versions import StoredVersionRegistry
from veille.store.writer import BatchWriter, WriteResult

if TYPE_CHECKING:
    from veille.config import Settings

Keep = Literal["all", "matched"]

_RETRIES = 3


def fold_for_search(text: str) -> str:
    """The folded form the full-text index holds: the matcher's canonical scan string."""
    from veille.normalise.fold import fold

    return fold(text).scan


class Store:
    """One veille database: SQLite (default) or PostgreSQL, same schema and behaviour.

    Thread-safe for use from several threads (each call takes its own pooled connection);
    on SQLite one process writes at a time (``BEGIN IMMEDIATE``), readers never block.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        clock: Clock = utcnow,
        keep: Keep = "all",
        follow_window: timedelta = conv.DEFAULT_FOLLOW_WINDOW,
        fold: Callable[[str], str] = fold_for_search,
        migrate: bool = True,
    ) -> None:
        if keep not in ("all", "matched"):
            raise ValueError(f"store keep must be 'all' or 'matched', not {keep!r}")
        if follow_window <= timedelta(0):
            raise ValueError(f"follow window must be positive, not {follow_window}")
        self.engine = engine
        self.clock = clock
        self.keep: Keep = keep
        self.follow_window = follow_window
        self.fold = fold
        if migrate:
            ensure_current(engine)
        self._writer = BatchWriter(
            engine, fold=fold, keep_all=keep == "all", follow_window=follow_window
        )
        self.versions = StoredVersionRegistry(engine, clock)
        """Rule versions that survive restarts (a :class:`veille.rules.VersionRegistry`)."""

    @classmethod
    def open(
        cls,
        url: str = "sqlite:///veille.db",
        *,
        synchronous: Synchronous = "normal",
        **options: object,
    ) -> Self:
        """Open (and migrate, unless ``migrate=False``) the database at ``url``."""
        return cls(create_engine(url, synchronous=synchronous), **options)  # type: ignore[arg-type]

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> Self:
        """Open the store configured by the ``[store]`` and ``[conversations]`` sections."""
        return cls(
            create_engine(settings.store.url, synchronous=settings.store.synchronous),
            clock=clock,
            keep=settings.store.keep,
            follow_window=timedelta(hours=settings.conversations.follow_window_hours),
        )

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def write_batch(
        self,
        posts: Sequence[Post],
        matches: Sequence[Sequence[Match]] | None = None,
        cursors: Mapping[str, str] | None = None,
        *,
        rejected: Sequence[Quarantined] = (),
        folded: Sequence[str] | None = None,
        payloads: Sequence[bytes | None] | None = None,
        source: str = "",
        enrichments: Sequence[Enrichment] | None = None,
        checked: bool = False,
    ) -> WriteResult:
        """Store a batch in ONE transaction: posts (upserted by ``(platform, native_id)``, edits
        to history, deletions recorded), their matches and detector findings, conversation
        updates, quarantined records and the sources' new cursors — all or nothing.

        ``matches[i]`` are the matches of ``posts[i]``; ``folded[i]``, when given, is
        ``fold(posts[i].text).scan`` already computed by the matcher (saves folding twice);
        ``enrichments[i]``, when given, is what the enrich stage found in ``posts[i]`` (stored
        in ``findings`` against the post's current text version); ``payloads[i]``, when given
        and not ``None``, is the payload ``posts[i]`` was mapped from, kept as its raw copy
        (instead of ``posts[i].raw``; the pipeline never decodes it).
        A post the store cannot keep (over a bound, NUL or lone surrogate in a field) is
        quarantined under ``source`` with stage ``store``; the rest of the batch goes on.
        ``checked`` says the caller ran :func:`veille.store.checks.check_post` on every post
        and :func:`~veille.store.checks.storable_payload` on every payload already (the
        pipeline does, in its worker processes): they are not checked again.
        """
        for attempt in range(_RETRIES):
            try:
                with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                    return self._writer.write(
                        conn,
                        posts,
                        matches,
                        cursors or {},
                        rejected,
                        folded,
                        source,
                        self.clock(),
                        enrichments,
                        checked,
                        payloads,
                    )
            except sa.exc.IntegrityError:
                # Another writer (PostgreSQL scale-out) inserted one of these posts first:
                # the batch is rolled back whole and retried against what is now stored.
                if self.engine.dialect.name != "postgresql" or attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def quarantine(self, records: Sequence[Quarantined]) -> int:
        """Store quarantined records on their own (no posts, no cursor)."""
        return self.write_batch((), rejected=records).quarantined

    def record_matches(
        self, found: Sequence[tuple[int, Sequence[Match]]], *, backfilled: bool = True
    ) -> int:
        """Record matches found later for stored posts (backfill), flagging their conversations.

        ``found`` pairs a post's row id with its matches; a match already recorded is skipped.
        Returns the number of new match rows.
        """
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            return self._writer.record_matches(conn, found, backfilled, self.clock())

    # -- reading -----------------------------------------------------------------------------

    def cursor(self, source: str) -> str | None:
        """The committed resume cursor of ``source`` (``None``: start from the beginning)."""
        with self.engine.connect() as conn:
            return reads.cursor(conn, source)

    def cursors(self) -> dict[str, str]:
        """Every source's committed cursor."""
        with self.engine.connect() as conn:
            return reads.cursors(conn)

    def post(self, platform: str, native_id: str) -> reads.StoredPost | None:
        """A stored post with its current matches, by its platform key."""
        with self.engine.connect() as conn:
            return reads.post_by_key(conn, platform, native_id)

    def post_by_id(self, post_id: int) -> reads.StoredPost | None:
        """A stored post with its current matches, by row id."""
        with self.engine.connect() as conn:
            return reads.post_by_id(conn, post_id)

    def history(self, post_id: int) -> list[reads.PostVersion]:
        """The earlier texts of a post, oldest first."""
        with self.engine.connect() as conn:
            return reads.history(conn, post_id)

    def conversations(
        self, *, limit: int = 50, following: bool = False, since: datetime | None = None
    ) -> list[conv.Conversation]:
        """Flagged conversations, most recently active first (``following``: still followed)."""
        with self.engine.connect() as conn:
            now = self.clock() if following else None
            return reads.flagged(conn, limit=limit, following_at=now, since=since)

    def conversation(self, ref: int | str | tuple[str, str]) -> conv.Conversation | None:
        """A flagged conversation by row id, ``"platform:root"`` or ``(platform, root)``."""
        with self.engine.connect() as conn:
            return reads.conversation(conn, ref)

    def thread(
        self, platform: str, root: str, *, limit: int = reads.MAX_THREAD
    ) -> list[reads.ThreadNode]:
        """The stored posts of a conversation as reply trees (the root first when stored)."""
        with self.engine.connect() as conn:
            return reads.thread(conn, platform, root, limit=limit)

    def iter_posts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 1000,
        include_deleted: bool = False,
    ) -> Iterator[list[reads.StoredPost]]:
        """The archive in creation-time order, in batches (for backfill and exports).

        With ``since``/``until`` only posts whose ``created_at`` is in ``[since, until)`` come;
        without them, posts that have no creation time come too.
        """
        return reads.iter_posts(
            self.engine,
            since=since,
            until=until,
            batch_size=batch_size,
            include_deleted=include_deleted,
        )

    def search(
        self,
        query: str | Rule,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        include_deleted: bool = False,
    ) -> SearchResult:
        """Stored posts that the rule-language ``query`` matches, newest first, each with the
        explanation; candidates come from the full-text index and are verified by the matcher.
        """
        return search(
            self.engine,
            query,
            since=since,
            until=until,
            limit=limit,
            include_deleted=include_deleted,
        )

    def quarantined(self, *, limit: int = 100, source: str | None = None) -> list[Quarantined]:
        """The most recent quarantined records."""
        with self.engine.connect() as conn:
            return reads.quarantined(conn, limit=limit, source=source)

    def counts(self) -> dict[str, int]:
        """Rows per table of the store (posts, matches, conversations, quarantine …)."""
        with self.engine.connect() as conn:
            return reads.counts(conn)
