"""The tables of the store, on one shared ``MetaData``.

Other features (alerts, audit, users, source health, trends …) define their own tables in their
own module under ``veille.store`` on this same :data:`metadata`, and add an Alembic migration
that chains after the current head (``src/veille/store/migrations/versions/``). The test
``tests/store/test_migrations.py`` imports every module of ``veille.store`` and checks that the
migrations build exactly the tables declared here, on both engines.

The full-text index is not a table of this metadata: it is engine-specific (an FTS5 virtual
table on SQLite, a GIN index over ``to_tsvector`` on PostgreSQL) and created by the migrations.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from veille.store.types import JSONText, Timestamp

metadata: Final = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

RowId: Final = BigInteger().with_variant(Integer(), "sqlite")
"""Surrogate keys: 64-bit on PostgreSQL, SQLite's ``INTEGER PRIMARY KEY`` (the rowid)."""

posts: Final = Table(
    "posts",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("native_id", Text, nullable=False),
    Column("url", Text, nullable=False, server_default=""),
    Column("author_id", Text, nullable=False, server_default=""),
    Column("author_handle", Text, nullable=False, server_default=""),
    Column("author_name", Text, nullable=False, server_default=""),
    Column("author_followers", BigInteger),
    Column("text", Text, nullable=False, server_default=""),
    Column("search_text", Text, nullable=False, server_default=""),
    Column("lang", String(16), nullable=False, server_default=""),
    Column("lang_hint", String(16), nullable=False, server_default=""),
    Column("created_at", Timestamp),
    Column("received_at", Timestamp),
    Column("stored_at", Timestamp, nullable=False),
    Column("reply_to", Text),
    Column("root_id", Text),
    Column("conv_root", Text, nullable=False),
    Column("quote_of", Text),
    Column("repost_of", Text),
    Column("hashtags", JSONText, nullable=False, server_default="[]"),
    Column("mentions", JSONText, nullable=False, server_default="[]"),
    Column("links", JSONText, nullable=False, server_default="[]"),
    Column("edited_at", Timestamp),
    Column("deleted", Boolean, nullable=False, server_default=false()),
    Column("deleted_at", Timestamp),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("raw", Text, nullable=False, server_default=""),
    UniqueConstraint("platform", "native_id"),
    Index(None, "created_at"),
)
"""One row per post, upserted by ``(platform, native_id)``; ``conv_root`` is the native id of
the root of its conversation as resolved so far; ``search_text`` is the folded text indexed for
full-text search; ``version`` counts edits (older texts are in ``post_versions``)."""

_REPLY: Final = posts.c.conv_root != posts.c.native_id
Index(
    "ix_posts_platform_conv_root",
    posts.c.platform,
    posts.c.conv_root,
    sqlite_where=_REPLY,
    postgresql_where=_REPLY,
)
"""The posts of a conversation other than its root: most posts start a conversation of their
own, and leaving them out of this index spared 5,200 machine instructions per post in an
insert-only count, 2,400 of the whole store share once the two-half queries are paid for
(callgrind, docs/benchmarks.md). Query a conversation's posts with :func:`conversation_halves`."""


def conversation_halves(
    platform: Any, roots: Any
) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """SQL: the replies, then the roots, of the conversation(s) ``roots`` (a value, a bound
    parameter, or a list) of ``platform``: query each half apart (two statements, or a UNION
    ALL), each through its own index: the replies through the partial index above, whose
    condition it repeats, the roots through the unique key. (An ``OR`` of both halves let
    SQLite's planner scan every post of the platform instead.)"""
    c = posts.c
    many = isinstance(roots, list | tuple)
    by_root = c.conv_root.in_(roots) if many else c.conv_root == roots
    by_key = c.native_id.in_(roots) if many else c.native_id == roots
    return (
        sa.and_(c.platform == platform, by_root, _REPLY),
        sa.and_(c.platform == platform, by_key, c.conv_root == c.native_id),
    )


def of_conversation(
    platform: sa.ColumnElement[str], root: sa.ColumnElement[str]
) -> sa.ColumnElement[bool]:
    """SQL: the post belongs to the conversation whose platform and root are columns of an
    outer query (a join, a correlated ``EXISTS``); SQLite then searches both indexes of
    :func:`conversation_halves` for each outer row (``MULTI-INDEX OR``)."""
    return sa.or_(*conversation_halves(platform, root))


post_versions: Final = Table(
    "post_versions",
    metadata,
    Column("post_id", RowId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("edited_at", Timestamp),
    Column("replaced_at", Timestamp, nullable=False),
    Column("raw", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("post_id", "version"),
)
"""Earlier texts of edited posts: version ``n`` was the post's text until ``replaced_at``."""

matches: Final = Table(
    "matches",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("post_id", RowId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("rule", Text, nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("post_version", Integer, nullable=False),
    Column("spans", JSONText, nullable=False, server_default="[]"),
    Column("terms", JSONText, nullable=False, server_default="{}"),
    Column("backfilled", Boolean, nullable=False, server_default=false()),
    Column("matched_at", Timestamp, nullable=False),
    UniqueConstraint("post_id", "rule", "rule_version", "post_version"),
    Index(None, "rule", "matched_at"),
)
"""A rule (at a version) matched a post (at a text version); recording it twice is a no-op."""

conversations: Final = Table(
    "conversations",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("root", Text, nullable=False),
    Column("flagged_at", Timestamp, nullable=False),
    Column("follow_until", Timestamp, nullable=False),
    Column("rules", JSONText, nullable=False, server_default="[]"),
    Column("post_count", Integer, nullable=False, server_default="0"),
    Column("participants", Integer, nullable=False, server_default="0"),
    Column("first_activity", Timestamp),
    Column("last_activity", Timestamp),
    UniqueConstraint("platform", "root"),
    Index(None, "last_activity"),
)
"""Flagged conversations (a row exists once a post of the thread matched a rule)."""

conversation_participants: Final = Table(
    "conversation_participants",
    metadata,
    Column(
        "conversation_id",
        RowId,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("author", Text, nullable=False),
    PrimaryKeyConstraint("conversation_id", "author"),
)
"""Who took part in a flagged conversation (author id, or handle when the id is unknown)."""

cursors: Final = Table(
    "cursors",
    metadata,
    Column("source", Text, primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)
"""Each source's resume cursor, committed in the same transaction as the posts before it."""

quarantine: Final = Table(
    "quarantine",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("platform", String(64), nullable=False, server_default=""),
    Column("error", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("at", Timestamp, nullable=False),
    Index(None, "at"),
)
"""Records that failed a stage, kept whole (up to a bound) with their error."""

rule_versions: Final = Table(
    "rule_versions",
    metadata,
    Column("rule", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("query", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    PrimaryKeyConstraint("rule", "version"),
)
"""Every query a rule has had: a new version whenever its query text changes."""
