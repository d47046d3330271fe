"""Hostile input through the real ingest paths, pipeline, matcher and store (both engines):
every JSONTestSuite ``n_`` document and every BLNS string gets a clear error or is stored as
text; nothing crashes and no neighbour is lost."""

import asyncio
import json
from pathlib import Path

import httpx
import msgspec
import pytest

from veille.match.matcher import Matcher
from veille.pipeline import Pipeline, Processor
from veille.rules.rule import Rule
from veille.sources.http_ingest import HttpIngestSource, create_app
from veille.sources.replay import ReplaySource
from veille.store import Store

TOKEN = "integration-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def processor() -> Processor:
    return Processor(Matcher([Rule.of("police", "police")]))


def invalid_documents(shared_data: Path) -> list[tuple[str, bytes]]:
    folder = shared_data / "bad-input" / "jsontestsuite" / "test_parsing"
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob("n_*.json"))]


def blns(shared_data: Path) -> list[str]:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text())
    assert len(strings) > 400
    return strings


async def test_every_invalid_json_document_through_http(shared_data: Path, db_url: str) -> None:
    documents = invalid_documents(shared_data)
    assert len(documents) == 188
    store = Store.open(db_url)
    source = HttpIngestSource(token=TOKEN, ack_seconds=30)
    pipeline = Pipeline([source], store, processor())
    running = asyncio.create_task(pipeline.run())
    transport = httpx.ASGITransport(app=create_app(source))
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://veille") as client:
        await asyncio.wait_for(source.started(), 10)
        for n, (name, body) in enumerate(documents):
            # Alone as application/json: refused with a reason, or (an array of bad items
            # that is itself valid JSON) accepted and quarantined item by item.
            answer = await client.post(
                "/ingest", content=body, headers={**HEADERS, "Content-Type": "application/json"}
            )
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            assert answer.status_code in (200, 400), (name, answer.text)
            if answer.status_code == 400:
                assert "not valid JSON" in answer.json()["error"], name
            # As one JSON line between two good posts: the neighbours are stored.
            line = body.replace(b"\n", b" ").replace(b"\r", b" ")
            lines = b'{"id": "before-%d"}\n%s\n{"id": "after-%d", "text": "police"}\n' % (
                n,
                line,
                n,
            )
            answer = await client.post(
                "/ingest",
                content=lines,
                headers={**HEADERS, "Content-Type": "application/x-ndjson"},
            )
            assert answer.status_code == 200, (name, answer.text)
            result = answer.json()
            assert result["stored"] >= 2, name
            for failure in result["quarantined"]:
                assert failure["error"], name
    source.close()
    await asyncio.wait_for(running, 30)
    for n in range(len(documents)):
        assert store.post("generic", f"before-{n}") is not None
        after = store.post("generic", f"after-{n}")
        assert after is not None
        assert [m.match.rule for m in after.matches] == ["police"]
    assert statuses[400] > 150
    store.close()


async def test_every_blns_string_is_stored_as_text(
    shared_data: Path, db_url: str, tmp_path: Path
) -> None:
    strings = blns(shared_data)
    lines = []
    for n, text in enumerate(strings):
        lines.append(msgspec.json.encode({"id": f"blns-{n}", "text": text, "author": text[:50]}))
        lines.append(msgspec.json.encode({"id": f"next-{n}", "text": "police"}))
    path = tmp_path / "blns.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    store = Store.open(db_url)
    await Pipeline([ReplaySource(path, batch_size=97)], store, processor()).run()
    for n, text in enumerate(strings):
        stored = store.post("generic", f"blns-{n}")
        assert stored is not None, n
        assert stored.post.text == text.replace("\x00", "\ufffd"), n
        assert store.post("generic", f"next-{n}") is not None
    assert store.quarantined() == []
    store.close()


async def test_blns_through_http_json_array(shared_data: Path, db_url: str) -> None:
    strings = blns(shared_data)
    store = Store.open(db_url)
    source = HttpIngestSource(token=TOKEN, ack_seconds=30, max_items=1000)
    pipeline = Pipeline([source], store, processor())
    running = asyncio.create_task(pipeline.run())
    body = msgspec.json.encode([{"id": f"b{n}", "text": s} for n, s in enumerate(strings)])
    transport = httpx.ASGITransport(app=create_app(source))
    async with httpx.AsyncClient(transport=transport, base_url="http://veille") as client:
        await asyncio.wait_for(source.started(), 10)
        answer = await client.post(
            "/ingest", content=body, headers={**HEADERS, "Content-Type": "application/json"}
        )
    assert answer.status_code == 200
    assert answer.json()["stored"] == len(strings)
    source.close()
    await asyncio.wait_for(running, 30)
    assert store.counts()["posts"] == len(strings)
    store.close()
