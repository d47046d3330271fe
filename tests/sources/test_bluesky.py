from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.sources.conftest import collect
from tests.sources.fake_jetstream import Chaos, FakeJetstream, running
from veille.config import BlueskySettings
from veille.model import RawItem
from veille.normalise.bluesky import to_post
from veille.normalise.common import MappingError
from veille.sources.bluesky import BlueskySource
from veille.sources.health import HealthRegistry, State

pytestmark = pytest.mark.integration


def synthetic_stream(shared_data: Path, copies: int) -> list[bytes]:
    """The recorded relay window, repeated with fresh record keys and later times."""
    path = shared_data / "fixtures" / "bluesky-jetstream" / "relay-window" / "expected_v1.jsonl"
    recorded = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    recorded.sort(key=lambda e: e["time_us"])
    span = recorded[-1]["time_us"] - recorded[0]["time_us"] + 1000
    out: list[bytes] = []
    for copy in range(copies):
        for event in recorded:
            event = dict(event, time_us=event["time_us"] + copy * span)
            if "commit" in event:
                event["commit"] = dict(event["commit"], rkey=f"{event['commit']['rkey']}{copy}")
            out.append(orjson.dumps(event))
    return out


def expected_ids(events: list[bytes]) -> set[str]:
    ids = set()
    for line in events:
        event = orjson.loads(line)
        commit = event.get("commit") or {}
        if commit.get("collection") == "app.bsky.feed.post":
            ids.add(f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}")
    return ids


def settings(*hosts: str, **extra: object) -> BlueskySettings:
    values: dict[str, object] = {
        "hosts": list(hosts),
        "timeout": 0.5,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "batch_size": 50,
        "batch_delay": 0.02,
    }
    values.update(extra)
    return BlueskySettings.model_validate(values)


def post_ids(items: list[RawItem]) -> tuple[list[str], int]:
    ids: list[str] = []
    bad = 0
    for item in items:
        try:
            ids.append(to_post(item).native_id)
        except MappingError:
            bad += 1
    return ids, bad


async def test_replays_every_post_through_drops_stalls_and_malformed_frames(
    shared_data: Path,
) -> None:
    events = synthetic_stream(shared_data, copies=150)  # 22,800 events, 2,700 post commits
    want = expected_ids(events)
    fake = FakeJetstream(
        events,
        chaos={
            1: Chaos(after=400, action="drop"),
            2: Chaos(after=500, action="stall"),
            3: Chaos(after=450, action="close"),
            4: Chaos(after=600, action="drop"),
            5: Chaos(after=300, action="malformed"),
        },
    )
    registry = HealthRegistry()
    async with running(fake):
        source = BlueskySource(settings(fake.url), registry=registry)

        def done(items: list[RawItem]) -> bool:
            return len(items) >= len(want) + 1

        items, cursors = await collect(source.stream(None), done, limit=60)
    ids, bad = post_ids(items)
    assert bad == 1  # the malformed frame, handed over for quarantine
    duplicates = [k for k, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    assert set(ids) == want
    assert fake.connections == 5
    assert all(q["wantedCollections"] == ["app.bsky.feed.post"] for q in fake.queries)
    assert all("cursor" in q for q in fake.queries[1:])
    health = registry.report()[0]
    assert health.gaps == []
    assert health.state is State.CONNECTED
    assert "TimeoutError" in health.last_error or "Connection" in health.last_error
    served = [orjson.loads(e) for e in events]
    newest = max(
        e["time_us"]
        for e in served
        if (e.get("commit") or {}).get("collection", "app.bsky.feed.post") == "app.bsky.feed.post"
    )
    assert cursors[-1] == str(newest)


async def test_resumes_from_a_committed_cursor_and_fails_over_to_the_next_host(
    shared_data: Path,
) -> None:
    events = synthetic_stream(shared_data, copies=4)
    fake = FakeJetstream(events)
    times = fake.times()
    cursor = times[len(times) // 2]
    want = expected_ids([e for e, t in zip(events, times, strict=True) if t > cursor])
    async with running(fake):
        source = BlueskySource(
            settings("ws://127.0.0.1:9/subscribe", fake.url), registry=HealthRegistry()
        )
        items, _ = await collect(
            source.stream(str(cursor)), lambda items: want <= set(post_ids(items)[0])
        )
    assert source.host == fake.url
    # rewinding a few seconds replays a little before the cursor: harmless overlap, no loss
    assert want <= set(post_ids(items)[0])
    assert int(fake.queries[0]["cursor"][0]) == cursor - 3_000_000


async def test_a_replay_that_cannot_reach_the_cursor_is_recorded_as_a_gap(
    shared_data: Path,
) -> None:
    events = synthetic_stream(shared_data, copies=3)
    fake = FakeJetstream(events, oldest_index=300)
    times = fake.times()
    registry = HealthRegistry()
    async with running(fake):
        source = BlueskySource(
            settings(fake.url, gap_seconds=0.1, rewind_seconds=0), registry=registry
        )
        await collect(source.stream(str(times[10])), lambda items: len(items) > 5)
    gaps = registry.report()[0].gaps
    assert len(gaps) == 1
    assert gaps[0].start.timestamp() == pytest.approx(times[10] / 1e6)
    assert gaps[0].end.timestamp() == pytest.approx(times[300] / 1e6)


async def test_bad_cursor_is_refused() -> None:
    source = BlueskySource(settings("ws://127.0.0.1:9/"), registry=HealthRegistry())
    with pytest.raises(ValueError, match="microseconds"):
        async for _ in source.stream("yesterday"):
            pass
