from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.normalise.test_reddit import recorded_things
from tests.sources.conftest import collect
from tests.sources.fake_http import FakeHttp, Request, Response, running
from veille.config import RedditSettings
from veille.normalise.reddit import to_post
from veille.sources.health import HealthRegistry
from veille.sources.reddit import RedditSource, id_number

pytestmark = pytest.mark.integration


@dataclass
class FakeReddit:
    """Subreddit listings that grow by ``per_poll`` items at every newest-page request."""

    items: dict[str, list[dict[str, Any]]]
    visible: dict[str, int]
    per_poll: int = 37
    chaos: dict[int, Response] = field(default_factory=dict)
    calls: int = 0
    tokens: int = 0
    call_times: list[float] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        if request.path == "/api/v1/access_token":
            assert request.headers["authorization"].startswith("Basic ")
            assert b"grant_type=client_credentials" in request.body
            self.tokens += 1
            return Response(body=b'{"access_token": "t%d", "expires_in": 3600}' % self.tokens)
        assert request.headers["authorization"].startswith("bearer t")
        assert request.path.startswith("/r/belgium+brussels/")
        listing = request.path.rsplit("/", 1)[-1]
        self.calls += 1
        self.call_times.append(time.monotonic())
        if self.calls in self.chaos:
            return self.chaos[self.calls]
        every = self.items[listing]
        if "after" not in request.query:
            self.visible[listing] = min(len(every), self.visible[listing] + self.per_poll)
        shown = list(reversed(every[: self.visible[listing]]))  # newest first
        start = 0
        if "after" in request.query:
            names = [f"{t['kind']}_{t['data']['id']}" for t in shown]
            start = names.index(request.query["after"]) + 1
        page = shown[start : start + int(request.query["limit"])]
        after = f"{page[-1]['kind']}_{page[-1]['data']['id']}" if page else None
        body = {"kind": "Listing", "data": {"children": page, "after": after, "before": None}}
        headers = {
            "x-ratelimit-remaining": "590",
            "x-ratelimit-used": "10",
            "x-ratelimit-reset": "300",
        }
        return Response(body=orjson.dumps(body), headers=headers)


def listings(shared_data: Path) -> dict[str, list[dict[str, Any]]]:
    recorded = recorded_things(shared_data)
    out: dict[str, list[dict[str, Any]]] = {"new": [], "comments": []}
    seen: set[str] = set()
    for thing in recorded:
        name = f"{thing['kind']}_{thing['data']['id']}"
        if name not in seen:
            seen.add(name)
            out["new" if thing["kind"] == "t3" else "comments"].append(thing)
    for things in out.values():
        things.sort(key=lambda t: id_number(t["data"]["id"]))
    return out


def settings(url: str, **extra: object) -> RedditSettings:
    values: dict[str, object] = {
        "enabled": True,
        "api_url": url,
        "token_url": f"{url}/api/v1/access_token",
        "timeout": 0.5,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "poll_interval": 0.01,
        "batch_delay": 0.02,
        "max_pages": 3,
    }
    values.update(extra)
    return RedditSettings.model_validate(values)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_REDDIT_CLIENT_ID", "id")
    monkeypatch.setenv("VEILLE_REDDIT_CLIENT_SECRET", "secret")


async def test_polls_every_item_once_through_429_500_401_and_a_spent_budget(
    shared_data: Path, credentials: None
) -> None:
    data = listings(shared_data)
    want = {f"{t['kind']}_{t['data']['id']}" for things in data.values() for t in things}
    fake = FakeReddit(
        data,
        visible={"new": 0, "comments": 0},
        chaos={
            3: Response(status=429, headers={"retry-after": "0.2"}),
            5: Response(status=500),
            7: Response(status=401),
            9: Response(
                status=200,
                body=b'{"kind": "Listing", "data": {"children": [], "after": null}}',
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0.3"},
            ),
        },
    )
    server = FakeHttp(fake.handle)
    registry = HealthRegistry()
    async with running(server):
        source = RedditSource(settings(server.url), registry=registry)
        cursor = orjson.dumps({"new": "0", "comments": "0"}).decode()
        items, cursors = await collect(
            source.stream(cursor), lambda items: len(items) >= len(want), limit=60
        )
    ids = [to_post(item).native_id for item in items]
    assert [k for k, n in Counter(ids).items() if n > 1] == []
    assert set(ids) == want
    assert fake.tokens == 2  # the 401 made it fetch a new token
    assert fake.call_times[3] - fake.call_times[2] >= 0.2  # Retry-After obeyed
    assert fake.call_times[9] - fake.call_times[8] >= 0.25  # spent budget waited for reset
    assert registry.report()[0].gaps == []
    last = orjson.loads(cursors[-1] or "{}")
    assert last["new"] == data["new"][-1]["data"]["id"]


async def test_more_new_items_than_the_page_limit_records_a_gap(
    shared_data: Path, credentials: None
) -> None:
    data = listings(shared_data)
    fake = FakeReddit(data, visible={"new": 0, "comments": 0}, per_poll=1000)
    server = FakeHttp(fake.handle)
    registry = HealthRegistry()
    async with running(server):
        source = RedditSource(settings(server.url, max_pages=1, comments=False), registry=registry)
        cursor = orjson.dumps({"new": "0"}).decode()
        await collect(source.stream(cursor), lambda items: len(items) >= 100)
    assert len(registry.report()[0].gaps) >= 1


async def test_missing_credentials_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEILLE_REDDIT_CLIENT_ID", raising=False)
    registry = HealthRegistry()
    source = RedditSource(settings("http://127.0.0.1:9"), registry=registry)
    stream = source.stream(None)
    with pytest.raises(TimeoutError):
        await collect(stream, lambda items: True, limit=0.3)
    assert "VEILLE_REDDIT_CLIENT_ID" in registry.report()[0].last_error
