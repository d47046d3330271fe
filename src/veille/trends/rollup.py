"""Time-bucket rollups: what each stored post adds to the temperature, pure and additive.

A post counts once in each bucket (minute, hour, day) of each *dimension value* it belongs
to: ``all``, every ``rule`` it matched and every ``tag`` of those rules, its ``platform``,
``lang`` and ``conversation``. A bucket holds the volume, the sentiment distribution, the
polarity sum (net sentiment = mean polarity), the reach (sum of authors' followers); hour and
day buckets of every dimension but ``conversation`` also count words, hashtags, authors and
domains, from which the top terms come.

Everything here is a sum, so increments from successive batches add up to exactly what one
pass over the archive gives: that is what lets the store maintain rollups incrementally and
rebuild them on demand with the same result (tested).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import msgspec

from veille.model import Post, SentimentLabel

Granularity = Literal["minute", "hour", "day"]
GRANULARITIES: Final[tuple[Granularity, ...]] = ("minute", "hour", "day")
STEP: Final[Mapping[Granularity, timedelta]] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
Dimension = Literal["all", "rule", "tag", "platform", "lang", "conversation"]
DIMENSIONS: Final[tuple[Dimension, ...]] = (
    "all", "rule", "tag", "platform", "lang", "conversation",
)  # fmt: skip
TermKind = Literal["word", "hashtag", "author", "domain"]
MAX_WORDS_PER_POST: Final = 12
"""Distinct content words one post contributes to the top-words counts (bounds the work)."""
MAX_TERM_CHARS: Final = 64

_WORD = re.compile(r"[^\W\d_][\w'’-]{2,}")
_STOPWORD_TEXT = """
    the and for that this with you are was have not but they his her she him our your from
    what all can has had were will would there their about just like out get one who been
    les des une que qui dans pour pas sur avec est sont mais ses aux par plus comme tout nous
    vous ils elle cette ces son été être fait très bien même aussi encore faire dit alors
    der die das und ist nicht ein eine mit den dem des auf für sich auch von wie aber noch
    nach bei zum zur hat sind wird wir ihr sie ich was wenn oder nur schon mal doch
    het een van dat die niet met voor zijn aan ook maar als bij nog wel naar dan door heeft
    wat deze dit hun zij wij jullie zo men over uit heb hebben wordt worden echt
    http https www amp user
"""
STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())
"""Function words of FR/NL/DE/EN that would crowd every top-words list."""


class Bucket(msgspec.Struct, kw_only=True):
    """The additive figures of one (granularity, start, dimension, value) bucket."""

    volume: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    polarity_sum: float = 0.0
    reach: int = 0

    def add(self, other: Bucket) -> None:
        self.volume += other.volume
        self.negative += other.negative
        self.neutral += other.neutral
        self.positive += other.positive
        self.polarity_sum += other.polarity_sum
        self.reach += other.reach

    @property
    def net_sentiment(self) -> float:
        """Mean polarity of the bucket's posts, in [-1, 1] (0 when empty)."""
        return self.polarity_sum / self.volume if self.volume else 0.0

    @property
    def negative_share(self) -> float:
        return self.negative / self.volume if self.volume else 0.0


BucketKey = tuple[Granularity, datetime, Dimension, str]
Term = tuple[TermKind, str]


class Increments(msgspec.Struct):
    """What a batch of posts adds: bucket figures and, per bucket, its term counts.

    Two buckets may share one term counter (a day that holds a single hour of the batch has
    that hour's counts): read them, never change them."""

    buckets: dict[BucketKey, Bucket] = {}
    terms: dict[BucketKey, Counter[Term]] = {}


class PostFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the rollups need to know of one stored post."""

    at: datetime
    platform: str
    lang: str
    conversation: str
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sentiment: SentimentLabel = "neutral"
    polarity: float = 0.0
    followers: int = 0
    words: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    author: str = ""
    domains: tuple[str, ...] = ()


def floor(at: datetime, granularity: Granularity) -> datetime:
    """Start of the bucket holding ``at`` (UTC-aware in, UTC-aware out)."""
    if granularity == "minute":
        return at.replace(second=0, microsecond=0)
    if granularity == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def content_words(text: str) -> tuple[str, ...]:
    """Distinct lower-cased content words of a post, in order, at most MAX_WORDS_PER_POST."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text[:5000].lower()):
        if word not in STOPWORDS and len(word) <= MAX_TERM_CHARS:
            seen.setdefault(word, None)
            if len(seen) >= MAX_WORDS_PER_POST:
                break
    return tuple(seen)


def domain_of(url: str) -> str:
    """The host of a link without ``www.`` (empty when it is not a URL)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")[:MAX_TERM_CHARS]


def facts_of(
    post: Post,
    *,
    at: datetime,
    conversation: str,
    rules: Sequence[str] = (),
    tags_of: Mapping[str, Sequence[str]] | None = None,
    sentiment: SentimentLabel = "neutral",
    polarity: float = 0.0,
) -> PostFacts:
    """The facts of a post: ``at`` is its bucket time (creation, else arrival)."""
    tags = sorted({t for r in rules for t in (tags_of or {}).get(r, ())})
    return PostFacts(
        at=at,
        platform=post.platform,
        lang=post.lang or "und",
        conversation=conversation,
        rules=tuple(sorted(set(rules))),
        tags=tuple(tags),
        sentiment=sentiment,
        polarity=polarity,
        followers=max(0, post.author.followers or 0),
        words=content_words(post.text),
        hashtags=tuple(sorted({h.lower().lstrip("#")[:MAX_TERM_CHARS] for h in post.hashtags})),
        author=(post.author.handle or post.author.id)[:MAX_TERM_CHARS],
        domains=tuple(sorted({d for d in map(domain_of, post.links) if d})),
    )


def terms_of(facts: PostFacts) -> list[Term]:
    """The terms one post adds to the top-terms counts of each bucket it falls in."""
    terms: list[Term] = [("word", w) for w in facts.words]
    terms += [("hashtag", h) for h in facts.hashtags]
    terms += [("domain", d) for d in facts.domains]
    if facts.author:
        terms.append(("author", facts.author))
    return terms


Sums = tuple[Any, ...]
"""volume, negative, neutral, positive, polarity sum, reach: the figures of a bucket."""
Slot = tuple[datetime, Dimension, str]
_LABEL_COUNTS: Final[Mapping[str, tuple[int, int, int]]] = {
    "negative": (1, 0, 0),
    "neutral": (0, 1, 0),
    "positive": (0, 0, 1),
}


def _summed(groups: dict[Slot, list[Sums]]) -> dict[Slot, Sums]:
    """Each slot's figures added up, column by column (in C)."""
    return {
        slot: figures[0] if len(figures) == 1 else tuple(map(sum, zip(*figures, strict=True)))
        for slot, figures in groups.items()
    }


def _coarser(sums: dict[Slot, Sums], start_of: Callable[[datetime], datetime]) -> dict[Slot, Sums]:
    """The same figures in coarser buckets (hours from minutes, days from hours)."""
    groups: dict[Slot, list[Sums]] = {}
    for (start, dim, value), figures in sums.items():
        slot = (start_of(start), dim, value)
        found = groups.get(slot)
        if found is None:
            groups[slot] = [figures]
        else:
            found.append(figures)
    return _summed(groups)


def _day(hour: datetime) -> datetime:
    return hour.replace(hour=0)


def increments(posts: Iterable[PostFacts]) -> Increments:
    """The sum of what ``posts`` add to every bucket they fall in.

    The posts of a batch share few minutes and most dimension values: each post's figures are
    grouped by minute bucket and summed per column, hours are summed from minutes and days from
    hours; term counts are counted once per hour bucket over the terms of all its posts.
    """
    minutes: dict[Slot, list[Sums]] = {}
    hour_terms: dict[Slot, list[Term]] = {}
    hour_of: dict[datetime, datetime] = {}
    for facts in posts:
        minute = facts.at.replace(second=0, microsecond=0)
        hour = hour_of.get(minute)
        if hour is None:
            hour = hour_of[minute] = minute.replace(minute=0)
        figures = (1, *_LABEL_COUNTS[facts.sentiment], facts.polarity, facts.followers)
        values: list[tuple[Dimension, str]] = [
            ("all", ""),
            ("platform", facts.platform),
            ("lang", facts.lang),
        ]
        if facts.rules:
            values += [("rule", r) for r in facts.rules]
        if facts.tags:
            values += [("tag", t) for t in facts.tags]
        terms = terms_of(facts)
        for dim, value in values:
            slot = (minute, dim, value)
            found = minutes.get(slot)
            if found is None:
                minutes[slot] = [figures]
            else:
                found.append(figures)
            slot = (hour, dim, value)
            listed = hour_terms.get(slot)
            if listed is None:
                hour_terms[slot] = terms.copy()
            else:
                listed += terms
        slot = (minute, "conversation", facts.conversation)
        found = minutes.get(slot)
        if found is None:
            minutes[slot] = [figures]
        else:
            found.append(figures)
    by_minute = _summed(minutes)
    by_hour = _coarser(by_minute, hour_of.__getitem__)
    by_day = _coarser(by_hour, _day)
    buckets: dict[BucketKey, Bucket] = {}
    for granularity, sums in (("minute", by_minute), ("hour", by_hour), ("day", by_day)):
        for (start, dim, value), (volume, neg, neu, pos, polarity, reach) in sums.items():
            buckets[(granularity, start, dim, value)] = Bucket(  # type: ignore[index]
                volume=volume,
                negative=neg,
                neutral=neu,
                positive=pos,
                polarity_sum=polarity,
                reach=reach,
            )
    counts: dict[BucketKey, Counter[Term]] = {}
    per_day: dict[Slot, list[Counter[Term]]] = {}
    for (hour, dim, value), terms in hour_terms.items():
        if not terms:
            continue
        counter = counts[("hour", hour, dim, value)] = Counter(terms)
        per_day.setdefault((_day(hour), dim, value), []).append(counter)
    for (day, dim, value), counters in per_day.items():
        total = counters[0] if len(counters) == 1 else sum(counters, Counter())
        counts[("day", day, dim, value)] = total
    return Increments(buckets, counts)
