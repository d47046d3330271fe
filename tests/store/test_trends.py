"""Trend rollups in the store: incremental recording equals a rebuild from the archive."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from veille.model import Author, Match, Post, Sentiment
from veille.store import Store
from veille.store import trends as st
from veille.trends.rollup import Bucket

T0 = datetime(2025, 12, 1, 6, 0, tzinfo=UTC)
"""Before the fake clock's 2026-01-01, when the store records the posts."""
TAGS = {"manif": ("ordre-public",), "trafic": ("mobilite",), "vol": ("ordre-public", "biens")}
WORDS = [
    "police",
    "manif",
    "tram",
    "retard",
    "gare",
    "vélo",
    "politie",
    "betoging",
    "trein",
    "polizei",
    "demo",
    "zug",
]


def make_posts(n: int, seed: int = 5) -> list[tuple[Post, list[str], Sentiment]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + timedelta(minutes=rng.randrange(0, 60 * 30))
        label = rng.choice(["negative", "neutral", "positive"])
        polarity = {"negative": -0.6, "neutral": 0.05, "positive": 0.7}[label]
        post = Post(
            platform=rng.choice(["bluesky", "mastodon"]),
            native_id=f"p{i}",
            text=" ".join(rng.choices(WORDS, k=6)) + f" #{rng.choice(['bxl', 'gent'])}",
            lang=rng.choice(["fr", "nl", "de", "und"]),
            author=Author(
                id=f"a{i % 17}", handle=f"user{i % 17}", followers=rng.choice([None, 5, 900])
            ),
            created_at=at,
            received_at=at + timedelta(seconds=3),
            reply_to=f"p{rng.randrange(i)}" if i and rng.random() < 0.3 else None,
            hashtags=(rng.choice(["bxl", "gent"]),),
            links=("https://www.example.be/a",) if rng.random() < 0.3 else (),
        )
        rules = sorted(set(rng.sample(list(TAGS), k=rng.randrange(0, 3))))
        out.append((post, rules, Sentiment(label=label, score=0.8, polarity=polarity)))  # type: ignore[arg-type]
    return out


def write_and_record(store: Store, items: list[tuple[Post, list[str], Sentiment]]) -> int:
    posts = [p for p, _, _ in items]
    matches = [[Match(rule=r, version=1) for r in rules] for _, rules, _ in items]
    store.write_batch(posts, matches)
    with store.engine.begin() as conn:
        return st.record(conn, posts, [r for _, r, _ in items], [s for _, _, s in items], TAGS)


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with store.engine.connect() as conn:
        for table in (st.trend_buckets, st.trend_terms):
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted(
                tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows
            )
    return out


def test_incremental_equals_rebuilt(store: Store) -> None:
    items = make_posts(300)
    counted = 0
    for start in range(0, 300, 70):
        counted += write_and_record(store, items[start : start + 70])
    # Re-deliveries (same posts again, in another order) are not counted twice.
    assert write_and_record(store, items[10:40][::-1]) == 0
    assert counted == 300
    incremental = snapshot(store)
    with store.engine.begin() as conn:
        assert st.rebuild(conn, TAGS) == 300
    assert snapshot(store) == incremental
    assert incremental["trend_buckets"]
    assert incremental["trend_terms"]


def test_a_batch_counts_as_its_posts_one_by_one(store: Store) -> None:
    items = make_posts(150, seed=17)
    write_and_record(store, items)
    batched = snapshot(store)
    with store.engine.begin() as conn:
        for table in (st.trend_buckets, st.trend_terms, st.post_sentiment):
            conn.execute(sa.delete(table))
        for post, rules, sentiment in items:
            assert st.record(conn, [post], [rules], [sentiment], TAGS) == 1
    assert snapshot(store) == batched


def test_rebuild_since_a_day_leaves_earlier_days_alone(store: Store) -> None:
    items = make_posts(120, seed=9)
    write_and_record(store, items)
    before = snapshot(store)
    with store.engine.begin() as conn:
        conn.execute(
            sa.delete(st.trend_buckets).where(st.trend_buckets.c.start >= T0 + timedelta(days=1))
        )
        st.rebuild(conn, TAGS, since=T0 + timedelta(days=1, hours=5))
    assert snapshot(store) == before


def test_figures_of_a_bucket(store: Store) -> None:
    items = make_posts(200, seed=11)
    write_and_record(store, items)
    day = T0.replace(hour=0)
    with store.engine.connect() as conn:
        days = st.series(conn, "day", "all", "", day, day + timedelta(days=3))
        hours = st.series(conn, "hour", "all", "", day, day + timedelta(days=3))
        minutes = st.series(conn, "minute", "all", "", T0, T0 + timedelta(hours=2))
    assert [d for d, _ in days] == [day + timedelta(days=k) for k in range(3)]
    assert sum(b.volume for _, b in days) == sum(b.volume for _, b in hours) == 200
    assert len(minutes) == 120  # zero-filled
    total = Bucket()
    for _, b in days:
        total.add(b)
    labels = [s.label for _, _, s in items]
    assert (total.negative, total.neutral, total.positive) == (
        labels.count("negative"),
        labels.count("neutral"),
        labels.count("positive"),
    )
    expected_net = sum(s.polarity for _, _, s in items) / 200
    assert total.net_sentiment == pytest.approx(expected_net)
    assert total.reach == sum(p.author.followers or 0 for p, _, _ in items)


def test_dimensions_and_tops(store: Store) -> None:
    items = make_posts(200, seed=13)
    write_and_record(store, items)
    since, until = T0 - timedelta(hours=1), T0 + timedelta(days=2)
    with store.engine.connect() as conn:
        by_rule = dict(st.top_values(conn, "rule", since, until))
        by_tag = dict(st.top_values(conn, "tag", since, until))
        words = dict(st.top_terms(conn, "all", "", "word", since, until, limit=50))
        hashtags = dict(st.top_terms(conn, "all", "", "hashtag", since, until))
        domains = dict(st.top_terms(conn, "all", "", "domain", since, until))
        authors = st.top_terms(conn, "all", "", "author", since, until, limit=3)
        reached = st.top_posts(conn, "rule", "manif", since, until, limit=5)
        active = st.active_values(conn, ["rule", "tag"], since, until)
        convs = st.top_values(conn, "conversation", since, until, limit=3)
    for rule in TAGS:
        assert by_rule[rule] == sum(1 for _, rules, _ in items if rule in rules)
    assert by_tag["ordre-public"] == sum(
        1 for _, rules, _ in items if {"manif", "vol"} & set(rules)
    )
    assert words["police"] == sum(1 for p, _, _ in items if "police" in p.text.split())
    assert set(hashtags) == {"bxl", "gent"}
    assert domains["example.be"] == sum(1 for p, _, _ in items if p.links)
    assert len(authors) == 3
    assert all(a.startswith("user") for a, _ in authors)
    assert reached
    assert all(r.author_followers in (900, None, 5) for r in reached)
    assert reached[0].author_followers == 900
    assert ("tag", "ordre-public") in active
    assert ("rule", "trafic") in active
    assert convs[0][1] >= convs[-1][1]
    assert convs[0][0].split(":")[0] in ("bluesky", "mastodon")


def test_posts_not_stored_are_not_counted(store: Store) -> None:
    post, rules, sentiment = make_posts(1)[0]
    with store.engine.begin() as conn:
        assert st.record(conn, [post], [rules], [sentiment]) == 0
    with pytest.raises(ValueError, match="same length"), store.engine.begin() as conn:
        st.record(conn, [post], [], [sentiment])


def test_bucket_time_never_in_the_future_of_storage() -> None:
    stored = T0
    assert st.bucket_time(T0 + timedelta(days=3), None, stored) == stored
    assert st.bucket_time(None, T0 - timedelta(minutes=1), stored) == T0 - timedelta(minutes=1)
    assert st.bucket_time(None, None, stored) == stored
