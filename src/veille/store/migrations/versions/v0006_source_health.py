"""Source health: the latest health of each live source, written by veille run.

Revision ID: 0006_source_health
Revises: 0005_findings
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from veille.store.types import JSONText, Timestamp

revision = "0006_source_health"
down_revision = "0005_findings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_health",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reported_at", Timestamp(), nullable=False),
        sa.Column("health", JSONText(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_source_health")),
    )


def downgrade() -> None:
    op.drop_table("source_health")
