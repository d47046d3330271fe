"""The SQLite full-text index keeps which posts hold a word, not where: ``detail=none``.

Every candidate the index gives is verified by the compiled matcher (``store/search.py``), so
word positions were never used; without them the index is smaller and each stored post costs
less to index (bench/pipeline.py, docs/benchmarks.md). The ``ascii`` tokenizer cuts the folded
text at the same places as the fold (``store/search.py`` repeats its rule exactly to split
phrases, which ``detail=none`` cannot match). PostgreSQL is unchanged.

Revision ID: 0007_fts_detail_none
Revises: 0006_source_health
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0007_fts_detail_none"
down_revision = "0006_source_health"
branch_labels = None
depends_on = None

_BEFORE = "columnsize=0, tokenize=\"unicode61 remove_diacritics 0 tokenchars '@'\""
_AFTER = "columnsize=0, detail=none, tokenize=\"ascii tokenchars '@'\""


def _rebuild(options: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE posts_fts")
    op.execute(
        f"CREATE VIRTUAL TABLE posts_fts USING fts5(search_text, content='posts', "
        f"content_rowid='id', {options})"
    )
    # Re-reads every stored post's folded text: minutes for tens of millions of posts.
    op.execute("INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')")


def upgrade() -> None:
    _rebuild(_AFTER)


def downgrade() -> None:
    _rebuild(_BEFORE)
