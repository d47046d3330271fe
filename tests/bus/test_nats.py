"""The NATS JetStream bus: routing (pure), and publishing, deduplication and resuming against a
real ``nats-server -js`` on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import msgspec
import nats
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.bus.ingest import Ingester
from veille.bus.nats import (
    BusError,
    BusSource,
    Publisher,
    connect,
    ensure_stream,
    parse_partition,
    route,
)
from veille.config import BusSettings
from veille.model import Quarantined, RawItem
from veille.sources.base import Batch
from veille.testing import NatsServer

AT = datetime(2026, 1, 1, tzinfo=UTC)


def item(native_id: str, text: str = "hello", **fields: str) -> RawItem:
    payload = msgspec.json.encode({"id": native_id, "text": text, **fields})
    return RawItem(source="test", platform="generic", payload=payload, received_at=AT)


# -- routing ---------------------------------------------------------------------------------


def test_a_conversation_goes_to_one_partition() -> None:
    for partitions in (2, 3, 7):
        root = route(item("r1"), partitions).partition
        assert route(item("a", reply_to="r1"), partitions).partition == root
        assert route(item("b", reply_to="a", root_id="r1"), partitions).partition == root


def test_posts_spread_over_the_partitions() -> None:
    counts = [0, 0, 0]
    for n in range(3000):
        counts[route(item(f"p{n}"), 3).partition] += 1
    assert min(counts) > 800


def test_message_id_names_the_post_and_changes_with_an_edit() -> None:
    first = route(item("p1", "hello"), 2)
    assert first.msg_id.startswith("generic:p1:")
    assert route(item("p1", "hello"), 2) == first
    assert route(item("p1", "hello, edited"), 2).msg_id != first.msg_id


def test_unsafe_native_ids_are_hashed_in_the_header() -> None:
    routed = route(item("a\r\nNats-Expected-Stream: X"), 2)
    assert "\r" not in routed.msg_id
    assert "\n" not in routed.msg_id
    assert routed.msg_id.startswith("generic:#")


def test_an_unmappable_payload_is_routed_by_its_digest() -> None:
    bad = RawItem(source="test", platform="generic", payload=b"{not json", received_at=AT)
    routed = route(bad, 4)
    assert routed.msg_id.startswith("generic:#")
    assert routed == route(bad, 4)


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
def test_partition_is_in_range_and_stable(native_id: str, partitions: int) -> None:
    routed = route(item(native_id), partitions)
    assert 0 <= routed.partition < partitions
    assert route(item(native_id), partitions) == routed
    assert routed.msg_id.isascii()
    assert routed.msg_id.isprintable()


@pytest.mark.parametrize("text", ["0", "0/0", "2/2", "a/2", "1-2", "-1/2", ""])
def test_bad_partition_arguments_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="partition"):
        parse_partition(text)


def test_partition_argument() -> None:
    assert parse_partition("1/4") == (1, 4)


# -- against a server ------------------------------------------------------------------------


def settings_for(server: NatsServer, **overrides: object) -> BusSettings:
    return BusSettings(url=server.url, **overrides)  # type: ignore[arg-type]


async def publish(settings: BusSettings, items: Sequence[RawItem]) -> Publisher:
    client = await connect(settings)
    try:
        await ensure_stream(client.jetstream(), settings)
        publisher = Publisher(client, settings)
        assert await publisher.send("test", items) == []
        return publisher
    finally:
        await client.close()


async def read(source: BusSource, cursor: str | None, want: int) -> list[Batch]:
    """Batches from ``cursor`` until ``want`` items (and rejects) arrived."""
    batches: list[Batch] = []
    got = 0

    async def collect(stream: AsyncIterator[Batch]) -> None:
        nonlocal got
        async for batch in stream:
            batches.append(batch)
            got += len(batch.items) + len(batch.rejected)
            if got >= want:
                source.close()

    await asyncio.wait_for(collect(source.stream(cursor)), 30)
    return batches


def ids(batches: Sequence[Batch]) -> list[str]:
    return [msgspec.json.decode(i.payload)["id"] for b in batches for i in b.items]


@pytest.mark.nats
async def test_republished_items_are_dropped_by_message_id(nats_server: NatsServer) -> None:
    settings = settings_for(nats_server)
    items = [item(f"p{n}") for n in range(200)]
    first = await publish(settings, items)
    assert (first.published, first.duplicates) == (200, 0)
    again = await publish(settings, [*items, item("p0", "edited")])
    assert (again.published, again.duplicates) == (201, 200)
    client = await nats.connect(nats_server.url)
    info = await client.jetstream().stream_info(settings.stream)
    await client.close()
    assert info.state.messages == 201


@pytest.mark.nats
async def test_a_worker_resumes_after_its_cursor(nats_server: NatsServer) -> None:
    settings = settings_for(nats_server, partitions=2, fetch_batch=7)
    items = [item(f"p{n}", root_id=f"r{n % 10}") for n in range(100)]
    await publish(settings, items)
    parts = [route(i, 2).partition for i in items]
    expected = [[f"p{n}" for n in range(100) if parts[n] == partition] for partition in range(2)]
    assert all(expected)

    everything = await read(BusSource(settings, 0), None, len(expected[0]))
    assert ids(everything) == expected[0]
    assert all(len(b.items) <= 7 for b in everything)
    sequences = [int(b.cursor or 0) for b in everything]
    assert sequences == sorted(sequences)

    # Resume from the cursor of the second batch: exactly the items after it, in order.
    cursor = everything[1].cursor
    rest = await read(BusSource(settings, 0), cursor, len(expected[0]) - 14)
    assert ids(rest) == expected[0][14:]

    other = await read(BusSource(settings, 1), None, len(expected[1]))
    assert ids(other) == expected[1]


@pytest.mark.nats
async def test_a_foreign_message_is_quarantined_and_the_cursor_moves_on(
    nats_server: NatsServer,
) -> None:
    settings = settings_for(nats_server, partitions=1)
    await publish(settings, [item("p1")])
    client = await nats.connect(nats_server.url)
    await client.jetstream().publish("veille.raw.0", b"not a raw item")
    await client.close()
    await publish(settings, [item("p2")])
    batches = await read(BusSource(settings, 0), None, 3)
    assert ids(batches) == ["p1", "p2"]
    rejected = [r for b in batches for r in b.rejected]
    assert len(rejected) == 1
    assert "stream sequence 2" in rejected[0].error
    assert rejected[0].payload == b"not a raw item"
    assert batches[-1].cursor == "3"


@pytest.mark.nats
async def test_an_item_too_large_for_the_bus_is_quarantined(nats_server: NatsServer) -> None:
    settings = settings_for(nats_server, max_msg_bytes=2048)
    client = await connect(settings)
    js = client.jetstream()
    await ensure_stream(js, settings)
    rejected = await Publisher(client, settings).send("test", [item("big", "x" * 5000), item("ok")])
    await client.close()
    assert len(rejected) == 1
    assert "over its limit of 2048 ([bus] max_msg_bytes" in rejected[0].error
    assert rejected[0].stage == "source"


@pytest.mark.nats
async def test_an_item_over_the_server_max_payload_is_quarantined_not_retried(
    nats_server: NatsServer,
) -> None:
    settings = settings_for(nats_server, max_msg_bytes=8 << 20)
    client = await connect(settings)
    await ensure_stream(client.jetstream(), settings)
    assert client.max_payload == 1 << 20  # nats-server's default
    publisher = Publisher(client, settings)
    rejected = await publisher.send("test", [item("big", "x" * (1 << 20)), item("ok")])
    await client.close()
    assert [r.error.split(":")[0] for r in rejected] == ["item"]
    assert f"over its limit of {1 << 20}" in rejected[0].error
    assert (publisher.published, publisher.retries) == (1, 0)


@pytest.mark.nats
async def test_the_stream_is_created_once_and_updated_idempotently(
    nats_server: NatsServer,
) -> None:
    settings = settings_for(nats_server)
    client = await connect(settings)
    js = client.jetstream()
    created = await ensure_stream(js, settings)
    again = await ensure_stream(js, settings.model_copy(update={"max_age_hours": 1.0}))
    assert again.config.max_age == 3600
    assert created.config.subjects == again.config.subjects == ["veille.raw.*"]
    with pytest.raises(BusError, match="partitions cannot change"):
        await ensure_stream(js, settings.model_copy(update={"partitions": 3}))
    await client.close()


@pytest.mark.nats
async def test_a_stream_created_after_the_lookup_is_taken_up(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker (or the server recovering its streams after a restart) creates the
    stream between this one's lookup and its create: the create is refused, the stream is
    looked up again and brought to this worker's limits."""
    settings = settings_for(nats_server)
    client = await connect(settings)
    js = client.jetstream()
    await ensure_stream(js, settings)  # the other worker, with other limits
    real_info = js.stream_info
    lookups = 0

    async def late_info(name: str) -> object:
        nonlocal lookups
        lookups += 1
        if lookups == 1:  # looked up just before the other worker created it
            raise nats.js.errors.NotFoundError
        return await real_info(name)

    monkeypatch.setattr(js, "stream_info", late_info)
    info = await ensure_stream(js, settings.model_copy(update={"max_age_hours": 2.0}))
    assert lookups == 2
    assert info.config.max_age == 7200
    await client.close()


@pytest.mark.nats
async def test_a_server_without_jetstream_is_named() -> None:
    with NatsServer(jetstream=False) as server:
        client = await connect(settings_for(server))
        with pytest.raises(BusError, match="JetStream is not enabled"):
            await ensure_stream(client.jetstream(), settings_for(server))
        await client.close()


async def test_an_unreachable_server_is_a_clear_error() -> None:
    from veille.testing import free_port

    settings = BusSettings(url=f"nats://127.0.0.1:{free_port()}", connect_timeout=0.5)
    with pytest.raises(BusError, match=r"cannot reach NATS at nats://127\.0\.0\.1"):
        await connect(settings)


class ListSource:
    """Batches from a list, with cursors "1", "2", …"""

    def __init__(self, batches: list[list[RawItem]]) -> None:
        self.name = "list"
        self.batches = batches

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        for n, items in enumerate(self.batches[int(cursor or 0) :], start=int(cursor or 0) + 1):
            yield Batch(items, str(n))


@pytest.mark.nats
async def test_the_ingester_saves_a_cursor_only_after_the_acks(nats_server: NatsServer) -> None:
    settings = settings_for(nats_server, partitions=1)
    client = await connect(settings)
    js = client.jetstream()
    await ensure_stream(js, settings)
    saved: list[tuple[str, str | None, int]] = []

    def save(name: str, cursor: str | None, quarantined: Sequence[Quarantined]) -> None:
        saved.append((name, cursor, len(quarantined)))

    source = ListSource([[item(f"p{b}-{n}") for n in range(50)] for b in range(4)])
    publisher = Publisher(client, settings)
    ingester = Ingester([source], publisher, save, {"list": "1"})
    stats = await ingester.run()
    await client.close()
    assert saved == [("list", "2", 0), ("list", "3", 0), ("list", "4", 0)]
    assert stats.received == publisher.published == 150
    batches = await read(BusSource(settings, 0), None, 150)
    assert ids(batches)[0] == "p1-0"


@pytest.mark.nats
async def test_publisher_and_worker_ride_out_a_server_restart(nats_server: NatsServer) -> None:
    settings = settings_for(nats_server, partitions=1, fetch_batch=10)
    source = BusSource(settings, 0)
    received: list[Batch] = []
    restarted = asyncio.Event()

    async def consume() -> None:
        async for batch in source.stream(None):
            received.append(batch)
            if sum(len(b.items) for b in received) >= 200:
                source.close()

    reading = asyncio.create_task(consume())
    client = await connect(settings)
    await ensure_stream(client.jetstream(), settings)
    publisher = Publisher(client, settings, ack_timeout=1.0)
    await publisher.send("test", [item(f"a{n}") for n in range(100)])

    async def restart() -> None:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(nats_server.kill)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(nats_server.start)
        restarted.set()

    restarting = asyncio.create_task(restart())
    await asyncio.sleep(0.7)  # the server is down: these publishes wait and are sent again
    await publisher.send("test", [item(f"b{n}") for n in range(100)])
    await restarting
    assert restarted.is_set()
    await asyncio.wait_for(reading, 60)
    info = await client.jetstream().stream_info(settings.stream)
    await client.close()
    # Publishes buffered while disconnected went out on reconnect; those whose ack came too
    # late were sent again and dropped by their message id: each item is there once.
    assert ids(received) == [f"a{n}" for n in range(100)] + [f"b{n}" for n in range(100)]
    assert info.state.messages == 200
