"""Mastodon: a status event from one instance (streamed or polled) → Posts.

The source wraps what it receives as ``{"instance": HOST, "event": NAME, "data": ...}``: ``update``
and ``status.update`` carry a Status, ``delete`` carries a status id. Status ids are local to the
instance that served them, so native ids are ``HOST/ID`` — replies (``in_reply_to_id``) and
deletes then point at the same key. A boost yields two posts: the boost itself (``repost_of``)
and the boosted status, which may not have been seen otherwise.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from veille.model import Author, Post, RawItem
from veille.normalise.common import (
    MappingError,
    decode,
    html_to_text,
    lang_hint,
    parse_time,
    safe_url,
    unique,
)

PLATFORM: Final = "mastodon"


class _Account(msgspec.Struct):
    id: str = ""
    acct: str = ""
    username: str = ""
    display_name: str = ""
    url: str = ""
    followers_count: int | None = None


class _Tag(msgspec.Struct):
    name: str = ""


class _Mention(msgspec.Struct):
    acct: str = ""


class _Card(msgspec.Struct):
    url: str = ""


class _Status(msgspec.Struct):
    id: str
    created_at: str | None = None
    content: str = ""
    spoiler_text: str = ""
    url: str | None = None
    uri: str = ""
    language: str | None = None
    in_reply_to_id: str | None = None
    edited_at: str | None = None
    account: _Account = msgspec.field(default_factory=_Account)
    tags: list[_Tag] = msgspec.field(default_factory=list)
    mentions: list[_Mention] = msgspec.field(default_factory=list)
    card: _Card | None = None
    reblog: _Status | None = None
    quote: dict[str, Any] | None = None
    visibility: str = "public"


class _Envelope(msgspec.Struct):
    instance: str
    event: str
    data: msgspec.Raw


_STATUS_EVENTS: Final = frozenset({"update", "status.update"})


def to_post(item: RawItem) -> list[Post]:
    """Map one wrapped Mastodon event to its posts (two for a boost, one otherwise)."""
    envelope = decode(item.payload, _Envelope, PLATFORM)
    instance = envelope.instance.strip().lower()
    if not instance or "/" in instance:
        raise MappingError(f"mastodon: bad instance name {envelope.instance!r}")
    if envelope.event == "delete":
        try:
            status_id = msgspec.json.decode(envelope.data, type=str | int)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MappingError(f"mastodon: delete event without a status id: {exc}") from None
        return [
            Post(
                platform=PLATFORM,
                native_id=f"{instance}/{status_id}",
                deleted=True,
                received_at=item.received_at,
            )
        ]
    if envelope.event not in _STATUS_EVENTS:
        raise MappingError(f"mastodon: event {envelope.event!r} carries no status")
    try:
        status = msgspec.json.decode(envelope.data, type=_Status)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MappingError(f"mastodon: unexpected status shape: {exc}") from None
    posts = [_status_post(status, instance, item)]
    if status.reblog is not None:
        posts.append(_status_post(status.reblog, instance, item))
    return posts


def _status_post(status: _Status, instance: str, item: RawItem) -> Post:
    if not status.id:
        raise MappingError("mastodon: status without an id")
    native_id = f"{instance}/{status.id}"
    account = status.account
    handle = account.acct if "@" in account.acct else f"{account.acct}@{instance}"
    author = Author(
        id=handle if account.acct else "",
        handle=handle if account.acct else "",
        display_name=account.display_name,
        followers=account.followers_count,
    )
    created_at = parse_time(status.created_at, PLATFORM, f"status {status.id} created_at")
    edited_at = parse_time(status.edited_at, PLATFORM, f"status {status.id} edited_at")
    url = safe_url(status.url) or safe_url(status.uri)
    if status.reblog is not None:
        return Post(
            platform=PLATFORM,
            native_id=native_id,
            author=author,
            url=url,
            created_at=created_at,
            received_at=item.received_at,
            repost_of=f"{instance}/{status.reblog.id}",
        )
    body, links = html_to_text(status.content)
    warning = status.spoiler_text.strip()
    text = f"{warning}\n\n{body}" if warning and body else warning or body
    card_url = safe_url(status.card.url) if status.card else ""
    quoted = status.quote.get("quoted_status") if isinstance(status.quote, dict) else None
    quoted_id = quoted.get("id") if isinstance(quoted, dict) else None
    return Post(
        platform=PLATFORM,
        native_id=native_id,
        text=text,
        author=author,
        url=url,
        lang_hint=lang_hint(status.language),
        created_at=created_at,
        received_at=item.received_at,
        reply_to=f"{instance}/{status.in_reply_to_id}" if status.in_reply_to_id else None,
        quote_of=f"{instance}/{quoted_id}" if isinstance(quoted_id, str) and quoted_id else None,
        hashtags=unique([t.name for t in status.tags]),
        mentions=unique(
            [m.acct if "@" in m.acct else f"{m.acct}@{instance}" for m in status.mentions if m.acct]
        ),
        links=unique([*links, card_url]),
        edited_at=edited_at,
    )


def wrap(instance: str, event: str, data: bytes) -> bytes:
    """The payload the Mastodon source emits: the received event data kept byte for byte.

    The data goes first so that our own keys come last and win over any the server might
    smuggle into it: a hostile instance cannot pass its posts off as another instance's.
    """
    tail = msgspec.json.encode({"instance": instance, "event": event})
    return b'{"data":' + data + b"," + tail[1:]
