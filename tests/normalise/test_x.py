from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cassettes import load
from veille.model import RawItem
from veille.normalise.common import MappingError
from veille.normalise.registry import normalise
from veille.normalise.x import to_post

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def item(payload: bytes) -> RawItem:
    return RawItem(source="x", platform="x", payload=payload, received_at=NOW)


def recorded_pages(shared_data: Path) -> list[bytes]:
    """Every recorded v2 tweet payload: twarc pages and stream frames, tweepy cassette bodies."""
    root = shared_data / "fixtures" / "twitter-v2"
    pages: list[bytes] = []
    for path in sorted((root / "twarc-csv").glob("*.jsonl")):
        if path.name == "users.jsonl":
            continue
        pages += [line for line in path.read_bytes().splitlines() if line.strip()]
    for path in sorted((root / "tweepy").glob("*.yaml")):
        pages += [e.body for e in load(path) if e.status == 200]
    return pages


def stream_frames(shared_data: Path) -> list[bytes]:
    """One stream frame per recorded tweet (``data`` a single tweet, with its includes)."""
    frames = []
    for page in recorded_pages(shared_data):
        try:
            value = orjson.loads(page)
        except orjson.JSONDecodeError:
            continue
        data = value.get("data")
        for tweet in data if isinstance(data, list) else [data]:
            if isinstance(tweet, dict):
                frame = {"data": tweet, "includes": value.get("includes", {})}
                frames.append(orjson.dumps(frame))
    return frames


def test_every_recorded_page_maps_to_correct_posts(shared_data: Path) -> None:
    pages = recorded_pages(shared_data)
    assert len(pages) > 20
    tweets_seen = bad = 0
    for page in pages:
        try:
            value: dict[str, Any] = orjson.loads(page)
        except orjson.JSONDecodeError:
            with pytest.raises(MappingError, match="x: payload is not valid JSON"):
                to_post(item(page))
            bad += 1
            continue
        posts = {p.native_id: p for p in to_post(item(page))}
        data = value["data"] if isinstance(value["data"], list) else [value["data"]]
        users = {u["id"]: u for u in value.get("includes", {}).get("users", [])}
        for tweet in [*data, *value.get("includes", {}).get("tweets", [])]:
            tweets_seen += 1
            history = tweet.get("edit_history_tweet_ids", [tweet["id"]])
            native = history[0]
            post = posts[native]
            if tweet["id"] != max(history, key=int):
                continue  # an older version of an edited tweet: the newest one was kept
            assert post.platform == "x"
            assert post.native_id.isdigit()
            assert post.author.id == tweet.get("author_id", "")
            if tweet.get("author_id") in users:
                assert post.author.handle == users[tweet["author_id"]]["username"]
                assert post.url == f"https://x.com/{post.author.handle}/status/{tweet['id']}"
            refs = {r["type"]: r["id"] for r in tweet.get("referenced_tweets", [])}
            assert post.reply_to == refs.get("replied_to")
            assert post.quote_of == refs.get("quoted")
            assert post.repost_of == refs.get("retweeted")
            entities = tweet.get("entities", {})
            assert list(post.hashtags) == list(
                dict.fromkeys(h["tag"] for h in entities.get("hashtags", []))
            )
            assert set(post.mentions) == {m["username"] for m in entities.get("mentions", [])}
            assert all(link.startswith(("http://", "https://")) for link in post.links)
            if "created_at" in tweet:
                assert post.created_at is not None
                assert post.created_at.tzinfo is not None
            if tweet.get("conversation_id") not in (None, tweet["id"], native):
                assert post.root_id == tweet["conversation_id"]
            if len(tweet.get("edit_history_tweet_ids", [])) > 1:
                assert post.edited_at == post.created_at
            lang = tweet.get("lang", "")
            if len(lang) == 2:
                assert post.lang_hint == lang
            else:
                assert post.lang_hint == ""
    assert tweets_seen > 500
    assert bad == 1  # the deliberately broken line of streaming_output_with_error.jsonl


def test_edits_and_retweets(shared_data: Path) -> None:
    edited = (shared_data / "fixtures/twitter-v2/twarc-csv/edited.jsonl").read_bytes()
    posts = to_post(item(edited))
    # the edited version and the original (in includes) are the same post: one native id
    assert [p.native_id for p in posts] == ["1576994746135764992"]
    assert posts[0].edited_at is not None
    assert posts[0].text.startswith("hey :)")
    brexit = (shared_data / "fixtures/twitter-v2/twarc-csv/brexit.jsonl").read_bytes()
    by_id = {p.native_id: p for p in to_post(item(brexit))}
    retweets = [p for p in by_id.values() if p.repost_of]
    assert retweets
    for post in retweets:
        if post.repost_of in by_id:
            assert post.text == ""
            assert by_id[post.repost_of].text
        else:
            assert post.text.startswith("RT @")


def test_registered_and_bad_input_named() -> None:
    frame = b'{"data":{"id":"1","text":"hello #Police","entities":{"hashtags":[{"tag":"Police"}]}}}'
    (post,) = normalise(item(frame))
    assert post.hashtags == ("Police",)
    assert post.url == "https://x.com/i/status/1"
    with pytest.raises(MappingError, match=r"without data \(Rule limit"):
        to_post(item(b'{"errors":[{"title":"Rule limit"}]}'))
    with pytest.raises(MappingError, match="not a number"):
        to_post(item(b'{"data":{"id":"x1","text":""}}'))
    with pytest.raises(MappingError, match="unexpected payload shape"):
        to_post(item(b'{"data":[{"id":"1"}]}'))
    with pytest.raises(MappingError):
        to_post(item(b'{"data":{"id":"1","text":"t","entities":{"urls":[{"expanded_url":1}]}}}'))
    hostile = b'{"data":{"id":"2","text":"t","entities":{"urls":[{"expanded_url":"javascript:"}]}}}'
    assert to_post(item(hostile))[0].links == ()
