"""Reddit: one listing child (``{"kind": "t3"|"t1", "data": {...}}``) → Post.

Native ids are Reddit's fullnames (``t3_…`` submissions, ``t1_…`` comments): a comment's
``parent_id`` and ``link_id`` are fullnames too, so ``reply_to`` and ``root_id`` join up as is.
"""

from __future__ import annotations

from typing import Final

import msgspec

from veille.model import Author, Post, RawItem
from veille.normalise.common import MappingError, decode, parse_time, safe_url, unique

PLATFORM: Final = "reddit"
SITE: Final = "https://www.reddit.com"
GONE: Final = frozenset({"[deleted]", "[removed]"})


class _Data(msgspec.Struct):
    id: str = ""
    name: str = ""
    author: str = ""
    author_fullname: str = ""
    created_utc: float | None = None
    edited: bool | float = False
    permalink: str = ""
    title: str = ""
    selftext: str = ""
    body: str = ""
    url: str = ""
    is_self: bool = True
    parent_id: str = ""
    link_id: str = ""
    subreddit: str = ""


class _Thing(msgspec.Struct):
    kind: str
    data: _Data


def to_post(item: RawItem) -> Post:
    """Map a submission or a comment; anything else is refused with the kind named."""
    thing = decode(item.payload, _Thing, PLATFORM)
    data = thing.data
    if thing.kind not in ("t1", "t3"):
        raise MappingError(f"reddit: kind {thing.kind!r} is not a submission or comment")
    name = data.name or (f"{thing.kind}_{data.id}" if data.id else "")
    if not name.startswith(f"{thing.kind}_"):
        raise MappingError(f"reddit: {thing.kind} without a valid id (name={data.name!r})")
    created_at = parse_time(data.created_utc, PLATFORM, f"{name} created_utc")
    edited_at = (
        parse_time(float(data.edited), PLATFORM, f"{name} edited")
        if not isinstance(data.edited, bool)
        else None
    )
    author = Author(id=data.author_fullname or data.author, handle=data.author)
    if data.author in GONE:
        author = Author()
    if data.permalink.startswith("/"):
        url = safe_url(SITE + data.permalink)
    elif thing.kind == "t1" and data.link_id.startswith("t3_"):
        url = f"{SITE}/comments/{data.link_id[3:]}/_/{name[3:]}/"  # older comments lack one
    else:
        url = f"{SITE}/comments/{name[3:]}/"
    if thing.kind == "t3":
        gone = data.author in GONE and data.selftext in GONE
        text = (
            data.title
            if not data.selftext or data.selftext in GONE
            else (f"{data.title}\n\n{data.selftext}")
        )
        link = "" if data.is_self else safe_url(data.url)
        return Post(
            platform=PLATFORM,
            native_id=name,
            text="" if gone else text,
            author=author,
            url=url,
            created_at=created_at,
            received_at=item.received_at,
            links=unique([link]),
            edited_at=edited_at,
            deleted=gone,
        )
    if not data.parent_id or not data.link_id:
        raise MappingError(f"reddit: comment {name} lacks parent_id or link_id")
    gone = data.body in GONE
    return Post(
        platform=PLATFORM,
        native_id=name,
        text="" if gone else data.body,
        author=author,
        url=url,
        created_at=created_at,
        received_at=item.received_at,
        reply_to=data.parent_id,
        root_id=data.link_id,
        edited_at=edited_at,
        deleted=gone,
    )
