import gzip
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from veille.demo import DEMO_STREAM, DemoSource, demo_items
from veille.demo.generate import INCIDENTS, generate, write
from veille.normalise.generic import map_generic
from veille.testing import FakeClock


def test_shipped_stream_is_what_the_generator_writes(tmp_path: Path) -> None:
    again = tmp_path / "stream.jsonl.gz"
    write(again)
    assert again.read_bytes() == DEMO_STREAM.read_bytes()


def test_stream_is_four_languages_with_threads_and_incidents() -> None:
    posts = list(generate())
    assert len(posts) == 3000
    assert {p["lang"] for p in posts} == {"fr", "nl", "de", "en"}
    ids = {p["id"] for p in posts}
    replies = [p for p in posts if "reply_to" in p]
    assert len(replies) > 300
    assert all(p["reply_to"] in ids and p["root_id"] in ids for p in replies)
    times = [p["created_at"] for p in posts]
    assert times == sorted(times)
    assert sum(1 for p in posts if "#" in p["text"]) > 300
    roots = {i.root.split("{")[0][:30] for i in INCIDENTS}
    assert sum(any(p["text"].startswith(r) for p in posts) for r in roots) == len(INCIDENTS)


def test_every_demo_post_maps() -> None:
    items = demo_items()
    assert len(items) == 3000
    assert all(map_generic(item).platform == "demo" for item in items)


async def test_demo_source_ends_now() -> None:
    clock = FakeClock(datetime(2030, 6, 1, 12, tzinfo=UTC))
    source = DemoSource(rate=None, clock=clock)
    batches = [b async for b in source.stream(None)]
    posts = [msgspec.json.decode(i.payload) for b in batches for i in b.items]
    assert len(posts) == 3000
    assert max(p["created_at"] for p in posts) == "2030-06-01T12:00:00+00:00"
    with gzip.open(DEMO_STREAM) as f:
        first = msgspec.json.decode(f.readline())
    assert posts[0]["text"] == first["text"]
