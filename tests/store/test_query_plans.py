"""On SQLite, every statement that looks for the posts of a conversation searches an index:
never a scan of the posts table, nor of all the posts of a platform.

The index by conversation leaves out root posts (``schema.conversation_halves``). SQLite's
planner, without statistics, took a plain ``OR`` of replies and roots for a search of every
post of the platform; this test replays what touches conversations and checks each plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veille.model import Author, Match, Post
from veille.store import Store
from veille.store.retention import Keep, Policy, Retention
from veille.testing import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HIT = [Match(rule="r1", version=1, spans=((0, 3),))]


def reply(native_id: str, parent: str | None, minutes: int = 0) -> Post:
    return Post(
        platform="mastodon",
        native_id=native_id,
        text=f"post {native_id}",
        reply_to=parent,
        author=Author(id=f"a{native_id}"),
        created_at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def statements(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Store, list[Any]]]:
    """A SQLite store, and the statements about conversations it runs (with parameters)."""
    seen: list[tuple[str, Any]] = []
    with Store.open(f"sqlite:///{tmp_path / 'plans.db'}", clock=clock) as store:

        def capture(_c: Any, _k: Any, sql: str, params: Any, _x: Any, many: bool) -> None:
            if "conv_root" in sql and not sql.lstrip().upper().startswith("INSERT INTO POSTS"):
                seen.append((sql, params[0] if many else params))

        sa.event.listen(store.engine, "before_cursor_execute", capture)
        yield store, seen


def test_conversation_statements_search_an_index(
    statements: tuple[Store, list[Any]], clock: FakeClock
) -> None:
    store, seen = statements
    clock.now = T0 + timedelta(hours=1)
    store.write_batch([reply("3", "2", 3)], [HIT])  # flagged under provisional root 2
    store.write_batch([reply("1", None, 1)], [HIT])
    store.write_batch([reply("2", "1", 2), reply("4", "3", 4)])  # relinks 2's thread under 1
    store.write_batch([reply("5", None, 5)], [HIT])  # a thread of its own, flagged at once
    assert [n.post.post.native_id for n in store.thread("mastodon", "1")] == ["1"]
    clock.advance(days=40)
    Retention(store.engine, clock=clock).run(Policy(Keep(matched=timedelta(days=30))))
    assert store.post("mastodon", "1") is None

    # Posts looked up by conversation: always through conversation_halves, whose replies half
    # repeats the partial index's condition.
    by_conversation = [
        (sql, params)
        for sql, params in seen
        if re.search(r"posts\.conv_root (= \?|IN \(|= conversations\.root)", sql)
    ]
    for sql, _ in by_conversation:
        assert "posts.conv_root != posts.native_id" in sql, sql
    kinds = {sql.split()[0].upper() for sql, _ in by_conversation}
    assert {"SELECT", "UPDATE", "DELETE"} <= kinds, kinds
    # And the raw statements of the batch writer, in the form Dialect.select_in gives them.
    threads = store._writer.threads
    halves = [(sql, "") for sql in threads.sql_waiting] + list(threads.sql_stats)
    raw = [(f"{sql} IN (?, ?){tail}", ("mastodon", "1", "2")) for sql, tail in halves]
    raw.append((threads.sql_of_posts, (1, 2)))  # the new rows' flagged conversations
    with store.engine.connect() as conn:
        for sql, params in by_conversation + raw:
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            for step in plan:
                assert not step.startswith("SCAN posts"), (sql, plan)
                assert not step.endswith("(platform=?)"), (sql, plan)
