from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.cassettes import load
from veille.model import RawItem
from veille.normalise.common import MappingError
from veille.normalise.mastodon import to_post, wrap

NOW = datetime(2026, 8, 2, tzinfo=UTC)
INSTANCE = "localhost:3000"


def item(payload: bytes) -> RawItem:
    return RawItem(source="mastodon:x", platform="mastodon", payload=payload, received_at=NOW)


def recorded_statuses(shared_data: Path) -> list[dict[str, object]]:
    """Every Status object in the Mastodon cassettes (REST bodies and streamed updates)."""
    found: list[dict[str, object]] = []
    for path in sorted((shared_data / "fixtures" / "mastodon").glob("*.yaml")):
        for exchange in load(path):
            if "json" not in exchange.headers.get("content-type", ""):
                continue
            body = orjson.loads(exchange.body)
            candidates = body if isinstance(body, list) else [body]
            if isinstance(body, dict):
                candidates += body.get("ancestors", []) + body.get("descendants", [])
                candidates += body.get("statuses", [])
            found += [c for c in candidates if isinstance(c, dict) and "id" in c and "content" in c]
    return found


def streamed_events(shared_data: Path) -> list[tuple[str, bytes]]:
    events: list[tuple[str, bytes]] = []
    for path in sorted((shared_data / "fixtures" / "mastodon").glob("test_stream_*.yaml")):
        for exchange in load(path):
            if "event-stream" not in exchange.headers.get("content-type", ""):
                continue
            for block in exchange.body.split(b"\n\n"):
                fields = dict(line.split(b": ", 1) for line in block.split(b"\n") if b": " in line)
                if b"event" in fields and b"data" in fields:
                    events.append((fields[b"event"].decode(), fields[b"data"]))
    return events


def test_every_recorded_status_maps_to_a_correct_post(shared_data: Path) -> None:
    statuses = recorded_statuses(shared_data)
    assert len(statuses) > 40
    for status in statuses:
        posts = to_post(item(wrap(INSTANCE, "update", orjson.dumps(status))))
        post = posts[0]
        assert post.key == ("mastodon", f"{INSTANCE}/{status['id']}")
        account = status["account"]
        assert isinstance(account, dict)
        assert post.author.handle == f"{account['acct']}@{INSTANCE}"
        assert post.url == status["url"]
        assert post.lang_hint == (status["language"] or "")
        assert "<" not in post.text or "<" in str(status["content"]).replace("<", "", 0)
        assert post.reply_to == (
            f"{INSTANCE}/{status['in_reply_to_id']}" if status["in_reply_to_id"] else None
        )
        tags = status["tags"]
        assert isinstance(tags, list)
        assert list(post.hashtags) == [t["name"] for t in tags]
        assert all(link.startswith(("http://", "https://")) for link in post.links)
        if status["reblog"]:
            assert len(posts) == 2
            assert post.repost_of == posts[1].native_id
        else:
            assert len(posts) == 1


def test_recorded_reply_edit_card_and_mentions(shared_data: Path) -> None:
    statuses = recorded_statuses(shared_data)
    replies = [s for s in statuses if s["in_reply_to_id"]]
    assert replies
    edited = [s for s in statuses if s["edited_at"]]
    assert edited
    post = to_post(item(wrap(INSTANCE, "update", orjson.dumps(edited[0]))))[0]
    assert post.edited_at is not None
    with_card = [s for s in statuses if s.get("card")]
    assert with_card
    post = to_post(item(wrap(INSTANCE, "update", orjson.dumps(with_card[0]))))[0]
    card = with_card[0]["card"]
    assert isinstance(card, dict)
    assert card["url"] in post.links
    with_mentions = [s for s in statuses if s["mentions"]]
    post = to_post(item(wrap(INSTANCE, "update", orjson.dumps(with_mentions[0]))))[0]
    assert post.mentions
    assert all("@" in m for m in post.mentions)
    # mention links are profiles, not shared links
    assert not any("/@" in link for link in post.links)


def test_every_streamed_event_maps(shared_data: Path) -> None:
    events = streamed_events(shared_data)
    kinds = {name for name, _ in events}
    assert {"update", "status.update", "delete"} <= kinds
    for name, data in events:
        payload = wrap(INSTANCE, name, data)
        if name not in ("update", "status.update", "delete"):
            with pytest.raises(MappingError):
                to_post(item(payload))
            continue
        post = to_post(item(payload))[0]
        if name == "delete":
            assert post.deleted
            assert post.native_id == f"{INSTANCE}/{data.decode()}"
        else:
            assert post.native_id == f"{INSTANCE}/{orjson.loads(data)['id']}"
            assert (post.edited_at is not None) == (name == "status.update")


def test_html_is_turned_into_safe_text() -> None:
    status = {
        "id": "1",
        "content": '<p>Hello &amp; <a href="javascript:alert(1)">click</a>'
        '<script>alert(2)</script><br>line <a href="https://ex.org/a">x</a></p><p>two</p>',
        "spoiler_text": "CW",
        "account": {"acct": "bob@remote.example"},
    }
    post = to_post(item(wrap(INSTANCE, "update", orjson.dumps(status))))[0]
    assert post.text == "CW\n\nHello & click\nline x\n\ntwo"
    assert post.links == ("https://ex.org/a",)
    assert post.author.handle == "bob@remote.example"


def test_boost_yields_the_boost_and_the_boosted_status() -> None:
    inner = {"id": "7", "content": "<p>original</p>", "account": {"acct": "a"}}
    status = {"id": "8", "content": "", "reblog": inner, "account": {"acct": "b"}}
    boost, original = to_post(item(wrap(INSTANCE, "update", orjson.dumps(status))))
    assert boost.repost_of == f"{INSTANCE}/7"
    assert original.native_id == f"{INSTANCE}/7"
    assert original.text == "original"


def test_a_server_cannot_spoof_the_instance() -> None:
    payload = wrap(INSTANCE, "delete", b'1,"instance":"mastodon.social"')
    assert to_post(item(payload))[0].native_id == f"{INSTANCE}/1"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{}",
        wrap(INSTANCE, "update", b"{"),
        wrap(INSTANCE, "update", b'{"content": "x"}'),
        wrap(INSTANCE, "delete", b"{}"),
        wrap(INSTANCE, "update", b'{"id": "1", "created_at": "soon"}'),
        wrap("a/b", "delete", b"1"),
    ],
)
def test_bad_payloads_raise_a_clear_error(payload: bytes) -> None:
    with pytest.raises(MappingError, match="mastodon"):
        to_post(item(payload))
