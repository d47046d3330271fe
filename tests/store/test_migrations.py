"""Migrations build exactly the declared schema, on both engines, and there is one head."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from veille.store import Store, StoreError, create_engine
from veille.store.migrate import (
    current,
    ensure_current,
    head,
    include_object,
    target_metadata,
    upgrade,
)


def test_one_head() -> None:
    assert head()


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        return list(compare_metadata(context, target_metadata()))


def test_migrations_match_the_declared_tables(db_url: str) -> None:
    engine = create_engine(db_url)
    ensure_current(engine)
    assert current(engine) == head()
    assert _differences(engine) == []
    engine.dispose()


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    engine = create_engine(db_url)
    ensure_current(engine)
    from alembic import command

    from veille.store.migrate import _config

    with engine.begin() as conn:
        command.downgrade(_config(conn), "base")
    assert current(engine) is None
    upgrade(engine)
    assert current(engine) == head()
    assert _differences(engine) == []
    engine.dispose()


def test_database_from_a_newer_veille_is_refused(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/v.db"
    engine = create_engine(url)
    ensure_current(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(StoreError, match="unknown to this veille"):
        Store(engine)
    engine.dispose()


def test_full_text_index_exists(db_url: str) -> None:
    engine = create_engine(db_url)
    ensure_current(engine)
    names = set(sa.inspect(engine).get_table_names())
    if engine.dialect.name == "sqlite":
        assert "posts_fts" in names
    else:
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("posts")}
        assert "ix_posts_search" in indexes
    engine.dispose()


def test_the_full_text_index_is_rebuilt_without_positions(tmp_path: object) -> None:
    # Posts stored under 0006 (an index with positions) are found again after 0007 rebuilt it.
    from alembic import command

    from veille.store.migrate import _config

    engine = create_engine(f"sqlite:///{tmp_path}/fts.db")
    upgrade(engine, "0006_source_health")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO posts (id, platform, native_id, search_text, conv_root, stored_at) "
            "VALUES (1, 'p', '1', ' la gare du midi ', '1', 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO posts_fts (rowid, search_text) VALUES (1, ' la gare du midi ')"
        )
    upgrade(engine)
    with engine.connect() as conn:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'posts_fts'"
        ).scalar()
        assert "detail=none" in str(sql)
        found = "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?"
        assert conn.exec_driver_sql(found, ('"gare" AND "midi"',)).all() == [(1,)]
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO posts_fts(posts_fts, rank) VALUES('integrity-check', 1)")
        command.downgrade(_config(conn), "0006_source_health")
    with engine.connect() as conn:
        phrase = "SELECT rowid FROM posts_fts WHERE posts_fts MATCH '\"gare du midi\"'"
        assert conn.exec_driver_sql(phrase).all() == [(1,)]
    engine.dispose()
