from datetime import UTC, datetime

import msgspec

from veille.model import Author, Match, Post


def test_post_round_trips_as_json() -> None:
    post = Post(
        platform="bluesky",
        native_id="at://did:plc:x/app.bsky.feed.post/1",
        text="Merci à la #police",
        author=Author(id="did:plc:x", handle="x.bsky.social", followers=12),
        created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        hashtags=("police",),
    )
    again = msgspec.json.decode(msgspec.json.encode(post), type=Post)
    assert again == post
    assert again.key == ("bluesky", "at://did:plc:x/app.bsky.feed.post/1")


def test_match_omits_empty_explanation() -> None:
    encoded = msgspec.json.encode(Match(rule="r", version=2, spans=((0, 4),)))
    assert msgspec.json.decode(encoded) == {"rule": "r", "version": 2, "spans": [[0, 4]]}
