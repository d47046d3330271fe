"""X (Twitter) API v2: one filtered-stream frame (or one search page) → Posts.

A frame is ``{"data": Tweet, "includes": {"users": [...], "tweets": [...]}, "matching_rules":
[...]}``; a search page has a list under ``data``. Every tweet in ``data`` becomes a post, and so
does every tweet in ``includes.tweets`` (the quoted, replied-to or retweeted originals, which may
not have been seen otherwise), authors resolved through ``includes.users``.

An edit is a new tweet id on X; ``edit_history_tweet_ids`` lists every version, oldest first, so
the native id is the *first* one: an edit updates the post already stored (``edited_at`` set)
instead of adding a second post. A retweet is like a Mastodon boost: a post without text whose
``repost_of`` points at the original (its text is kept only when the original is not included).
"""

from __future__ import annotations

from typing import Final

import msgspec

from veille.model import Author, Post, RawItem
from veille.normalise.common import (
    MappingError,
    decode,
    lang_hint,
    parse_time,
    safe_url,
    unique,
)

PLATFORM: Final = "x"
SITE: Final = "https://x.com"
NOT_A_LANGUAGE: Final = frozenset({"und", "zxx", "art"})
"""X's codes for "undetermined", "no linguistic content" and "artificial"; ``q…`` codes too."""


class _Url(msgspec.Struct):
    expanded_url: str = ""
    unwound_url: str = ""
    url: str = ""


class _Tag(msgspec.Struct):
    tag: str = ""


class _Mention(msgspec.Struct):
    username: str = ""


class _Entities(msgspec.Struct):
    urls: list[_Url] = msgspec.field(default_factory=list)
    hashtags: list[_Tag] = msgspec.field(default_factory=list)
    mentions: list[_Mention] = msgspec.field(default_factory=list)


class _Ref(msgspec.Struct):
    type: str
    id: str


class _Note(msgspec.Struct):
    text: str = ""
    entities: _Entities | None = None


class _Tweet(msgspec.Struct):
    id: str
    text: str
    author_id: str = ""
    created_at: str | None = None
    conversation_id: str = ""
    lang: str = ""
    referenced_tweets: list[_Ref] = msgspec.field(default_factory=list)
    entities: _Entities | None = None
    edit_history_tweet_ids: list[str] = msgspec.field(default_factory=list)
    note_tweet: _Note | None = None


class _Metrics(msgspec.Struct):
    followers_count: int | None = None


class _User(msgspec.Struct):
    id: str
    username: str = ""
    name: str = ""
    public_metrics: _Metrics | None = None


class _Includes(msgspec.Struct):
    users: list[_User] = msgspec.field(default_factory=list)
    tweets: list[_Tweet] = msgspec.field(default_factory=list)


class _Frame(msgspec.Struct):
    data: _Tweet | list[_Tweet] | None = None
    includes: _Includes = msgspec.field(default_factory=_Includes)
    errors: list[dict[str, object]] = msgspec.field(default_factory=list)


def to_post(item: RawItem) -> list[Post]:
    """Map one v2 frame or page to its posts; a frame with only ``errors`` is refused."""
    frame = decode(item.payload, _Frame, PLATFORM)
    if frame.data is None:
        detail = (
            frame.errors[0].get("detail") or frame.errors[0].get("title") if frame.errors else ""
        )
        raise MappingError(f"x: payload without data{f' ({detail})' if detail else ''}")
    tweets = frame.data if isinstance(frame.data, list) else [frame.data]
    users = {user.id: user for user in frame.includes.users}
    included = {tweet.id for tweet in frame.includes.tweets}
    posts: dict[str, tuple[int, Post]] = {}
    for tweet in [*tweets, *frame.includes.tweets]:
        post = _tweet_post(tweet, users, included, item)
        # two versions of one edited tweet in one payload: the newest wins
        version = int(tweet.id)
        if post.native_id not in posts or posts[post.native_id][0] < version:
            posts[post.native_id] = (version, post)
    return [post for _, post in posts.values()]


def _tweet_post(tweet: _Tweet, users: dict[str, _User], included: set[str], item: RawItem) -> Post:
    if not tweet.id.isdigit():
        raise MappingError(f"x: tweet id {tweet.id!r} is not a number")
    history = [i for i in tweet.edit_history_tweet_ids if i.isdigit()]
    native_id = history[0] if history else tweet.id
    created_at = parse_time(tweet.created_at, PLATFORM, f"tweet {tweet.id} created_at")
    user = users.get(tweet.author_id)
    author = Author(
        id=tweet.author_id,
        handle=user.username if user else "",
        display_name=user.name if user else "",
        followers=user.public_metrics.followers_count if user and user.public_metrics else None,
    )
    refs = {ref.type: ref.id for ref in tweet.referenced_tweets if ref.id.isdigit()}
    path = (
        f"/{user.username}/status/{tweet.id}" if user and user.username else f"/i/status/{tweet.id}"
    )
    note = tweet.note_tweet
    text = note.text if note and note.text else tweet.text
    entities = (note.entities if note and note.entities else None) or tweet.entities or _Entities()
    retweeted = refs.get("retweeted")
    if retweeted and retweeted in included:
        text = ""
    language = tweet.lang.lower()
    root = tweet.conversation_id if tweet.conversation_id.isdigit() else ""
    post = Post(
        platform=PLATFORM,
        native_id=native_id,
        text=text,
        author=author,
        url=SITE + path,
        lang_hint=""
        if language in NOT_A_LANGUAGE or language.startswith("q")
        else lang_hint(language),
        created_at=created_at,
        received_at=item.received_at,
        reply_to=refs.get("replied_to"),
        root_id=root if root and root != native_id and root != tweet.id else None,
        repost_of=retweeted,
        hashtags=unique([t.tag for t in entities.hashtags]),
        mentions=unique([m.username for m in entities.mentions]),
        links=unique([safe_url(u.unwound_url or u.expanded_url or u.url) for u in entities.urls]),
    )
    # Past 15 keyword arguments CPython builds a dict for the call and the struct is filled
    # from it (7,400 machine instructions per post, callgrind): the rarer fields are set after.
    post.quote_of = refs.get("quoted")
    post.edited_at = created_at if len(history) > 1 else None
    return post
