"""Base store: posts with edit history, matches, conversations, cursors, quarantine, rule
versions, and the full-text index (FTS5 on SQLite, GIN over tsvector on PostgreSQL).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from veille.store.types import JSONText, Timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("native_id", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("author_id", sa.Text, nullable=False, server_default=""),
        sa.Column("author_handle", sa.Text, nullable=False, server_default=""),
        sa.Column("author_name", sa.Text, nullable=False, server_default=""),
        sa.Column("author_followers", sa.BigInteger),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("search_text", sa.Text, nullable=False, server_default=""),
        sa.Column("lang", sa.String(16), nullable=False, server_default=""),
        sa.Column("lang_hint", sa.String(16), nullable=False, server_default=""),
        sa.Column("created_at", Timestamp),
        sa.Column("received_at", Timestamp),
        sa.Column("stored_at", Timestamp, nullable=False),
        sa.Column("reply_to", sa.Text),
        sa.Column("root_id", sa.Text),
        sa.Column("conv_root", sa.Text, nullable=False),
        sa.Column("quote_of", sa.Text),
        sa.Column("repost_of", sa.Text),
        sa.Column("hashtags", JSONText, nullable=False, server_default="[]"),
        sa.Column("mentions", JSONText, nullable=False, server_default="[]"),
        sa.Column("links", JSONText, nullable=False, server_default="[]"),
        sa.Column("edited_at", Timestamp),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted_at", Timestamp),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("raw", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
        sa.UniqueConstraint("platform", "native_id", name="uq_posts_platform_native_id"),
    )
    op.create_index("ix_posts_platform_conv_root", "posts", ["platform", "conv_root"])
    op.create_index("ix_posts_created_at", "posts", ["created_at"])

    op.create_table(
        "post_versions",
        sa.Column("post_id", RowId, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("edited_at", Timestamp),
        sa.Column("replaced_at", Timestamp, nullable=False),
        sa.Column("raw", sa.Text, nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name="fk_post_versions_post_id_posts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", "version", name="pk_post_versions"),
    )

    op.create_table(
        "matches",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("post_id", RowId, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        sa.Column("post_version", sa.Integer, nullable=False),
        sa.Column("spans", JSONText, nullable=False, server_default="[]"),
        sa.Column("terms", JSONText, nullable=False, server_default="{}"),
        sa.Column("backfilled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("matched_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name="fk_matches_post_id_posts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_matches"),
        sa.UniqueConstraint(
            "post_id",
            "rule",
            "rule_version",
            "post_version",
            name="uq_matches_post_id_rule_rule_version_post_version",
        ),
    )
    op.create_index("ix_matches_rule_matched_at", "matches", ["rule", "matched_at"])

    op.create_table(
        "conversations",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("root", sa.Text, nullable=False),
        sa.Column("flagged_at", Timestamp, nullable=False),
        sa.Column("follow_until", Timestamp, nullable=False),
        sa.Column("rules", JSONText, nullable=False, server_default="[]"),
        sa.Column("post_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("participants", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_activity", Timestamp),
        sa.Column("last_activity", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.UniqueConstraint("platform", "root", name="uq_conversations_platform_root"),
    )
    op.create_index("ix_conversations_last_activity", "conversations", ["last_activity"])

    op.create_table(
        "conversation_participants",
        sa.Column("conversation_id", RowId, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_participants_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "author", name="pk_conversation_participants"),
    )

    op.create_table(
        "cursors",
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_cursors"),
    )

    op.create_table(
        "quarantine",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
    )
    op.create_index("ix_quarantine_at", "quarantine", ["at"])

    op.create_table(
        "rule_versions",
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("rule", "version", name="pk_rule_versions"),
    )

    if op.get_bind().dialect.name == "sqlite":
        # External-content FTS5 over the folded text; the store writes it in the same
        # transaction as the post. columnsize=0: we never rank, so no per-row sizes are kept.
        op.execute(
            "CREATE VIRTUAL TABLE posts_fts USING fts5(search_text, content='posts', "
            "content_rowid='id', columnsize=0, tokenize=\"unicode61 remove_diacritics 0 "
            "tokenchars '@'\")"
        )
    else:
        op.execute(
            "CREATE INDEX ix_posts_search ON posts USING gin (to_tsvector('simple', search_text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE posts_fts")
    else:
        op.execute("DROP INDEX ix_posts_search")
    for table in (
        "rule_versions",
        "quarantine",
        "cursors",
        "conversation_participants",
        "conversations",
        "matches",
        "post_versions",
        "posts",
    ):
        op.drop_table(table)
