"""The temperature: series, spikes marked, visibility, the page and its chart data."""

from __future__ import annotations

from datetime import timedelta

from veille.model import Author, Match, Post, Sentiment
from veille.store import trends as trend_store

from .conftest import Env, login


def _history(env: Env) -> None:
    """40 quiet hours of the police rule, then a burst of angry posts in the last hour."""
    now = env.clock.advance(minutes=59)  # late in the hour: the burst fills the current one
    posts, matches, sentiments = [], [], []
    n = 0
    for hour in range(40, 0, -1):
        for k in range(2 + hour % 2):
            n += 1
            posts.append(
                Post(
                    platform="m",
                    native_id=str(n),
                    text=f"police patrol {n}",
                    author=Author(handle=f"u{k}"),
                    created_at=now - timedelta(hours=hour, minutes=k),
                )
            )
            sentiments.append(Sentiment(label="neutral", score=0.8))
    for k in range(60):
        n += 1
        posts.append(
            Post(
                platform="m",
                native_id=str(n),
                text=f"police scandal #colere {n}",
                hashtags=("colere",),
                author=Author(handle=f"a{k}"),
                created_at=now - timedelta(minutes=k % 50),
            )
        )
        sentiments.append(Sentiment(label="negative", score=0.9, polarity=-0.8))
    matches = [[Match(rule="t.police", version=1)] for _ in posts]
    env.store.write_batch(posts, matches)
    with env.store.engine.begin() as conn:
        trend_store.record(
            conn,
            posts,
            [["t.police"]] * len(posts),
            sentiments,
            tags_of=env.app.state.web.rulebook.tags(),
        )


def test_trend_series_marks_the_spike(env: Env) -> None:
    _history(env)
    api = env.api("analyst")
    data = api.get(
        "/api/trends", params={"dimension": "rule", "value": "t.police", "hours": 24}
    ).json()
    assert len(data["times"]) == 24
    assert data["volume"][-1] == 60
    assert data["net_sentiment"][-1] < -0.7
    kinds = {s["kind"] for s in data["spikes"]}
    assert "volume" in kinds
    assert data["spikes"][-1]["at"] == data["times"][-1]
    assert ("colere", 60) in [tuple(t) for t in data["top_hashtags"]]
    active = api.get("/api/trends/active", params={"dimension": "tag"}).json()
    assert active[0]["value"] == "ordre"
    assert (
        env.api("outsider")
        .get("/api/trends", params={"dimension": "rule", "value": "t.police"})
        .status_code
        == 404
    )
    assert env.api("outsider").get("/api/trends", params={"dimension": "all"}).status_code == 200


def test_temperature_page_and_chart(env: Env) -> None:
    _history(env)
    client = env.client()
    login(client, "viewer")
    page = client.get("/temperature")
    assert page.status_code == 200
    assert 'data-src="/temperature/chart?dimension=rule&amp;value=t.police' in page.text
    chart = client.get(
        "/temperature/chart", params={"dimension": "rule", "value": "t.police"}
    ).json()
    assert len(chart["times"]) == 48
    assert [s["label"] for s in chart["series"]] == ["posts", "negative", "net sentiment"]
    assert chart["spikes"] == [chart["times"][-1]]
    conv = client.get("/conversations/m:1")
    assert 'data-src="/temperature/chart?dimension=conversation&amp;value=m%3A1' in conv.text
