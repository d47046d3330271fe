"""The temperature: volume and sentiment over time per rule, tag, platform or language, with
spikes marked (the same detector as the trend alerts), and the most active rules and tags.

Aggregates carry no personal data, except the top authors: those are not served here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from veille.store import trends as trend_store
from veille.trends.spikes import BASELINE_HOURS, DAY, negative_share_spike, volume_spike
from veille.web.api.common import WebDep
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError

router = APIRouter(tags=["trends"])
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW))]
Dimension = Literal["all", "rule", "tag", "platform", "lang", "conversation"]
Sensitivity = Literal["low", "medium", "high"]
HISTORY = BASELINE_HOURS + DAY + 1
"""Hours read before the shown window so that its first hours can be judged for spikes."""


class SpikeOut(BaseModel):
    at: datetime
    kind: Literal["volume", "negative_share"]
    observed: float
    expected: float
    z: float


class TrendOut(BaseModel):
    dimension: Dimension
    value: str
    granularity: Literal["hour"] = "hour"
    times: list[datetime]
    volume: list[int]
    negative: list[int]
    neutral: list[int]
    positive: list[int]
    net_sentiment: list[float]
    """Mean polarity of each hour's posts, in [-1, 1]."""
    spikes: list[SpikeOut]
    top_words: list[tuple[str, int]]
    top_hashtags: list[tuple[str, int]]


class ActiveOut(BaseModel):
    dimension: Dimension
    value: str
    volume: int


def sees(web: Web, who: Principal, dimension: str, value: str) -> bool:
    """Rules and tags follow the watch lists; conversations their rules; totals are open."""
    scope = who.scope
    if scope.everything or dimension in ("all", "platform", "lang"):
        return True
    tags = web.rulebook.tags()
    if dimension == "rule":
        return scope.sees_rule(value, tags.get(value, ()))
    if dimension == "tag":
        return value in scope.tags or any(
            value in t and scope.sees_rule(r, t) for r, t in tags.items()
        )
    conv = web.store.conversation(value) if ":" in value else None
    return conv is not None and scope.sees_any(conv.rules, tags)


def trend(
    web: Web,
    who: Principal,
    dimension: Dimension,
    value: str,
    hours: int,
    sensitivity: Sensitivity = "medium",
) -> TrendOut:
    if not sees(web, who, dimension, value):
        raise ApiError(404, f"no {dimension} {value[:100]!r} you may see")
    since, until = trend_store.window(web.clock() + timedelta(hours=1), hours + HISTORY)
    with web.store.engine.connect() as conn:
        rows = trend_store.series(conn, "hour", dimension, value, since, until)
        shown_since = until - timedelta(hours=hours)
        words = trend_store.top_terms(conn, dimension, value, "word", shown_since, until)
        tags = trend_store.top_terms(conn, dimension, value, "hashtag", shown_since, until)
    volumes = [b.volume for _, b in rows]
    negatives = [b.negative for _, b in rows]
    spikes: list[SpikeOut] = []
    start = len(rows) - hours
    for i in range(max(start, BASELINE_HOURS), len(rows)):
        at = rows[i][0]
        for found in (
            volume_spike(volumes[: i + 1], sensitivity, at),
            negative_share_spike(volumes[: i + 1], negatives[: i + 1], sensitivity, at),
        ):
            if found is not None:
                spikes.append(
                    SpikeOut(
                        at=at,
                        kind=found.kind,
                        observed=found.observed,
                        expected=found.expected,
                        z=found.z,
                    )
                )
    shown = rows[start:]
    return TrendOut(
        dimension=dimension,
        value=value,
        times=[t for t, _ in shown],
        volume=[b.volume for _, b in shown],
        negative=[b.negative for _, b in shown],
        neutral=[b.neutral for _, b in shown],
        positive=[b.positive for _, b in shown],
        net_sentiment=[round(b.net_sentiment, 4) for _, b in shown],
        spikes=spikes,
        top_words=words,
        top_hashtags=tags,
    )


@router.get("/trends", response_model=TrendOut)
def get_trend(
    web: WebDep,
    who: Viewer,
    dimension: Dimension = "all",
    value: Annotated[str, Query(max_length=1100)] = "",
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 48,
    sensitivity: Sensitivity = "medium",
) -> TrendOut:
    """Hourly volume and sentiment of one rule, tag, platform, language or conversation
    (`all` for everything), with the spikes the trend detector finds in that window."""
    return trend(web, who, dimension, value, hours, sensitivity)


def active(
    web: Web, who: Principal, dimension: Dimension, hours: int, limit: int
) -> list[ActiveOut]:
    since, until = trend_store.window(web.clock() + timedelta(hours=1), hours)
    with web.store.engine.connect() as conn:
        found = trend_store.top_values(conn, dimension, since, until, limit=limit * 4)
    visible = [(v, n) for v, n in found if sees(web, who, dimension, v)][:limit]
    return [ActiveOut(dimension=dimension, value=v, volume=n) for v, n in visible]


@router.get("/trends/active", response_model=list[ActiveOut])
def most_active(
    web: WebDep,
    who: Viewer,
    dimension: Literal["rule", "tag", "platform", "lang"] = "rule",
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[ActiveOut]:
    """The rules (tags, platforms, languages) with the most posts in the last `hours`."""
    return active(web, who, dimension, hours, limit)
