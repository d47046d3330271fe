"""The generic JSON post: what the replay source and the HTTP ingest endpoint accept by default.

One JSON object per post; only ``id`` is required, unknown fields are ignored::

    {"id": "42", "text": "Merci à la #police de Liège", "lang": "fr",
     "author": {"id": "7", "handle": "anne", "display_name": "Anne", "followers": 120},
     "created_at": "2026-03-01T12:00:00Z", "url": "https://example.org/42",
     "reply_to": "41", "root_id": "40", "quote_of": null, "repost_of": null,
     "hashtags": ["police"], "mentions": [], "links": [], "edited_at": null, "deleted": false,
     "platform": "forum"}

``author`` may also be a plain handle string; ``native_id`` is accepted for ``id`` (so veille's
own Post JSON replays as is); times are RFC 3339 (UTC when no offset is given) or seconds since
the epoch (milliseconds when above 10^11). Hashtags, mentions and links are taken from the text
when the payload does not list them. ``lang`` is the declared language: a hint, kept in
``Post.lang_hint``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import msgspec

from veille.model import Author, Post, RawItem
from veille.normalise.registry import MappingError

Id = str | int


class _AuthorIn(msgspec.Struct):
    id: Id = ""
    handle: str = ""
    display_name: str = ""
    name: str = ""
    followers: int | None = None


Time = datetime | float | None


class GenericPost(msgspec.Struct):
    """The accepted shape, decoded straight from bytes by msgspec (typed, no dict in between)."""

    id: Id | None = None
    native_id: Id | None = None
    platform: str = ""
    text: str = ""
    author: str | _AuthorIn | None = None
    url: str = ""
    lang: str = ""
    created_at: Time = None
    reply_to: Id | None = None
    root_id: Id | None = None
    quote_of: Id | None = None
    repost_of: Id | None = None
    hashtags: list[str] | None = None
    mentions: list[str] | None = None
    links: list[str] | None = None
    edited_at: Time = None
    deleted: bool = False


_decoder = msgspec.json.Decoder(GenericPost)

# ``#tag`` and ``@handle`` not preceded by a word character or another sigil. The patterns
# start with their sigil so the regex engine jumps from sigil to sigil; the preceding character
# is tested apart (a leading look-behind made the engine try every position: ~6x slower).
_HASHTAG = re.compile(r"#(\w[\w-]*)")
_MENTION = re.compile(r"@(\w[\w.-]*(?:@[\w-]+(?:\.[\w-]+)+)?)")
_GLUED = {"#": re.compile(r"[\w#]"), "@": re.compile(r"[\w@]")}
_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_LINK_TAIL = ".,;:!?)]}'\""
_MAX_ID = 512
_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
"""``\u0000`` escapes, not the text ``\\u0000`` (an escaped backslash, then ``u0000``)."""
_MILLIS_ABOVE = 1e11
_BACKSLASH = ord("\\")


def map_generic(item: RawItem) -> Post:
    """Decode one generic JSON post; ``MappingError`` says which field is wrong and why."""
    payload = item.payload
    # ``bytes in bytes`` first tries the needle as an int and raises inside (an exception per
    # post); an int needle is a plain memchr, and most payloads hold no backslash at all.
    if _BACKSLASH in payload and payload.find(b"\\u0000") >= 0:
        # NUL is legal JSON but PostgreSQL refuses it in text: decode it as a visible U+FFFD.
        payload = _NUL.sub(lambda found: found[1] + b"\\ufffd", payload)
    try:
        data = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise MappingError(f"generic post: {exc}") from None
    except msgspec.DecodeError as exc:
        raise MappingError(f"payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise MappingError("payload is not valid JSON: nested too deeply") from None
    native_id = _id(data.native_id if data.id is None else data.id, "id")
    if native_id is None:
        raise MappingError("generic post: `id` is required (a string or an integer)")
    text = data.text
    # The checks "is None" and "in text" before the helpers spare a Python call for each
    # field a post does not have, which is most of them.
    given = data.hashtags
    hashtags = () if given is None and "#" not in text else _listed(given, "#", _HASHTAG, text)
    given = data.mentions
    mentions = () if given is None and "@" not in text else _listed(given, "@", _MENTION, text)
    links = () if data.links is None and "://" not in text else _links(data.links, text)
    post = Post(
        platform=data.platform or item.platform,
        native_id=native_id,
        text=text,
        author=_author(data.author),
        url=data.url,
        lang_hint=data.lang.lower()[:16] if data.lang else "",
        created_at=_time(data.created_at, "created_at"),
        received_at=item.received_at,
        reply_to=None if data.reply_to is None else _id(data.reply_to, "reply_to"),
        root_id=None if data.root_id is None else _id(data.root_id, "root_id"),
        hashtags=hashtags,
        mentions=mentions,
        links=links,
        deleted=data.deleted,
    )
    # Past 15 keyword arguments CPython builds a dict for the call and the struct is filled
    # from it (7,400 machine instructions per post, callgrind): the rarer fields are set after.
    if data.quote_of is not None:
        post.quote_of = _id(data.quote_of, "quote_of")
    if data.repost_of is not None:
        post.repost_of = _id(data.repost_of, "repost_of")
    if data.edited_at is not None:
        post.edited_at = _time(data.edited_at, "edited_at")
    return post


def _id(value: Id | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_ID:
        raise MappingError(f"generic post: `{field}` is longer than {_MAX_ID} characters")
    return text


def _author(value: str | _AuthorIn | None) -> Author:
    if value is None:
        return Author()
    if isinstance(value, str):
        return Author(handle=value)
    if value.followers is not None and not 0 <= value.followers < 1 << 63:
        raise MappingError("generic post: `author.followers` must be between 0 and 2^63")
    return Author(
        id=value.id if isinstance(value.id, str) else str(value.id),
        handle=value.handle,
        display_name=value.display_name or value.name,
        followers=value.followers,
    )


def _time(value: Time, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    seconds = value / 1000 if value > _MILLIS_ABOVE else value
    try:
        if not math.isfinite(seconds):
            raise ValueError("not a finite number")
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise MappingError(f"generic post: `{field}` {value!r} is not a time: {exc}") from None


def _listed(
    given: list[str] | None, sigil: str, pattern: re.Pattern[str], text: str
) -> tuple[str, ...]:
    if given is not None:
        return tuple(v.removeprefix(sigil) for v in given if v.strip(sigil))
    if sigil not in text:
        return ()
    glued = _GLUED[sigil]
    found: list[str] = []
    at = 0
    while m := pattern.search(text, at):
        start = m.start()
        if start and glued.match(text, start - 1):
            at = start + 1  # not a tag here; one may still start inside this match
        else:
            found.append(m[1])
            at = m.end()
    return tuple(dict.fromkeys(found))


def _links(given: list[str] | None, text: str) -> tuple[str, ...]:
    if given is not None:
        return tuple(v for v in given if v)
    if "://" not in text:
        return ()
    return tuple(dict.fromkeys(m.rstrip(_LINK_TAIL) for m in _LINK.findall(text)))
