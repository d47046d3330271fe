from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cassettes import load
from veille.model import RawItem
from veille.normalise.common import MappingError
from veille.normalise.reddit import to_post

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def item(payload: bytes) -> RawItem:
    return RawItem(source="reddit", platform="reddit", payload=payload, received_at=NOW)


def things(value: Any) -> list[dict[str, Any]]:
    """Every t1/t3 thing in a Reddit response, including nested comment replies."""
    found: list[dict[str, Any]] = []
    if isinstance(value, list):
        for element in value:
            found += things(element)
    elif isinstance(value, dict):
        if value.get("kind") in ("t1", "t3") and isinstance(value.get("data"), dict):
            found.append(value)
            found += things(value["data"].get("replies"))
        elif value.get("kind") == "Listing":
            found += things(value["data"]["children"])
    return found


def recorded_things(shared_data: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((shared_data / "fixtures" / "reddit-praw").glob("*.json")):
        for exchange in load(path):
            if exchange.body.startswith((b"{", b"[")) and b"Listing" in exchange.body:
                found += things(orjson.loads(exchange.body))
    return found


def test_every_recorded_submission_and_comment_maps(shared_data: Path) -> None:
    recorded = recorded_things(shared_data)
    kinds = [t["kind"] for t in recorded]
    assert kinds.count("t3") > 200
    assert kinds.count("t1") > 100
    for thing in recorded:
        data = thing["data"]
        post = to_post(item(orjson.dumps(thing)))
        assert post.key == ("reddit", f"{thing['kind']}_{data['id']}")
        assert post.created_at == datetime.fromtimestamp(data["created_utc"], UTC)
        if "permalink" in data:
            assert post.url == "https://www.reddit.com" + data["permalink"]
        else:
            assert post.url.endswith(f"/{data['id']}/")
        if thing["kind"] == "t1":
            assert post.reply_to == data["parent_id"]
            assert post.root_id == data["link_id"]
            assert post.text == ("" if data["body"] in ("[deleted]", "[removed]") else data["body"])
            assert post.deleted == (data["body"] in ("[deleted]", "[removed]"))
        else:
            assert post.text.startswith(data["title"])
            if not data["is_self"]:
                assert post.links == ((data["url"],) if data["url"].startswith("http") else ())
        if data["author"] not in ("[deleted]", "[removed]"):
            assert post.author.handle == data["author"]


def test_deleted_comment_is_a_tombstone(shared_data: Path) -> None:
    deleted = [t for t in recorded_things(shared_data) if t["data"].get("body") == "[deleted]"]
    assert deleted
    post = to_post(item(orjson.dumps(deleted[0])))
    assert post.deleted
    assert post.author.handle == ""


@pytest.mark.parametrize(
    "payload",
    [
        b"{}",
        b'{"kind": "t5", "data": {"id": "x"}}',
        b'{"kind": "t1", "data": {"id": "x", "body": "hi"}}',
        b'{"kind": "t3", "data": {"name": "t1_x"}}',
        b'{"kind": "t3", "data": {"id": "x", "created_utc": "noon"}}',
    ],
)
def test_bad_payloads_raise_a_clear_error(payload: bytes) -> None:
    with pytest.raises(MappingError, match="reddit"):
        to_post(item(payload))
