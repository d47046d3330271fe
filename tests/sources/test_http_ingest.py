import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from veille.model import Quarantined
from veille.sources.base import Batch
from veille.sources.http_ingest import HttpIngestSource, create_app

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSONL = {**AUTH, "Content-Type": "application/x-ndjson"}
JSON = {**AUTH, "Content-Type": "application/json"}


class Consumer:
    """Plays the pipeline's part: takes batches and acknowledges them as stored."""

    def __init__(self, source: HttpIngestSource, reject_origin: str | None = None) -> None:
        self.source = source
        self.batches: list[Batch] = []
        self.reject_origin = reject_origin
        self.paused = asyncio.Event()
        self.paused.set()

    async def run(self) -> None:
        async for batch in self.source.stream(None):
            await self.paused.wait()
            self.batches.append(batch)
            failed = [
                Quarantined(
                    source=i.source,
                    stage="normalise",
                    error=f"{i.origin}: bad",
                    payload=i.payload,
                    at=datetime(2026, 1, 1, tzinfo=UTC),
                )
                for i in batch.items
                if i.origin.endswith(self.reject_origin or "-")
            ]
            self.source.stored(batch, failed)


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[HttpIngestSource, Consumer, httpx.AsyncClient]]:
    source = HttpIngestSource(
        token=TOKEN,
        max_body_bytes=2000,
        max_items=5,
        queue_requests=1,
        enqueue_seconds=0.05,
        ack_seconds=0.5,
    )
    consumer = Consumer(source, reject_origin="line 2")
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0)
    transport = httpx.ASGITransport(app=create_app(source))
    async with httpx.AsyncClient(transport=transport, base_url="http://veille") as client:
        yield source, consumer, client
    source.close()
    await asyncio.wait_for(task, 1)


async def test_json_lines_are_stored_and_failures_listed(ingest) -> None:
    source, consumer, client = ingest
    body = b'{"id": 1, "text": "a"}\n{"id": 2}\r\n\n{"id": 3}\n'
    answer = await client.post("/ingest", content=body, headers=JSONL)
    assert answer.status_code == 200
    assert answer.json() == {
        "received": 3,
        "stored": 2,
        "quarantined": [
            {"origin": "request 1 line 2", "stage": "normalise", "error": "request 1 line 2: bad"}
        ],
    }
    (batch,) = consumer.batches
    assert [i.payload for i in batch.items] == [
        b'{"id": 1, "text": "a"}',
        b'{"id": 2}',
        b'{"id": 3}',
    ]
    assert batch.cursor is None
    assert {i.source for i in batch.items} == {source.name}


async def test_json_object_and_array(ingest) -> None:
    _, consumer, client = ingest
    one = await client.post("/ingest", content=b'{"id": 1}', headers=JSON)
    many = await client.post("/ingest", content=b'[{"id": 2}, {"id": 3}]', headers=JSON)
    assert (one.json()["stored"], many.json()["stored"]) == (1, 2)
    assert [i.payload for b in consumer.batches for i in b.items] == [
        b'{"id": 1}',
        b'{"id": 2}',
        b'{"id": 3}',
    ]
    assert consumer.batches[1].items[1].origin == "request 2 item 1"


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"Content-Type": "application/json"}, b"{}", 401, "bearer token"),
        ({**JSON, "Authorization": "Bearer wrong-token-wrong-token"}, b"{}", 401, "bearer"),
        ({**AUTH, "Content-Type": "text/csv"}, b"a,b", 415, "x-ndjson"),
        (JSON, b'{"id": 1,', 400, "not valid JSON"),
        (JSON, b"[" * 1000, 400, "not valid JSON"),
        (JSON, b" " * 2001, 413, "over 2000 bytes"),
        (JSONL, b'{"id": 1}\n' * 6, 413, "at most 5"),
    ],
)
async def test_refusals_say_why(ingest, headers, body, status, message) -> None:
    _, consumer, client = ingest
    answer = await client.post("/ingest", content=body, headers=headers)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert consumer.batches == []


async def test_a_streamed_body_is_cut_at_the_bound(ingest) -> None:
    _, _, client = ingest

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 100

    answer = await client.post("/ingest", content=chunks(), headers=JSONL)
    assert answer.status_code == 413


async def test_backpressure_answers_429_then_recovers(ingest) -> None:
    _, consumer, client = ingest
    consumer.paused.clear()  # the pipeline is stuck: one request held, one queued
    held = asyncio.create_task(client.post("/ingest", content=b'{"id": 1}', headers=JSON))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(client.post("/ingest", content=b'{"id": 2}', headers=JSON))
    await asyncio.sleep(0.05)
    refused = await client.post("/ingest", content=b'{"id": 3}', headers=JSON)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    consumer.paused.set()
    assert (await held).status_code == 200
    assert (await queued).status_code == 200


async def test_slow_storage_answers_202(ingest) -> None:
    source, consumer, client = ingest
    source.ack_seconds = 0.01
    consumer.paused.clear()
    answer = await client.post("/ingest", content=b'{"id": 1}', headers=JSON)
    assert answer.status_code == 202
    assert answer.json() == {"received": 1}
    consumer.paused.set()


async def test_not_running_or_closed_is_503() -> None:
    source = HttpIngestSource(token=TOKEN)
    transport = httpx.ASGITransport(app=create_app(source))
    async with httpx.AsyncClient(transport=transport, base_url="http://veille") as client:
        answer = await client.post("/ingest", content=b"{}", headers=JSON)
    assert answer.status_code == 503


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        HttpIngestSource(token="short")
