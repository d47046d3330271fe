"""The store: the only place that talks SQL (SQLite by default, PostgreSQL to scale).

``Store.open(url)`` migrates the database and gives the write path (:meth:`Store.write_batch`,
one transaction per batch) and the reads the CLI, web and backfill need. See docs/storage.md.
"""

from veille.store.engine import StoreError, create_engine
from veille.store.reads import PostVersion, StoredMatch, StoredPost, ThreadNode
from veille.store.search import SearchHit, SearchResult
from veille.store.store import Store
from veille.store.writer import WriteResult

__all__ = [
    "PostVersion",
    "SearchHit",
    "SearchResult",
    "Store",
    "StoreError",
    "StoredMatch",
    "StoredPost",
    "ThreadNode",
    "WriteResult",
    "create_engine",
]
