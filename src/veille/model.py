"""The records that flow between stages.

Every stage exchanges these plain typed records and nothing else; a record crosses a process
boundary as JSON (msgspec) of exactly this shape. This module imports no stage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "low", "medium", "high", "critical")

Span = tuple[int, int]
"""A half-open ``[start, end)`` range of character offsets in a post's original text."""


class Author(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who wrote a post, as far as the platform tells us."""

    id: str = ""
    handle: str = ""
    display_name: str = ""
    followers: int | None = None


class RawItem(msgspec.Struct, frozen=True, kw_only=True):
    """A payload exactly as a source received it, before any interpretation.

    Keeping the raw bytes until normalisation means a payload that fails to map can be
    quarantined whole, with its error, instead of being lost.
    """

    source: str
    """Name of the configured source instance, e.g. ``"replay"`` or ``"mastodon:example"``."""
    platform: str
    """Which mapping in ``normalise`` turns this payload into a Post: ``generic``, ``bluesky`` …"""
    payload: bytes
    received_at: datetime


class Post(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One public post (or comment, reply, article) in the platform-neutral shape.

    Its identity is ``(platform, native_id)``: storing is an upsert on that key.
    Thread fields hold *native ids* on the same platform.
    """

    platform: str
    native_id: str
    text: str = ""
    author: Author = Author()
    url: str = ""
    lang: str = ""
    """Language veille settled on (ISO 639-1, ``und`` when unsure, empty before detection)."""
    lang_hint: str = ""
    """Language the platform or author declared: a hint, not the truth."""
    created_at: datetime | None = None
    received_at: datetime | None = None
    reply_to: str | None = None
    root_id: str | None = None
    quote_of: str | None = None
    repost_of: str | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    edited_at: datetime | None = None
    deleted: bool = False
    raw: str = ""
    """The source payload this post was mapped from (JSON or XML text), kept for audit."""

    @property
    def key(self) -> tuple[str, str]:
        """The identity of the post across the whole system."""
        return (self.platform, self.native_id)


class Match(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A watch rule matched a post; spans explain why, for highlighting."""

    rule: str
    version: int
    spans: tuple[Span, ...] = ()
    """Merged spans of every term that contributed, in the original text."""
    terms: dict[str, tuple[Span, ...]] = {}
    """The explanation: for each query term that matched, where it matched."""
    backfilled: bool = False
