"""The X filtered stream against a local fake X replaying the recorded v2 payloads."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.normalise.test_x import stream_frames
from tests.sources.conftest import collect
from tests.sources.fake_http import Drop, FakeHttp, Request, Response, running
from veille.config import XSettings
from veille.model import RawItem
from veille.normalise.common import MappingError
from veille.normalise.x import to_post
from veille.sources.health import HealthRegistry
from veille.sources.x import StreamRule, XSource, sync_rules

pytestmark = pytest.mark.integration

BASE_ID = 1_800_000_000_000_000_000
TOKEN = "test-bearer"


@dataclass
class FakeX:
    """A filtered stream that keeps publishing while the client is away."""

    timeline: list[bytes]
    published: int = 0
    missed_per_connection: int = 25
    overlap: int = 5
    chaos: list[str] = field(default_factory=list)
    refuse_backfill: bool = False
    connections: list[Request] = field(default_factory=list)
    sent_to: int = 0

    async def handle(self, request: Request) -> Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        if request.path != "/2/tweets/search/stream":
            return Response(status=404)
        self.connections.append(request)
        backfill = "backfill_minutes" in request.query
        if backfill and self.refuse_backfill:
            body = b'{"errors":[{"message":"backfill_minutes is not available"}]}'
            return Response(status=403, body=body)
        mishap = self.chaos.pop(0) if self.chaos else ""
        if mishap == "429":
            reset = str(int(time.time()) + 1)
            return Response(status=429, headers={"x-rate-limit-reset": reset})
        if mishap == "500":
            return Response(status=503)
        start = self.sent_to
        if len(self.connections) > 1:
            self.published = min(len(self.timeline), self.published + self.missed_per_connection)
            start = max(0, self.sent_to - self.overlap) if backfill else self.published
        return Response(body=self.frames(start, mishap))

    async def frames(self, start: int, mishap: str) -> AsyncIterator[bytes]:
        yield b"\r\n"
        index, sent = start, 0
        while index < len(self.timeline):
            yield self.timeline[index] + b"\r\n"
            index += 1
            sent += 1
            self.sent_to = max(self.sent_to, index)
            self.published = max(self.published, index)
            if sent % 40 == 0:
                yield b"\r\n"  # keep-alive
                await asyncio.sleep(0.001)
            if sent == 120 and mishap == "drop":
                raise Drop
            if sent == 120 and mishap == "stall":
                await asyncio.sleep(2.0)
                raise Drop
            if sent == 120 and mishap == "malformed":
                yield b'{"data": {"author_id": "1021159080151404544"\r\n'
            if sent == 120 and mishap == "operational":
                yield b'{"errors":[{"title":"operational-disconnect","disconnect_type":"x"}]}\r\n'
        for _ in range(40):
            yield b"\r\n"
            await asyncio.sleep(0.05)


@functools.cache
def templates(shared_data: Path) -> list[tuple[dict[str, object], list[object]]]:
    """Each recorded tweet with only its author among the included users."""
    out = []
    for raw in stream_frames(shared_data):
        frame = orjson.loads(raw)
        tweet = frame["data"]
        users = [u for u in frame["includes"].get("users", []) if u["id"] == tweet.get("author_id")]
        out.append((tweet, users))
    return out


def timeline(shared_data: Path, size: int) -> list[bytes]:
    recorded = templates(shared_data)
    out = []
    for i in range(size):
        tweet, users = recorded[i % len(recorded)]
        tweet = dict(tweet, id=str(BASE_ID + i), edit_history_tweet_ids=[str(BASE_ID + i)])
        out.append(orjson.dumps({"data": tweet, "includes": {"users": users}}))
    return out


def x_settings(url: str, **extra: object) -> XSettings:
    values: dict[str, object] = {
        "enabled": True,
        "api_url": url,
        "timeout": 2.0,
        "keepalive_timeout": 0.5,
        "network_backoff": 0.01,
        "network_backoff_max": 0.05,
        "http_backoff": 0.01,
        "http_backoff_max": 0.05,
        "rate_limit_backoff": 0.02,
        "batch_size": 200,
        "batch_delay": 0.02,
        "backfill_minutes": 2,
    }
    values.update(extra)
    return XSettings.model_validate(values)


def tweet_ids(items: list[RawItem]) -> tuple[list[str], int]:
    ids: list[str] = []
    bad = 0
    for item in items:
        try:
            posts = to_post(item)
        except MappingError:
            bad += 1
            continue
        ids += [p.native_id for p in posts if p.native_id.startswith("18")]
    return ids, bad


@pytest.fixture(autouse=True)
def bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_X_BEARER_TOKEN", TOKEN)


async def test_streams_through_drops_stalls_429_500_and_bad_frames_without_gap_or_duplicate(
    shared_data: Path,
) -> None:
    size = 3000
    chaos = ["drop", "429", "stall", "500", "malformed", "operational", "drop"]
    fake = FakeX(timeline(shared_data, size), chaos=list(chaos))
    registry = HealthRegistry()
    async with running(FakeHttp(fake.handle)) as server:
        source = XSource(x_settings(server.url), registry=registry)
        items, cursors = await collect(
            source.stream(None), lambda got: len(got) >= size + 1, limit=60
        )
    ids, bad = tweet_ids(items)
    assert len(ids) == size
    assert Counter(ids).most_common(1)[0][1] == 1  # no duplicate
    assert set(ids) == {str(BASE_ID + i) for i in range(size)}  # no gap
    assert bad == 1  # the malformed frame, handed over to be quarantined
    health = registry.report()[0]
    assert health.gaps == []
    assert "operational-disconnect" in health.last_error or health.last_error
    assert all("backfill_minutes" in r.query for r in fake.connections[1:])
    assert "backfill_minutes" not in fake.connections[0].query
    assert orjson.loads(cursors[-1] or "{}")["id"].startswith("18")


async def test_without_backfill_each_disconnect_is_a_recorded_gap(shared_data: Path) -> None:
    fake = FakeX(timeline(shared_data, 600), chaos=["drop", "drop"], refuse_backfill=True)
    registry = HealthRegistry()
    async with running(FakeHttp(fake.handle)) as server:
        source = XSource(x_settings(server.url), registry=registry)
        items, _ = await collect(
            source.stream(None), lambda got: len(got) >= 600 - 2 * 25, limit=30
        )
    ids, _ = tweet_ids(items)
    assert len(ids) == len(set(ids)) == 550  # 2 × 25 published while away are missing
    assert source.backfill == 0
    gaps = registry.report()[0].gaps
    assert len(gaps) == 2
    assert all("disconnected" in g.reason for g in gaps)


async def test_a_restart_backfills_what_it_can_and_records_the_rest(shared_data: Path) -> None:
    fake = FakeX(timeline(shared_data, 50))
    registry = HealthRegistry()
    away = datetime.now(UTC) - timedelta(minutes=10)
    cursor = orjson.dumps({"id": "1", "at": away.isoformat()}).decode()
    async with running(FakeHttp(fake.handle)) as server:
        source = XSource(x_settings(server.url, backfill_minutes=5), registry=registry)
        await collect(source.stream(cursor), lambda got: len(got) >= 50)
    assert fake.connections[0].query["backfill_minutes"] == "5"
    (gap,) = registry.report()[0].gaps
    assert gap.start == away
    assert timedelta(minutes=4) < datetime.now(UTC) - gap.end < timedelta(minutes=6)


async def test_rules_are_synchronised_leaving_foreign_rules_alone() -> None:
    existing = [
        {"id": "1", "value": "old OR rule", "tag": "veille:gone"},
        {"id": "2", "value": "police OR #police", "tag": "veille:a"},
        {"id": "3", "value": "someone else's", "tag": "marketing"},
    ]
    posted: list[Request] = []

    async def handle(request: Request) -> Response:
        if request.method == "GET":
            return Response(body=orjson.dumps({"data": existing, "meta": {"result_count": 3}}))
        posted.append(request)
        body = orjson.loads(request.body)
        if "add" in body:
            bad = body["add"][1]["value"]
            errors = [{"value": bad, "title": "Invalid Rule", "details": ["unbalanced"]}]
            return Response(status=200, body=orjson.dumps({"errors": errors, "meta": {}}))
        return Response(body=b'{"meta":{"summary":{"deleted":1}}}')

    desired = [
        StreamRule("police OR #police", "veille:a"),
        StreamRule("gare OR #gare", "veille:b"),
        StreamRule("((", "veille:c"),
    ]
    async with running(FakeHttp(handle)) as server:
        source = XSource(x_settings(server.url), rules=lambda: desired)
        result = await source.sync(dry_run=True)
        import httpx

        async with httpx.AsyncClient() as http:
            again = await sync_rules(http, server.url, desired[:1], "veille:", dry_run=False)
    assert [r.id for r in result.deleted] == ["1"]
    assert [r.tag for r in result.added] == ["veille:b"]
    assert result.kept == 1
    assert result.dry_run
    assert result.errors == ["Invalid Rule: ['unbalanced']"]
    assert all(r.query.get("dry_run") == "true" for r in posted[:2])
    assert orjson.loads(posted[0].body) == {"delete": {"ids": ["1"]}}
    assert again.added == []
    assert [r.id for r in again.deleted] == ["1"]
    assert "dry_run" not in posted[2].query


async def test_without_a_token_the_source_says_so_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from veille.sources.live import SourceError

    monkeypatch.delenv("VEILLE_X_BEARER_TOKEN")
    registry = HealthRegistry()
    source = XSource(x_settings("http://127.0.0.1:9"), registry=registry)
    with pytest.raises(SourceError, match="VEILLE_X_BEARER_TOKEN is not set"):
        await collect(source.stream(None), lambda got: True)
    health = registry.report()[0]
    assert health.state.value == "failing"
    assert health.detail == "gave up"
