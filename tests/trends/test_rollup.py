"""Rollup increments: the batch aggregation gives exactly what counting post by post gives."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from veille.trends.rollup import (
    GRANULARITIES,
    Bucket,
    Increments,
    PostFacts,
    content_words,
    floor,
    increments,
)

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)

facts_strategy = st.builds(
    PostFacts,
    # Across minutes, hours and a day boundary.
    at=st.integers(0, 3 * 3600 * 10**6).map(lambda us: T0 + timedelta(microseconds=us)),
    platform=st.sampled_from(["bluesky", "mastodon"]),
    lang=st.sampled_from(["fr", "nl", "und"]),
    conversation=st.sampled_from(["bluesky:1", "bluesky:2", "mastodon:1"]),
    rules=st.lists(st.sampled_from(["r1", "r2", "r3"]), unique=True).map(sorted).map(tuple),
    tags=st.lists(st.sampled_from(["t1", "t2"]), unique=True).map(sorted).map(tuple),
    sentiment=st.sampled_from(["negative", "neutral", "positive"]),
    # Multiples of 1/8: their sums are exact whatever the order of addition.
    polarity=st.integers(-8, 8).map(lambda n: n / 8),
    followers=st.integers(0, 10**6),
    words=st.lists(st.sampled_from(["tram", "gare", "politie", "zug"]), unique=True).map(tuple),
    hashtags=st.lists(st.sampled_from(["bxl", "gent"]), unique=True).map(tuple),
    author=st.sampled_from(["", "alice", "bob"]),
    domains=st.lists(st.sampled_from(["example.be", "vrt.be"]), unique=True).map(tuple),
)


def one_by_one(posts: list[PostFacts]) -> tuple[dict[Any, tuple[Any, ...]], Counter[Any]]:
    """The rollups as the definition says, one post at a time: each post once in each bucket
    of each value; terms in hour and day buckets, not per conversation."""
    buckets: dict[Any, Bucket] = {}
    terms: Counter[Any] = Counter()
    for f in posts:
        one = Bucket(
            volume=1,
            negative=int(f.sentiment == "negative"),
            neutral=int(f.sentiment == "neutral"),
            positive=int(f.sentiment == "positive"),
            polarity_sum=f.polarity,
            reach=f.followers,
        )
        values = [("all", ""), ("platform", f.platform), ("lang", f.lang)]
        values += [("conversation", f.conversation)]
        values += [("rule", r) for r in f.rules] + [("tag", t) for t in f.tags]
        kinds = [("word", w) for w in f.words] + [("hashtag", h) for h in f.hashtags]
        kinds += [("domain", d) for d in f.domains] + ([("author", f.author)] if f.author else [])
        for granularity in GRANULARITIES:
            start = floor(f.at, granularity)
            for dim, value in values:
                buckets.setdefault((granularity, start, dim, value), Bucket()).add(one)
                if granularity != "minute" and dim != "conversation":
                    for kind, term in kinds:
                        terms[(granularity, start, dim, value, kind, term)] += 1
    return {k: _figures(b) for k, b in buckets.items()}, terms


def _figures(b: Bucket) -> tuple[Any, ...]:
    return (b.volume, b.negative, b.neutral, b.positive, b.polarity_sum, b.reach)


@given(st.lists(facts_strategy, max_size=60))
def test_batch_increments_equal_counting_post_by_post(posts: list[PostFacts]) -> None:
    inc = increments(posts)
    buckets, terms = one_by_one(posts)
    assert {k: _figures(b) for k, b in inc.buckets.items()} == buckets
    flat: Counter[Any] = Counter()
    for key, kinds in inc.terms.items():
        assert kinds, "no empty term counts are kept"
        for kind, counts in kinds.items():
            assert counts, "no empty term counts are kept"
            for term, n in counts.items():
                flat[(*key, kind, term)] += n
    assert flat == terms
    # The figures are plain ints and floats (a bool would not bind to PostgreSQL's BIGINT).
    for b in inc.buckets.values():
        assert all(type(x) is int for x in (b.volume, b.negative, b.neutral, b.positive))


@given(st.lists(facts_strategy, min_size=2, max_size=30), st.integers(1, 29))
def test_increments_of_two_batches_add_up(posts: list[PostFacts], cut: int) -> None:
    """What lets the store keep rollups incrementally: batch boundaries change nothing."""
    whole = increments(posts)
    parts = [increments(posts[:cut]), increments(posts[cut:])]
    summed: dict[Any, Bucket] = {}
    terms: Counter[Any] = Counter()
    for part in parts:
        for key, b in part.buckets.items():
            summed.setdefault(key, Bucket()).add(b)
        terms.update(_flat_terms(part))
    assert {k: _figures(b) for k, b in summed.items()} == {
        k: _figures(b) for k, b in whole.buckets.items()
    }
    assert terms == _flat_terms(whole)


def _flat_terms(inc: Increments) -> Counter[Any]:
    return Counter(
        {
            (*key, kind, term): n
            for key, kinds in inc.terms.items()
            for kind, counts in kinds.items()
            for term, n in counts.items()
        }
    )


def test_content_words_are_distinct_bounded_and_without_stop_words() -> None:
    text = "Les POLICE dans la police: 3tram, tram_gare. " + " ".join(f"mot{i}x" for i in range(20))
    words = content_words(text)
    assert words[:3] == ("police", "tram", "tram_gare")  # "les", "dans": stop words
    assert len(words) == 12
