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
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import chain
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
TermCounts = dict[TermKind, Counter[str]]
"""Counts of the terms of each kind in one bucket."""


class Increments(msgspec.Struct):
    """What a batch of posts adds: bucket figures and, per bucket, its term counts.

    Two buckets may share term counters (a day that holds a single hour of the batch has that
    hour's counts): read them, never change them."""

    buckets: dict[BucketKey, Bucket] = {}
    terms: dict[BucketKey, TermCounts] = {}


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


_Sums = tuple[Any, ...]
"""volume, negative, neutral, positive, polarity sum, reach: the figures of a bucket."""
_LABEL_COUNTS: Final[Mapping[str, tuple[int, int, int]]] = {
    "negative": (1, 0, 0),
    "neutral": (0, 1, 0),
    "positive": (0, 0, 1),
}
_Value = tuple[Dimension, str]
_Slots = dict[_Value, tuple[_Sums, TermCounts | None]]


class _Columns:
    """The figures and terms of a batch's posts, one list per field (indexed like the posts)."""

    def __init__(self, posts: Sequence[PostFacts]) -> None:
        self.figures = [(1, *_LABEL_COUNTS[f.sentiment], f.polarity, f.followers) for f in posts]
        self.words = [f.words for f in posts]
        self.hashtags = [f.hashtags for f in posts]
        self.domains = [f.domains for f in posts]
        self.authors = [f.author for f in posts]

    def sums(self, ids: list[int]) -> _Sums:
        if len(ids) == 1:
            return self.figures[ids[0]]
        return tuple(map(sum, zip(*map(self.figures.__getitem__, ids), strict=True)))

    def terms(self, ids: list[int]) -> TermCounts:
        # Counting plain strings (their hashes are cached) in C: the hot loop of a batch.
        counts: TermCounts = {
            "word": Counter(chain.from_iterable(map(self.words.__getitem__, ids))),
            "hashtag": Counter(chain.from_iterable(map(self.hashtags.__getitem__, ids))),
            "domain": Counter(chain.from_iterable(map(self.domains.__getitem__, ids))),
            "author": Counter(filter(None, map(self.authors.__getitem__, ids))),
        }
        return {kind: counted for kind, counted in counts.items() if counted}


def _slots(
    posts: Sequence[PostFacts], columns: _Columns, members: list[int], with_terms: bool
) -> _Slots:
    """The figures (and term counts) of every dimension value of one time bucket holding
    ``members`` (indices of ``posts``): posts are grouped by value in one pass, then each
    group's figures and terms are summed and counted in C."""
    by: dict[Dimension, dict[str, list[int]]] = {
        "platform": {},
        "lang": {},
        "conversation": {},
        "rule": {},
        "tag": {},
    }
    platform, lang, conversation, rule, tag = by.values()
    for i in members:
        facts = posts[i]
        platform.setdefault(facts.platform, []).append(i)
        lang.setdefault(facts.lang, []).append(i)
        conversation.setdefault(facts.conversation, []).append(i)
        for r in facts.rules:
            rule.setdefault(r, []).append(i)
        for t in facts.tags:
            tag.setdefault(t, []).append(i)
    groups: list[tuple[Dimension, str, list[int]]] = [("all", "", members)]
    groups += [(dim, value, ids) for dim, values in by.items() for value, ids in values.items()]
    return {
        (dim, value): (
            columns.sums(ids),
            columns.terms(ids) if with_terms and dim != "conversation" else None,
        )
        for dim, value, ids in groups
    }


def increments(posts: Sequence[PostFacts]) -> Increments:
    """The sum of what ``posts`` add to every bucket they fall in.

    Posts are grouped by minute, hour and day; within each, by dimension value, and each
    group is summed at once. A day holding a single hour of the batch (the usual case) takes
    that hour's figures and counts as they are.
    """
    columns = _Columns(posts)
    minutes: dict[datetime, list[int]] = {}
    for i, facts in enumerate(posts):
        minutes.setdefault(facts.at.replace(second=0, microsecond=0), []).append(i)
    hours: dict[datetime, list[int]] = {}
    for minute, members in minutes.items():
        hours.setdefault(minute.replace(minute=0), []).extend(members)
    days: dict[datetime, list[datetime]] = {}
    for hour in hours:
        days.setdefault(hour.replace(hour=0), []).append(hour)
    inc = Increments({}, {})

    def add(granularity: Granularity, start: datetime, slots: _Slots) -> None:
        for (dim, value), (sums, counts) in slots.items():
            key = (granularity, start, dim, value)
            volume, negative, neutral, positive, polarity, reach = sums
            inc.buckets[key] = Bucket(
                volume=volume,
                negative=negative,
                neutral=neutral,
                positive=positive,
                polarity_sum=polarity,
                reach=reach,
            )
            if counts:
                inc.terms[key] = counts

    for minute, members in minutes.items():
        add("minute", minute, _slots(posts, columns, members, with_terms=False))
    for day, day_hours in days.items():
        for hour in day_hours:
            slots = _slots(posts, columns, hours[hour], with_terms=True)
            add("hour", hour, slots)
        if len(day_hours) > 1:
            members = [i for hour in day_hours for i in hours[hour]]
            slots = _slots(posts, columns, members, with_terms=True)
        add("day", day, slots)
    return inc
