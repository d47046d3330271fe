from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from tests.normalise.test_mastodon import recorded_statuses
from tests.sources.conftest import collect
from tests.sources.fake_http import Drop, FakeHttp, Request, Response, running
from veille.config import MastodonInstance
from veille.model import RawItem
from veille.normalise.common import MappingError
from veille.normalise.mastodon import to_post
from veille.sources.health import HealthRegistry
from veille.sources.mastodon import MastodonSource, parse_stream

pytestmark = pytest.mark.integration

BASE_ID = 117_020_000_000_000_000


@dataclass
class FakeInstance:
    """A Mastodon timeline that grows while the test runs, served over REST and SSE."""

    timeline: list[bytes]
    published: int = 100
    missed_per_connection: int = 40
    """Statuses published while the client was away: only REST can deliver them."""
    chaos: list[str] = field(default_factory=list)
    """Mishaps, one per stream that gets 150 events out, in order."""
    rest_chaos: dict[int, Response] = field(default_factory=dict)
    connections: int = 0
    rest_calls: int = 0
    base: str = ""

    def ids(self) -> list[int]:
        return [BASE_ID + i for i in range(len(self.timeline))]

    async def handle(self, request: Request) -> Response:
        if request.path == "/api/v2/instance":
            body = {"configuration": {"urls": {"streaming": self.base.replace("http", "ws")}}}
            return Response(body=orjson.dumps(body), headers={"content-type": "application/json"})
        if request.path == "/api/v1/timelines/public":
            self.rest_calls += 1
            if self.rest_calls in self.rest_chaos:
                return self.rest_chaos[self.rest_calls]
            assert request.query.get("local") == "true"
            limit = int(request.query["limit"])
            visible = list(range(self.published))
            if "min_id" in request.query:
                after = int(request.query["min_id"]) - BASE_ID
                page = [i for i in visible if i > after][:limit]
            else:
                page = visible[-limit:]
            body = b"[" + b",".join(self.timeline[i] for i in reversed(page)) + b"]"
            return Response(body=body, headers={"content-type": "application/json"})
        if request.path == "/api/v1/streaming/public/local":
            self.connections += 1
            self.published = min(len(self.timeline), self.published + self.missed_per_connection)
            return Response(body=self.events(), headers={"content-type": "text/event-stream"})
        return Response(status=404)

    async def events(self) -> AsyncIterator[bytes]:
        yield b":)\n\n"
        sent = 0
        chaos = ""
        while self.published < len(self.timeline):
            index = self.published
            self.published += 1
            yield b"event: update\ndata: " + self.timeline[index] + b"\n\n"
            sent += 1
            if sent == 150 and self.chaos:
                chaos = self.chaos.pop(0)
            if index % 97 == 0:
                yield b"event: delete\ndata: %d\n\n" % (BASE_ID + index - 1)
            if index % 89 == 0:
                yield b"event: notification\ndata: {}\n\n"
            if sent == 150 and chaos == "drop":
                raise Drop
            if sent == 150 and chaos == "stall":
                await asyncio.sleep(1.0)
                raise Drop
            if sent == 150 and chaos == "malformed":
                yield b"event: update\ndata: {not json\n\n"
            if sent == 150 and chaos == "end":
                return
            if sent % 20 == 0:
                await asyncio.sleep(0.001)
        for _ in range(20):
            yield b":thump\n\n"
            await asyncio.sleep(0.05)


def synthetic_timeline(shared_data: Path, size: int) -> list[bytes]:
    templates = [s for s in recorded_statuses(shared_data) if not s.get("reblog")]
    out = []
    for i in range(size):
        status = dict(templates[i % len(templates)], id=str(BASE_ID + i))
        # each status has its own canonical uri, as on a real instance
        status["uri"] = f"https://m.example/users/a/statuses/{BASE_ID + i}"
        status["url"] = f"https://m.example/@a/{BASE_ID + i}"
        status["in_reply_to_id"] = str(BASE_ID + i - 1) if i % 5 == 4 else None
        out.append(orjson.dumps(status))
    return out


def settings(url: str, **extra: object) -> MastodonInstance:
    values: dict[str, object] = {
        "url": url,
        "timeout": 0.3,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "batch_size": 100,
        "batch_delay": 0.02,
        "poll_interval": 0.05,
    }
    values.update(extra)
    return MastodonInstance.model_validate(values)


def updates(items: list[RawItem]) -> tuple[list[str], int, int]:
    ids: list[str] = []
    deletes = bad = 0
    for item in items:
        try:
            posts = to_post(item)
        except MappingError:
            bad += 1
            continue
        for post in posts:
            if post.deleted:
                deletes += 1
            else:
                ids.append(post.native_id)
    return ids, deletes, bad


async def test_streams_and_catches_up_through_drops_stalls_429_500_and_bad_frames(
    shared_data: Path,
) -> None:
    timeline = synthetic_timeline(shared_data, 3000)
    fake = FakeInstance(
        timeline,
        chaos=["drop", "stall", "end", "drop", "malformed"],
        rest_chaos={
            3: Response(status=429, headers={"retry-after": "0"}),
            6: Response(status=500),
            7: Response(status=503, headers={"retry-after": "0"}),
        },
    )
    server = FakeHttp(fake.handle)
    registry = HealthRegistry()
    async with running(server):
        fake.base = server.url
        source = MastodonSource(settings(server.url), registry=registry)
        host = server.url.removeprefix("http://")
        want = {f"{host}/{BASE_ID + i}" for i in range(len(timeline))}

        got: set[str] = set()
        checked = 0

        def done(items: list[RawItem]) -> bool:
            nonlocal checked
            got.update(updates(items[checked:])[0])
            checked = len(items)
            return want <= got

        # the first run starts from the newest page; resume it from the first status instead
        items, cursors = await collect(
            source.stream(orjson.dumps({"public:local": str(BASE_ID - 1)}).decode()),
            done,
            limit=60,
        )
    ids, deletes, bad = updates(items)
    assert [k for k, n in Counter(ids).items() if n > 1] == []
    assert set(ids) == want
    assert bad == 1
    assert deletes > 20
    assert fake.chaos == []
    assert fake.connections >= 6
    health = registry.report()[0]
    assert health.gaps == []
    assert orjson.loads(cursors[-1] or "{}") == {"public:local": str(BASE_ID + 2999)}


async def test_polls_when_streaming_is_refused_and_records_a_gap_past_the_catchup_limit(
    shared_data: Path,
) -> None:
    timeline = synthetic_timeline(shared_data, 400)
    fake = FakeInstance(timeline, published=400)

    async def refuse_streaming(request: Request) -> Response:
        if request.path.startswith("/api/v1/streaming"):
            return Response(status=401)
        return await fake.handle(request)

    server = FakeHttp(refuse_streaming)
    registry = HealthRegistry()
    async with running(server):
        fake.base = server.url
        source = MastodonSource(settings(server.url, max_catchup_pages=3), registry=registry)
        cursor = orjson.dumps({"public:local": str(BASE_ID)}).decode()
        items, _ = await collect(source.stream(cursor), lambda items: len(items) >= 120)
        assert source.polling == {"public:local"}
        await asyncio.sleep(0)
    ids, _, _ = updates(items)
    assert len(ids) == 120
    assert "gap" not in registry.report()[0].detail
    gaps = registry.report()[0].gaps
    assert len(gaps) == 1
    assert "more than 3 pages" in gaps[0].reason


def test_stream_names() -> None:
    assert parse_stream("hashtag:local:police").rest_path == "/api/v1/timelines/tag/police"
    assert parse_stream("list:12").params == (("list", "12"),)
    with pytest.raises(ValueError, match="unknown Mastodon stream"):
        parse_stream("home")


async def test_a_status_federated_to_several_instances_is_one_post(shared_data: Path) -> None:
    """Two instances serve the recorded statuses under their own local ids: one post each."""
    statuses = {
        str(s["uri"]): s
        for s in recorded_statuses(shared_data)
        if s.get("uri") and not s.get("reblog")
    }
    assert len(statuses) >= 10
    served = {}

    def instance(offset: int) -> FakeHttp:
        page = [
            orjson.dumps(dict(status, id=str(BASE_ID + offset + i)))
            for i, status in enumerate(statuses.values())
        ][:40]

        async def handle(request: Request) -> Response:
            if request.path != "/api/v1/timelines/public":
                return Response(status=404)
            served[offset] = served.get(offset, 0) + 1
            body = b"[]" if "min_id" in request.query else b"[" + b",".join(reversed(page)) + b"]"
            return Response(body=body, headers={"content-type": "application/json"})

        return FakeHttp(handle)

    from veille.sources.live import RecentKeys

    shared = RecentKeys()
    registry = HealthRegistry()
    items: list[RawItem] = []

    async def consume(source: MastodonSource) -> None:
        async for batch in source.stream(None):
            items.extend(batch.items)

    async with running(instance(0)) as one, running(instance(5000)) as two:
        sources = [
            MastodonSource(settings(server.url, streaming=False), registry=registry, shared=shared)
            for server in (one, two)
        ]
        tasks = [asyncio.create_task(consume(s)) for s in sources]
        for _ in range(200):
            if served.get(0, 0) >= 2 and served.get(5000, 0) >= 2:
                break
            await asyncio.sleep(0.02)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    uris = [orjson.loads(i.payload)["data"]["uri"] for i in items]
    assert sorted(uris) == sorted(list(statuses)[:40])  # each status once, whichever instance
    assert {i.source for i in items} <= {s.name for s in sources}
