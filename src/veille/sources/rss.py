"""RSS, Atom and JSON Feed: news sites and blogs, each feed fetched at its own interval.

veille fetches the bytes itself (conditional GET with ETag/Last-Modified, a size limit, no
redirect to or address in a private network unless allowed) and only then hands them to
feedparser, or to the small JSON Feed reader here. Entries already seen are dropped by id; the
cursor keeps, per feed, the validators and the recent entry ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx
import msgspec
import orjson

from veille.clock import Clock, utcnow
from veille.config import Feed, RssSettings
from veille.model import RawItem
from veille.sources.base import Batch
from veille.sources.health import REGISTRY, HealthRegistry
from veille.sources.http import client, raise_for_status, read_limited
from veille.sources.live import Backoff, SourceError, Step, batches

PLATFORM: Final = "rss"
MAX_REDIRECTS: Final = 5
MAX_ENTRIES: Final = 1000


class FeedState(msgspec.Struct, omit_defaults=True):
    """What is remembered of one feed between fetches."""

    etag: str = ""
    modified: str = ""
    seen: list[str] = msgspec.field(default_factory=list)


async def check_address(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{url}: only http(s) feed addresses are fetched")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except OSError as exc:
        raise SourceError(f"{url}: cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise SourceError(
                f"{url}: {parts.hostname} resolves to the non-public address {address}; "
                "set sources.rss.allow_private to fetch it"
            )


async def fetch(
    http: httpx.AsyncClient, url: str, state: FeedState, settings: RssSettings
) -> tuple[bytes, dict[str, str]] | None:
    """The feed's bytes and headers, or None when unchanged (304). Redirects are re-checked."""
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
        "application/json;q=0.9, application/xml;q=0.8, */*;q=0.5"
    }
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.modified:
        headers["If-Modified-Since"] = state.modified
    for _ in range(MAX_REDIRECTS + 1):
        await check_address(url, settings.allow_private)
        try:
            fetched = await _get(http, url, headers, settings.max_message_bytes)
        except httpx.InvalidURL as exc:  # e.g. a redirect to javascript:
            raise SourceError(f"{url}: refused a bad address or redirect: {exc}") from None
        if not isinstance(fetched, str):
            return fetched
        url = fetched
    raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")


async def _get(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int
) -> tuple[bytes, dict[str, str]] | str | None:
    """One request: the body and headers, the next URL of a redirect, or None when unchanged."""
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("location", "")
            if not location:
                raise SourceError(f"{url}: redirect without a Location")
            return str(urljoin(url, location))
        if response.status_code == 304:
            return None
        raise_for_status(response, url)
        body = await read_limited(response, limit, url)
        found = {k.lower(): v for k, v in response.headers.items()}
    # the base for relative links: resolved here, and never a non-http(s) scheme
    location = urljoin(url, found.get("content-location", "").strip())
    found["content-location"] = location if location.startswith("http") else url
    return body, found


def parse_feed(body: bytes, headers: dict[str, str]) -> feedparser.FeedParserDict:
    """Parse feed bytes veille fetched itself: JSON Feed here, everything else by feedparser."""
    kind = headers.get("content-type", "")
    if "json" in kind or body.lstrip()[:1] == b"{":
        return parse_json_feed(body)
    return feedparser.parse(
        body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True
    )


def parse_json_feed(body: bytes) -> feedparser.FeedParserDict:
    """A JSON Feed (1.0/1.1) in feedparser's shape, so both kinds map the same way."""
    result = feedparser.FeedParserDict(bozo=False, entries=[], feed=feedparser.FeedParserDict())
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        result["bozo"] = True
        result["bozo_exception"] = exc
        return result
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        result["bozo"] = True
        result["bozo_exception"] = ValueError("not a JSON Feed (no jsonfeed.org version)")
        return result
    feed = result["feed"]
    feed["title"] = _s(doc.get("title"))
    feed["link"] = _s(doc.get("home_page_url"))
    feed["language"] = _s(doc.get("language"))
    result["version"] = "json1"
    for raw in doc.get("items", [])[:MAX_ENTRIES] if isinstance(doc.get("items"), list) else []:
        if not isinstance(raw, dict):
            continue
        author = raw.get("author") or (raw.get("authors") or [{}])[0]
        html = _s(raw.get("content_html"))
        entry = feedparser.FeedParserDict(
            id=_s(raw.get("id")),
            link=_s(raw.get("url")),
            title=_s(raw.get("title")),
            summary=feedparser.sanitizer._sanitize_html(html, "utf-8", "text/html")
            if html
            else _s(raw.get("content_text")) or _s(raw.get("summary")),
            published=_s(raw.get("date_published")),
            updated=_s(raw.get("date_modified")),
            author=_s(author.get("name")) if isinstance(author, dict) else "",
            tags=[{"term": t} for t in raw.get("tags", []) if isinstance(t, str)],
            language=_s(raw.get("language")),
        )
        result["entries"].append(entry)
    return result


def _s(value: object) -> str:
    return value if isinstance(value, str) else ""


def _iso(parsed: Any) -> str:
    if not parsed:
        return ""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)
    except (TypeError, ValueError):
        return ""


def entry_payloads(result: feedparser.FeedParserDict, feed_url: str) -> list[tuple[str, bytes]]:
    """Each entry of a parsed feed as ``(entry id, JSON payload)`` for the rss mapper."""
    feed = result.get("feed", {})
    language = _s(feed.get("language"))
    out: list[tuple[str, bytes]] = []
    for entry in result.get("entries", [])[:MAX_ENTRIES]:
        content = entry.get("content") or []
        body = _s(content[0].get("value")) if content and isinstance(content[0], dict) else ""
        summary = _s(entry.get("summary"))
        link = _s(entry.get("link"))
        title = _s(entry.get("title"))
        entry_id = _s(entry.get("id")) or link
        if not entry_id:
            digest = hashlib.sha256(f"{title}\n{summary}\n{body}".encode()).hexdigest()[:24]
            entry_id = f"sha256:{digest}"
        payload = {
            "feed": feed_url,
            "feed_title": _s(feed.get("title")),
            "id": entry_id,
            "link": link,
            "title": title,
            "summary": summary,
            "content": body if body != summary else "",
            "published": _iso(entry.get("published_parsed")) or _s(entry.get("published")),
            # dict.get: feedparser's own get maps "updated" to "published" with a warning
            "updated": _iso(dict.get(entry, "updated_parsed")) or _s(dict.get(entry, "updated")),
            "author": _s(entry.get("author")),
            "tags": [_s(t.get("term")) for t in entry.get("tags", []) if isinstance(t, dict)],
            "language": _s(entry.get("language")) or language,
        }
        out.append((entry_id, orjson.dumps(payload)))
    return out


class RssSource:
    """Every configured feed, each fetched at its own interval."""

    platform = PLATFORM

    def __init__(
        self,
        settings: RssSettings,
        name: str = "rss",
        registry: HealthRegistry = REGISTRY,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.name = name
        self.health = registry.tracker(name, PLATFORM, clock)
        self._clock = clock

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Batches of new entries of every feed, fetching until cancelled."""
        states = _parse_cursor(cursor)
        async for batch in batches(
            self._steps(states), self.settings.batch_size, self.settings.batch_delay
        ):
            self.health.cursor(f"{len(states)} feeds")
            yield batch

    async def _steps(self, states: dict[str, FeedState]) -> AsyncIterator[Step]:
        settings = self.settings
        due = {feed.url: 0.0 for feed in settings.feeds}
        backoffs = {
            feed.url: Backoff(settings.backoff_initial, settings.backoff_max)
            for feed in settings.feeds
        }
        async with client(settings.timeout, user_agent=settings.user_agent) as http:
            while True:
                now = time.monotonic()
                for feed in settings.feeds:
                    if due[feed.url] > now:
                        continue
                    state = states.setdefault(feed.url, FeedState())
                    validators = (state.etag, state.modified)
                    try:
                        steps = await self._poll(http, feed, state)
                    except (httpx.HTTPError, OSError, SourceError) as exc:
                        delay = max(
                            backoffs[feed.url].next(),
                            exc.retry_after or 0.0 if isinstance(exc, SourceError) else 0,
                        )
                        self.health.failed(f"{feed.url}: {type(exc).__name__}: {exc}", delay)
                        due[feed.url] = time.monotonic() + delay
                        continue
                    backoffs[feed.url].reset()
                    due[feed.url] = time.monotonic() + feed.interval
                    for item in steps:
                        yield item, msgspec.json.encode(states).decode()
                    if not steps and validators != (state.etag, state.modified):
                        # nothing new, but new validators: commit them so a restart sends them
                        yield None, msgspec.json.encode(states).decode()
                wait = min(due.values(), default=now + 60) - time.monotonic()
                await asyncio.sleep(max(wait, 0.01))

    async def _poll(self, http: httpx.AsyncClient, feed: Feed, state: FeedState) -> list[RawItem]:
        fetched = await fetch(http, feed.url, state, self.settings)
        self.health.connected(feed.url)
        if fetched is None:
            return []
        body, headers = fetched
        state.etag = headers.get("etag", "")[:200]
        state.modified = headers.get("last-modified", "")[:100]
        result = parse_feed(body, headers)
        seen = set(state.seen)
        items = []
        for entry_id, payload in entry_payloads(result, feed.url):
            if entry_id in seen:
                continue
            seen.add(entry_id)
            state.seen.append(entry_id)
            items.append(
                RawItem(
                    source=self.name, platform=PLATFORM, payload=payload, received_at=self._clock()
                )
            )
        del state.seen[: max(0, len(state.seen) - self.settings.seen_ids)]
        self.health.events(len(items))
        return items


def _parse_cursor(cursor: str | None) -> dict[str, FeedState]:
    if not cursor:
        return {}
    try:
        return msgspec.json.decode(cursor, type=dict[str, FeedState])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ValueError(
            f"rss cursor must be a JSON object of feed states: {cursor[:80]!r}"
        ) from None
