from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from veille.model import RawItem
from veille.normalise.bluesky import to_post
from veille.normalise.common import MappingError

NOW = datetime(2026, 7, 4, 15, 0, tzinfo=UTC)


def item(payload: bytes) -> RawItem:
    return RawItem(source="bluesky", platform="bluesky", payload=payload, received_at=NOW)


def events(shared_data: Path) -> list[bytes]:
    base = shared_data / "fixtures" / "bluesky-jetstream"
    lines: list[bytes] = []
    for name in ("subscribe-golden/golden_v1.jsonl", "relay-window/expected_v1.jsonl"):
        lines += [line for line in (base / name).read_bytes().splitlines() if line.strip()]
    return lines


def test_every_recorded_post_event_maps_to_a_correct_post(shared_data: Path) -> None:
    mapped = 0
    for line in events(shared_data):
        event = orjson.loads(line)
        commit = event.get("commit") or {}
        if event["kind"] == "commit" and commit["collection"] == "app.bsky.feed.repost":
            repost = to_post(item(line))
            assert repost.repost_of == commit["record"]["subject"]["uri"]
            continue
        if event["kind"] != "commit" or commit.get("collection") != "app.bsky.feed.post":
            with pytest.raises(MappingError):
                to_post(item(line))
            continue
        post = to_post(item(line))
        mapped += 1
        uri = f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}"
        assert post.key == ("bluesky", uri)
        assert post.author.id == event["did"]
        assert post.raw == ""  # the pipeline keeps the payload itself as the raw copy
        if commit["operation"] == "delete":
            assert post.deleted
            assert post.text == ""
            continue
        record = commit["record"]
        assert post.text == record["text"]
        assert post.url == f"https://bsky.app/profile/{event['did']}/post/{commit['rkey']}"
        assert post.created_at is not None
        assert post.created_at.tzinfo is not None
        langs = record.get("langs") or []
        assert post.lang_hint == (langs[0].split("-")[0].lower() if langs else "")
        reply = record.get("reply")
        assert post.reply_to == (reply["parent"]["uri"] if reply else None)
        assert post.root_id == (reply["root"]["uri"] if reply else None)
        facet_links = [
            f["uri"]
            for facet in record.get("facets", [])
            for f in facet["features"]
            if f["$type"].endswith("#link")
        ]
        for link in facet_links:
            assert link in post.links
        tags = [
            f["tag"]
            for facet in record.get("facets", [])
            for f in facet["features"]
            if f["$type"].endswith("#tag")
        ]
        assert list(post.hashtags) == list(dict.fromkeys(tags))
    assert mapped == 19


def test_specific_recorded_post(shared_data: Path) -> None:
    line = next(line for line in events(shared_data) if b"3mptbyoigog2b" in line)
    post = to_post(item(line))
    assert post.lang_hint == "en"
    assert post.links == (
        "https://www.ufofeed.com/266486/has-anyone-properly-debunked-tic-tac-video/",
    )
    assert post.created_at == datetime(2026, 7, 4, 14, 38, 2, tzinfo=UTC)


def test_reply_with_different_root_and_parent(shared_data: Path) -> None:
    line = next(line for line in events(shared_data) if b"3mptbyproxc2q" in line)
    post = to_post(item(line))
    assert post.reply_to == "at://did:plc:ippiobxpsddnkzd6ms2dbpcy/app.bsky.feed.post/3mptbvznwf22c"
    assert post.root_id == "at://did:plc:ajg5c7huhiibhwandhdscpdq/app.bsky.feed.post/3mptb7zj4lc2q"


def _event(
    record: dict[str, object], operation: str = "create", collection: str = "app.bsky.feed.post"
) -> bytes:
    return orjson.dumps(
        {
            "did": "did:plc:abc",
            "time_us": 1783175888090631,
            "kind": "commit",
            "commit": {
                "operation": operation,
                "collection": collection,
                "rkey": "3k",
                "record": record,
            },
        }
    )


def test_update_sets_edited_at_and_mentions_quotes_are_read() -> None:
    record = {
        "$type": "app.bsky.feed.post",
        "createdAt": "2026-07-04T14:38:06Z",
        "text": "hi @x see",
        "facets": [
            {"features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:x"}]},
            {"features": [{"$type": "app.bsky.richtext.facet#link", "uri": "javascript:alert(1)"}]},
        ],
        "embed": {
            "$type": "app.bsky.embed.record",
            "record": {"uri": "at://did:plc:q/app.bsky.feed.post/1"},
        },
    }
    post = to_post(item(_event(record, "update")))
    assert post.edited_at == datetime.fromtimestamp(1783175888.090631, UTC)
    assert post.mentions == ("did:plc:x",)
    assert post.links == ()
    assert post.quote_of == "at://did:plc:q/app.bsky.feed.post/1"


def test_repost_maps_to_repost_of() -> None:
    record = {
        "createdAt": "2026-07-04T14:38:06Z",
        "subject": {"uri": "at://did:plc:q/app.bsky.feed.post/1"},
    }
    post = to_post(item(_event(record, collection="app.bsky.feed.repost")))
    assert post.repost_of == "at://did:plc:q/app.bsky.feed.post/1"
    assert post.native_id == "at://did:plc:abc/app.bsky.feed.repost/3k"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"[]",
        b'{"did": "did:plc:a", "kind": "commit"}',
        b'{"did": "did:plc:a", "kind": "commit", "commit": {"operation": "create",'
        b' "collection": "app.bsky.feed.post", "rkey": "k"}}',
        _event({"text": 5, "createdAt": "2026-07-04T14:38:06Z"}),
        _event({"text": "x", "createdAt": "yesterday"}),
        _event({"text": "x", "createdAt": "2026-07-04T14:38:06Z", "reply": {"parent": 3}}),
        _event({"text": "x"}, operation="frobnicate"),
    ],
)
def test_bad_payloads_raise_a_clear_error(payload: bytes) -> None:
    with pytest.raises(MappingError, match="bluesky"):
        to_post(item(payload))


def test_json_test_suite_never_crashes(shared_data: Path) -> None:
    for path in sorted((shared_data / "bad-input" / "jsontestsuite").rglob("*.json")):
        with contextlib.suppress(MappingError):
            to_post(item(path.read_bytes()))
