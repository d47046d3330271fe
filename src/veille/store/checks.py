"""What the store accepts: bounds on every field, text both engines can keep, and how a refused
post or an oversized quarantined record is recorded instead."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

import msgspec

from veille.model import Post, Quarantined

MAX_PLATFORM: Final = 64
MAX_ID: Final = 512
MAX_URL: Final = 8192
MAX_TEXT: Final = 100_000
MAX_RAW: Final = 1_000_000
MAX_LIST: Final = 1000
MAX_PAYLOAD: Final = 1_000_000
"""Bounds of what the store accepts; a post over a bound is quarantined with a clear error."""


def storable_python(*values: str | None) -> bool:
    """True when no value holds a NUL or a lone surrogate (``None`` counts as empty)."""
    joined = "".join(value for value in values if value)
    return "\x00" not in joined and (joined.isascii() or _text_error(joined) is None)


def storable_payload_python(payload: bytes, limit: int = MAX_RAW) -> bool:
    """True when ``payload`` is well-formed UTF-8 without NUL, at most ``limit`` bytes: the raw
    copy of a post mapped from it is then the payload itself (see :func:`raw_of`)."""
    if len(payload) > limit or b"\x00" in payload:
        return False
    if payload.isascii():
        return True
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


try:
    # The same answers, and it leaves each string's UTF-8 form cached with the string: the
    # worker's msgpack encoder and the SQLite driver then reuse it (see _textcheck.c).
    from veille.store._textcheck import (  # type: ignore[import-not-found]
        storable as storable,
    )
    from veille.store._textcheck import (
        storable_payload as storable_payload,
    )
except ImportError:  # pragma: no cover - pip install -e . builds it
    storable = storable_python
    storable_payload = storable_payload_python

COMPILED: Final = storable is not storable_python


def raw_of(payload: bytes) -> str:
    """The raw copy kept of a post mapped from ``payload``: its text, bytes that are not UTF-8
    replaced by U+FFFD."""
    return payload.decode("utf-8", errors="replace")


def check_post(post: Post) -> str | None:
    """Why the store refuses ``post`` (a bound exceeded, text it cannot keep), or ``None``."""
    author = post.author
    if (
        0 < len(post.platform) <= MAX_PLATFORM
        and 0 < len(post.native_id) <= MAX_ID
        and len(post.text) <= MAX_TEXT
        and len(post.raw) <= MAX_RAW
        and len(post.url) <= MAX_URL
        and len(author.id) <= MAX_ID
        and len(author.handle) <= MAX_ID
        and len(author.display_name) <= MAX_ID
        and len(post.lang) <= 16
        and len(post.lang_hint) <= 16
        and len(post.reply_to or "") <= MAX_ID
        and len(post.root_id or "") <= MAX_ID
        and len(post.quote_of or "") <= MAX_ID
        and len(post.repost_of or "") <= MAX_ID
        and len(post.hashtags) <= MAX_LIST
        and len(post.mentions) <= MAX_LIST
        and len(post.links) <= MAX_LIST
        and (author.followers is None or 0 <= author.followers < 2**63)
    ):
        # The common case: every field within bounds; one pass over all the text decides.
        items = (*post.hashtags, *post.mentions, *post.links)
        if storable(
            post.platform,
            post.native_id,
            post.text,
            post.raw,
            post.url,
            author.id,
            author.handle,
            author.display_name,
            post.lang,
            post.lang_hint,
            post.reply_to,
            post.root_id,
            post.quote_of,
            post.repost_of,
            *items,
        ) and (not items or max(map(len, items)) <= MAX_URL):
            return None
    return _explain(post)


def _explain(post: Post) -> str | None:
    """The first problem of a post that failed the fast check, in words."""
    if not post.platform or len(post.platform) > MAX_PLATFORM:
        return f"platform must have 1 to {MAX_PLATFORM} characters"
    if not post.native_id:
        return "native_id is empty"
    for name, value, limit in (
        ("native_id", post.native_id, MAX_ID),
        ("reply_to", post.reply_to, MAX_ID),
        ("root_id", post.root_id, MAX_ID),
        ("quote_of", post.quote_of, MAX_ID),
        ("repost_of", post.repost_of, MAX_ID),
        ("author.id", post.author.id, MAX_ID),
        ("author.handle", post.author.handle, MAX_ID),
        ("author.display_name", post.author.display_name, MAX_ID),
        ("url", post.url, MAX_URL),
        ("lang", post.lang, 16),
        ("lang_hint", post.lang_hint, 16),
        ("text", post.text, MAX_TEXT),
        ("raw", post.raw, MAX_RAW),
    ):
        if value is None:
            continue
        if len(value) > limit:
            return f"{name} is {len(value)} characters long (limit {limit})"
        error = _text_error(value)
        if error:
            return f"{name} {error}"
    lists = (("hashtags", post.hashtags), ("mentions", post.mentions), ("links", post.links))
    for name, items in lists:
        if len(items) > MAX_LIST:
            return f"{name} has {len(items)} entries (limit {MAX_LIST})"
        for item in items:
            if len(item) > MAX_URL:
                return f"{name} entry is {len(item)} characters long (limit {MAX_URL})"
            error = _text_error(item)
            if error:
                return f"{name} entry {error}"
    followers = post.author.followers
    if followers is not None and not 0 <= followers < 2**63:
        return f"author.followers {followers} is out of range"
    return None


def _text_error(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (PostgreSQL cannot store it)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"is not valid Unicode at character {exc.start} (lone surrogate)"
    return None


def refusal(post: Post, error: str, source: str, now: datetime) -> Quarantined:
    payload = post.raw.encode("utf-8", "backslashreplace") if post.raw else b""
    if not payload:
        # ensure_ascii escapes lone surrogates, so even a refused text survives as JSON.
        payload = json.dumps(msgspec.to_builtins(post), ensure_ascii=True).encode()
    return Quarantined(
        source=source,
        stage="store",
        error=f"post {post.platform[:MAX_PLATFORM]}:{post.native_id[:MAX_ID]!r}: {error}",
        payload=payload,
        at=now,
        platform=post.platform[:MAX_PLATFORM],
    )


def quarantine_row(q: Quarantined) -> dict[str, Any]:
    payload = q.payload
    error = q.error
    if len(payload) > MAX_PAYLOAD:
        error = f"{error} [payload cut from {len(payload)} to {MAX_PAYLOAD} bytes]"
        payload = payload[:MAX_PAYLOAD]
    return {
        "source": _clean(q.source),
        "stage": q.stage,
        "platform": _clean(q.platform),
        "error": _clean(error),
        "payload": payload,
        "at": q.at,
    }


def _clean(value: str) -> str:
    """Text that both engines can store: NULs and lone surrogates made visible, not fatal."""
    if _text_error(value) is None:
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
