"""Trends at run time: a committed batch is counted, a spike in the stored series is alerted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from veille.enrich.sentiment import to_finding
from veille.model import AlertSignal, Author, Enrichment, Match, Post, Sentiment
from veille.pipeline import Stored
from veille.store import Store
from veille.store import trends as st
from veille.testing import FakeClock
from veille.trends.service import TrendHook, check_spikes

START = datetime(2025, 11, 1, 0, 0, tzinfo=UTC)
NEG = Sentiment(label="negative", score=0.8, polarity=-0.7)
NEU = Sentiment(label="neutral", score=0.7, polarity=0.0)


@pytest.fixture
def store(tmp_path: object, clock: FakeClock) -> Iterator[Store]:
    clock.now = START
    with Store.open(f"sqlite:///{tmp_path}/t.db", clock=clock) as opened:  # type: ignore[str-bytes-safe]
        yield opened


def hour_of_posts(hour: int, count: int, sentiment: Sentiment, text: str) -> list[Stored]:
    posts, matches, enrichments = [], [], []
    for i in range(count):
        at = START + timedelta(hours=hour, minutes=(i * 7) % 60)
        posts.append(
            Post(
                platform="bluesky",
                native_id=f"h{hour}-{i}",
                text=text,
                lang="fr",
                author=Author(handle=f"u{i}", followers=10 * i),
                created_at=at,
            )
        )
        matches.append([Match(rule="manif", version=1)])
        enrichments.append(Enrichment(lang="fr", findings=(to_finding(sentiment),)))
    return [Stored(posts, matches, enrichments, [], {})]


def feed(store: Store, hook: TrendHook, batches: list[Stored], clock: FakeClock) -> None:
    """Store and hand to the hook, the clock at the end of the batch's hour."""
    for stored in batches:
        latest = max(p.created_at for p in stored.posts if p.created_at is not None)
        clock.now = max(clock.now, latest.replace(minute=59))
        store.write_batch(stored.posts, stored.matches)
        asyncio.run(hook(stored))


def test_volume_spike_becomes_a_trend_alert(store: Store, clock: FakeClock) -> None:
    submitted: list[AlertSignal] = []

    async def submit(signals: list[AlertSignal]) -> None:
        submitted.extend(signals)

    hook = TrendHook(store.engine, submit, tags_of={"manif": ("ordre-public",)}, clock=clock)
    for hour in range(14):
        feed(store, hook, hour_of_posts(hour, 6, NEU, "tram en retard gare du nord"), clock)
    assert submitted == []  # steady traffic
    feed(
        store, hook, hour_of_posts(14, 60, NEG, "manifestation gare du midi gaz lacrymogène"), clock
    )
    clock.now = START + timedelta(hours=15, minutes=2)
    with store.engine.connect() as conn:
        signals = check_spikes(conn, clock.now, "medium")
    kinds = {(s.labels["dimension"], s.labels["value"], s.labels["spike"]) for s in signals}
    assert ("rule", "manif", "volume") in kinds
    assert ("tag", "ordre-public", "volume") in kinds
    assert ("rule", "manif", "negative_share") in kinds
    volume = next(
        s for s in signals if s.labels == {"dimension": "rule", "value": "manif", "spike": "volume"}
    )
    assert volume.kind == "trend"
    assert volume.rule == "manif"
    assert volume.title.startswith("Volume spike on rule manif: 60 posts")
    assert any(r.startswith("net sentiment +0.00 → -0.70") for r in volume.reasons)
    assert any("lacrymogène" in r for r in volume.reasons if r.startswith("top terms"))
    assert any(r.startswith("top post: @u59") for r in volume.reasons)
    assert volume.native_id == "h14-59"
    # The hook checks once per new hour: the same call a minute later raises nothing new.
    # The hook checks the hour that just ended once, when the first batch of the next comes.
    post = Post(platform="bluesky", native_id="late", text="calme", created_at=clock.now)
    store.write_batch([post], [[]])
    asyncio.run(hook(Stored([post], [[]], [], [], {})))
    assert {s.fingerprint for s in submitted} == {s.fingerprint for s in signals}
    submitted.clear()
    clock.now += timedelta(minutes=1)
    asyncio.run(hook(Stored([post], [[]], [], [], {})))
    assert submitted == []


def test_steady_series_raises_nothing(store: Store, clock: FakeClock) -> None:
    hook = TrendHook(store.engine, None, clock=clock)
    for hour in range(20):
        feed(store, hook, hour_of_posts(hour, 8 + hour % 3, NEU, "trafic normal"), clock)
    with store.engine.connect() as conn:
        assert check_spikes(conn, START + timedelta(hours=20), "high") == []


def test_posts_without_a_sentiment_step_get_one(store: Store, clock: FakeClock) -> None:
    clock.now = START + timedelta(hours=1)
    hook = TrendHook(store.engine, None, clock=clock)
    post = Post(
        platform="x", native_id="1", text="Merci, c'est génial !", lang="fr", created_at=START
    )
    store.write_batch([post], [[]])
    asyncio.run(hook(Stored([post], [[]], [], [], {})))
    with store.engine.connect() as conn:
        label = conn.execute(sa.select(st.post_sentiment.c.label)).scalar_one()
    assert label == "positive"
