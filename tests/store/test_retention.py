"""Retention: expired posts go, with their matches, index rows, alerts and emptied conversations,
and every deletion is in the audit log."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from veille.alert.engine import AlertEngine
from veille.config import AlertsSettings, RetentionSettings
from veille.model import AlertSignal, Author, Match, Post, Sentiment
from veille.store import Store
from veille.store import trends as trend_store
from veille.store.audit import AuditLog
from veille.store.retention import Keep, Policy, Retention
from veille.testing import FakeClock


def _post(native_id: str, text: str, platform: str = "mastodon", **fields: object) -> Post:
    return Post(
        platform=platform,
        native_id=native_id,
        text=text,
        author=Author(id="a" + native_id),
        **fields,  # type: ignore[arg-type]
    )


def _match(rule: str = "r1") -> Match:
    return Match(rule=rule, version=1, spans=((0, 6),), terms={"police": ((0, 6),)})


def _search(store: Store, word: str) -> int:
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?"
            return int(conn.exec_driver_sql(sql, (word,)).scalar_one())
        sql = (
            "SELECT count(*) FROM posts "
            "WHERE to_tsvector('simple', search_text) @@ to_tsquery('simple', %s)"
        )
        return int(conn.exec_driver_sql(sql, (word,)).scalar_one())


def test_expired_posts_go_with_everything_about_them(store: Store, clock: FakeClock) -> None:
    store.write_batch(
        [
            _post("1", "police old matched"),
            _post("2", "reply in the flagged thread", reply_to="1", root_id="1"),
            _post("3", "weather old unmatched"),
        ],
        [[_match()], [], []],
    )
    alerts = AlertEngine(store.engine, AlertsSettings(min_severity="info"), clock)
    alerts.submit(
        [
            AlertSignal(
                kind="rule",
                severity="high",
                title="t",
                rule="r1",
                conversation="mastodon:1",
                platform="mastodon",
                native_id="1",
            )
        ]
    )
    clock.advance(days=10)
    store.write_batch(
        [_post("4", "weather new unmatched"), _post("5", "police new")], [[], [_match()]]
    )
    policy = Policy(Keep(unmatched=timedelta(days=7), matched=timedelta(days=30)))
    retention = Retention(store.engine, clock=clock)

    first = retention.run(policy, actor="tester")
    assert (first.posts, first.by) == (1, {"mastodon/unmatched": 1})
    assert store.post("mastodon", "3") is None
    assert store.post("mastodon", "2") is not None  # context of a match: kept as matched
    assert _search(store, "weather") == 1

    clock.advance(days=25)
    second = retention.run(policy, actor="tester")
    assert second.posts == 3  # 1 and 2 (matched, 35 days) and 4 (unmatched, 25 days)
    assert second.alerts == 1
    assert second.conversations == 1
    assert store.conversation("mastodon:1") is None
    assert _search(store, "police") == 1
    assert _search(store, "weather") == 0
    counts = store.counts()
    assert counts["posts"] == 1
    assert counts["matches"] == 1
    assert counts["alerts"] == 0
    log = AuditLog(store.engine)
    deletions = [e for e in log.entries() if e.action == "retention.delete"]
    assert [e.detail["posts"] for e in deletions] == [3, 1]
    assert log.verify().ok
    assert retention.last_run()["posts"] == 3  # type: ignore[index]


def test_author_counts_of_trends_expire(store: Store, clock: FakeClock) -> None:
    posts = [_post("1", "police station")]
    store.write_batch(posts, [[_match()]])
    with store.engine.begin() as conn:
        trend_store.record(conn, posts, [["r1"]], [Sentiment(label="neutral", score=0.5)])
    clock.advance(days=40)
    purged = Retention(store.engine, clock=clock).run(
        Policy(Keep(unmatched=None, matched=timedelta(days=30)))
    )
    assert purged.author_counts > 0
    with store.engine.connect() as conn:
        kinds = {k for (k,) in conn.execute(sa.select(trend_store.trend_terms.c.kind).distinct())}
    assert "author" not in kinds
    assert "word" in kinds


def test_per_platform_periods_and_forever(store: Store, clock: FakeClock) -> None:
    store.write_batch([_post("1", "a", platform="rss"), _post("2", "b", platform="bluesky")])
    section = RetentionSettings(
        unmatched_days=0, matched_days=0, platforms={"rss": {"unmatched_days": 1}}
    )
    policy = Policy.from_settings(section)
    assert policy.keep("bluesky") == Keep(None, None)
    clock.advance(days=400)
    purged = Retention(store.engine, clock=clock).run(policy)
    assert purged.by == {"rss/unmatched": 1}
    assert store.post("bluesky", "2") is not None


def test_many_posts_are_deleted_in_chunks(store: Store, clock: FakeClock) -> None:
    store.write_batch([_post(str(i), f"text {i}") for i in range(2500)])
    clock.advance(days=8)
    purged = Retention(store.engine, clock=clock).run(Policy())
    assert purged.posts == 2500
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM posts")).scalar_one() == 0
    assert len([e for e in AuditLog(store.engine).entries() if e.action == "retention.delete"]) == 3
