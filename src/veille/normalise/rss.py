"""RSS, Atom and JSON Feed: one entry, as the rss source wrote it, → Post.

An entry's id is kept as the native id when it is a URI (``http…``, ``tag:``, ``urn:``), which
feeds promise to be globally unique; a bare id (``"42"``) is only unique within its feed, so it
is prefixed with the feed's address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

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

PLATFORM: Final = "rss"


class _Entry(msgspec.Struct):
    feed: str
    id: str
    link: str = ""
    title: str = ""
    summary: str = ""
    content: str = ""
    published: str = ""
    updated: str = ""
    author: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    language: str = ""


def to_post(item: RawItem) -> Post:
    """Map one feed entry; its text is the title and the entry's text without markup."""
    entry = decode(item.payload, _Entry, PLATFORM)
    if not entry.id or not entry.feed:
        raise MappingError("rss: entry without an id or a feed address")
    native_id = entry.id if ":" in entry.id and " " not in entry.id else f"{entry.feed}#{entry.id}"
    title, _ = html_to_text(entry.title)
    summary, summary_links = html_to_text(entry.summary)
    content, content_links = html_to_text(entry.content)
    text = "\n\n".join(part for part in (title, summary, content) if part)
    published = _time(entry.published, entry.id, "published")
    updated = _time(entry.updated, entry.id, "updated")
    link = safe_url(entry.link)
    return Post(
        platform=PLATFORM,
        native_id=native_id,
        text=text,
        author=Author(handle=entry.author[:200], display_name=entry.author[:200]),
        url=link,
        lang_hint=lang_hint(entry.language),
        created_at=published or updated,
        received_at=item.received_at,
        hashtags=unique([t.strip() for t in entry.tags if t.strip()][:50]),
        links=unique([link, *summary_links, *content_links]),
        edited_at=updated if published and updated and updated != published else None,
    )


def _time(value: str, entry_id: str, field: str) -> datetime | None:
    # Feed dates are often garbage; a bad date loses the date, not the entry.
    try:
        return parse_time(value, PLATFORM, f"entry {entry_id[:80]} {field}")
    except MappingError:
        return None
