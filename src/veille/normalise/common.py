"""Helpers shared by the platform mappers: decoding, errors, time, language tags, safe URLs, HTML.

Every mapper is pure: payload bytes in, a :class:`~veille.model.Post` out, or a
:class:`MappingError` that says what was wrong and where, so the pipeline quarantines that one
payload and goes on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import msgspec

from veille.normalise.registry import MappingError

__all__ = ["MappingError"]

T = TypeVar("T")

MAX_PAYLOAD_BYTES: Final = 4 * 1024 * 1024
"""No single post payload is larger than this; a larger one is refused, not parsed."""
MAX_HTML_CHARS: Final = 1024 * 1024

SAFE_SCHEMES: Final = frozenset({"http", "https"})


def decode(payload: bytes, kind: type[T], platform: str) -> T:
    """Decode ``payload`` as JSON into ``kind`` (a msgspec Struct), or raise MappingError."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MappingError(
            f"{platform}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes"
        )
    try:
        return msgspec.json.decode(payload, type=kind)
    except msgspec.ValidationError as exc:
        raise MappingError(f"{platform}: unexpected payload shape: {exc}") from None
    except msgspec.DecodeError as exc:
        raise MappingError(f"{platform}: payload is not valid JSON: {exc}") from None


def parse_time(value: str | float | int | None, platform: str, field: str) -> datetime | None:
    """An ISO 8601 string or a Unix epoch number as an aware UTC datetime (None stays None)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError) as exc:
        raise MappingError(f"{platform}: bad time in {field}: {value!r} ({exc})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_LANG_RE: Final = re.compile(r"^([a-zA-Z]{2,3})(?:[-_][0-9A-Za-z-]*)?$")


def lang_hint(tag: str | None) -> str:
    """The primary subtag of a BCP 47 tag, lower-cased (``en-US`` → ``en``); else ``""``."""
    if not tag:
        return ""
    match = _LANG_RE.match(tag.strip())
    return match.group(1).lower() if match else ""


_CONTROL_RE: Final = re.compile(r"[\x00-\x20\x7f]")


def safe_url(url: str | None) -> str:
    """``url`` if it is an absolute http(s) URL, else ``""``: a ``javascript:`` link never survives.

    Whitespace and control characters are removed first, as browsers do, so that
    ``java\\nscript:`` cannot slip through.
    """
    if not url:
        return ""
    cleaned = _CONTROL_RE.sub("", url)
    if len(cleaned) > 4096:
        return ""
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return ""
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.netloc:
        return ""
    return cleaned


def unique(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Values in first-seen order without duplicates or empties."""
    return tuple(dict.fromkeys(v for v in values if v))


class _TextExtractor(HTMLParser):
    """Collects the visible text and the safe link targets of an HTML fragment."""

    _BLOCK: Final = frozenset({"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "tr"})
    _SKIP: Final = frozenset({"script", "style", "template", "noscript", "iframe", "object"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag == "br" or (
            tag in self._BLOCK and self.parts and not self.parts[-1].endswith("\n")
        ):
            self.parts.append("\n")
        if tag == "a":
            attributes = dict(attrs)
            classes = (attributes.get("class") or "").split()
            # Mastodon marks links to profiles and tag pages; they are not shared links.
            if "mention" in classes or "hashtag" in classes:
                return
            href = safe_url(attributes.get("href"))
            if href:
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


_BLANK_LINES: Final = re.compile(r"\n{3,}")
_SPACES: Final = re.compile(r"[ \t\r\f\v]+")


def html_to_text(html: str) -> tuple[str, tuple[str, ...]]:
    """Plain text of an HTML fragment and its safe links; scripts and styles are dropped.

    The result is data, never markup: entities are decoded once and tags are gone, so the
    text is escaped like any other text wherever it is shown.
    """
    if len(html) > MAX_HTML_CHARS:
        html = html[:MAX_HTML_CHARS]
    if "<" not in html and "&" not in html:
        return html.strip(), ()
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip(), unique(parser.links)


def as_str(value: Any) -> str:
    """A JSON scalar as text (ids arrive as numbers on some platforms)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
