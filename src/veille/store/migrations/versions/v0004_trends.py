"""Trends: counted posts' sentiment and the minute/hour/day rollups.

Revision ID: 0004_trends
Revises: 0003_web
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from veille.store.types import Timestamp

revision = "0004_trends"
down_revision = "0003_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post_sentiment",
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("polarity", sa.Float(), nullable=False),
        sa.Column("at", Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_sentiment_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_post_sentiment")),
    )
    op.create_index(op.f("ix_post_sentiment_at"), "post_sentiment", ["at"], unique=False)
    op.create_table(
        "trend_buckets",
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("start", Timestamp(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("negative", sa.BigInteger(), nullable=False),
        sa.Column("neutral", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.BigInteger(), nullable=False),
        sa.Column("polarity_sum", sa.Float(), nullable=False),
        sa.Column("reach", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "granularity", "dimension", "value", "start", name=op.f("pk_trend_buckets")
        ),
    )
    op.create_table(
        "trend_terms",
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("start", Timestamp(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "granularity",
            "dimension",
            "value",
            "start",
            "kind",
            "term",
            name=op.f("pk_trend_terms"),
        ),
    )


def downgrade() -> None:
    op.drop_table("trend_terms")
    op.drop_table("trend_buckets")
    op.drop_index(op.f("ix_post_sentiment_at"), table_name="post_sentiment")
    op.drop_table("post_sentiment")
