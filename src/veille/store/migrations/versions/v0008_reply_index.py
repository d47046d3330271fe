"""The index of posts by conversation holds only replies; the full-text index merges its
segments eight at a time.

Most posts start a conversation of their own (``conv_root = native_id``); they are found by
their key, so the ``(platform, conv_root)`` index now leaves them out (``schema.of_conversation``
queries both). FTS5 merging segments by eights instead of fours halves the merge work of each
stored post, for a few more segments to read per search. Both measured in docs/benchmarks.md.

Revision ID: 0008_reply_index
Revises: 0007_fts_detail_none
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_reply_index"
down_revision = "0007_fts_detail_none"
branch_labels = None
depends_on = None

_INDEX = "ix_posts_platform_conv_root"
_REPLY = sa.text("conv_root <> native_id")


def _automerge(segments: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            sa.text("INSERT INTO posts_fts(posts_fts, rank) VALUES ('automerge', :n)").bindparams(
                n=segments
            )
        )


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="posts")
    op.create_index(
        _INDEX,
        "posts",
        ["platform", "conv_root"],
        sqlite_where=_REPLY,
        postgresql_where=_REPLY,
    )
    _automerge(8)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="posts")
    op.create_index(_INDEX, "posts", ["platform", "conv_root"])
    _automerge(4)
