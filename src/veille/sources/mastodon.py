"""Mastodon: one instance's public, hashtag or list timelines, streamed with a polling fallback.

Each configured stream is followed on its own: over server-sent events when the instance allows
it, else by polling the matching REST timeline. After any break the REST timeline is read from
the last status id seen (``min_id``) until caught up, so a reconnect loses nothing unless more
than ``max_catchup_pages`` pages went by, which is then recorded as a gap. The cursor holds the
last status id of every stream, as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec

from veille.clock import Clock, utcnow
from veille.config import MastodonInstance
from veille.model import RawItem
from veille.normalise.mastodon import wrap
from veille.sources import sse
from veille.sources.base import Batch
from veille.sources.health import REGISTRY, HealthRegistry
from veille.sources.http import client, lines, raise_for_status, read_limited
from veille.sources.live import Backoff, RecentKeys, SourceError, Step, batches

PLATFORM: Final = "mastodon"
PAGE: Final = 40
"""Mastodon's largest timeline page."""
NO_STREAMING: Final = frozenset({401, 403, 404, 405, 410, 422, 501})
"""Answers meaning the streaming API is closed to us: poll instead of retrying it."""


@dataclass(frozen=True)
class Stream:
    """One followed timeline: its streaming endpoint and its REST twin."""

    spec: str
    sse_path: str
    rest_path: str
    params: tuple[tuple[str, str], ...] = ()
    rest_params: tuple[tuple[str, str], ...] = ()


def parse_stream(spec: str) -> Stream:
    """The endpoints of a stream named like ``public:local`` or ``hashtag:police``."""
    kind, _, rest = spec.partition(":")
    if kind == "public" and rest in ("", "local", "remote"):
        sse_path = "/api/v1/streaming/public" + (f"/{rest}" if rest else "")
        flags = ((rest, "true"),) if rest else ()
        return Stream(spec, sse_path, "/api/v1/timelines/public", (), flags)
    if kind == "hashtag" and rest:
        local, _, tag = rest.partition(":") if rest.startswith("local:") else ("", "", rest)
        if tag and "/" not in tag:
            sse_path = "/api/v1/streaming/hashtag" + ("/local" if local else "")
            flags = (("local", "true"),) if local else ()
            return Stream(spec, sse_path, f"/api/v1/timelines/tag/{tag}", (("tag", tag),), flags)
    if kind == "list" and rest.isdigit():
        return Stream(
            spec, "/api/v1/streaming/list", f"/api/v1/timelines/list/{rest}", (("list", rest),)
        )
    raise ValueError(
        f"unknown Mastodon stream {spec!r}: use public, public:local, public:remote, "
        "hashtag:NAME, hashtag:local:NAME or list:ID"
    )


def id_key(status_id: str) -> tuple[int, str]:
    """Order of status ids: Mastodon's are numbers as strings, so longer means newer."""
    return (len(status_id), status_id)


class _Id(msgspec.Struct):
    id: str


class _Canonical(msgspec.Struct):
    uri: str = ""
    url: str | None = None
    edited_at: str | None = None


_id = msgspec.json.Decoder(_Id)
_page = msgspec.json.Decoder(list[msgspec.Raw])


class MastodonSource:
    """The configured streams of one Mastodon instance."""

    platform = PLATFORM

    def __init__(
        self,
        settings: MastodonInstance,
        name: str | None = None,
        registry: HealthRegistry = REGISTRY,
        clock: Clock = utcnow,
        shared: RecentKeys | None = None,
    ) -> None:
        parts = urlsplit(settings.url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"sources.mastodon url must be http(s)://host, got {settings.url!r}")
        self.settings = settings
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.instance = parts.netloc.lower()
        self.name = name or f"mastodon:{self.instance}"
        self.streams = [parse_stream(s) for s in settings.streams]
        self.health = registry.tracker(self.name, PLATFORM, clock)
        self._clock = clock
        self.shared = shared if shared is not None else RecentKeys()
        """Statuses already delivered, by canonical ``uri`` (and ``edited_at``): give every
        instance's source the same one, and a status several of them federate becomes one
        post (the first instance's) instead of one per instance."""
        self._streaming_base: str | None = None
        self.polling: set[str] = set()
        """Streams that fell back to polling because streaming is closed to us."""

    def _headers(self) -> dict[str, str]:
        token = os.environ.get(self.settings.token_env, "") if self.settings.token_env else ""
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Batches of every configured stream from ``cursor`` (JSON of last ids) or from now."""
        last = _parse_cursor(cursor)
        async for batch in batches(
            self._merged(last), self.settings.batch_size, self.settings.batch_delay
        ):
            self.health.cursor(batch.cursor)
            yield batch

    async def _merged(self, last: dict[str, str]) -> AsyncIterator[Step]:
        queue: asyncio.Queue[Step | BaseException] = asyncio.Queue(maxsize=4 * PAGE)
        seen = RecentKeys()
        async with client(self.settings.timeout, headers=self._headers()) as http:
            tasks = [
                asyncio.create_task(self._follow(http, stream, last, seen, queue))
                for stream in self.streams
            ]
            try:
                while True:
                    step = await queue.get()
                    if isinstance(step, BaseException):
                        raise step
                    yield step
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(BaseException):
                        await task

    async def _follow(
        self,
        http: httpx.AsyncClient,
        stream: Stream,
        last: dict[str, str],
        seen: RecentKeys,
        queue: asyncio.Queue[Step | BaseException],
    ) -> None:
        settings = self.settings
        backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        follower = _Follower(self, stream, last, seen, queue)
        try:
            while True:
                try:
                    if settings.streaming and stream.spec not in self.polling:
                        await self._listen(http, follower, backoff)
                        if stream.spec in self.polling:
                            continue
                        error, retry_after = f"{stream.spec}: the server ended the stream", None
                    else:
                        await self._catch_up(http, follower, None)
                        backoff.reset()
                        self.health.connected(f"polling {stream.spec}")
                        await asyncio.sleep(settings.poll_interval)
                        continue
                except (httpx.HTTPError, OSError, SourceError, msgspec.DecodeError) as exc:
                    error = f"{stream.spec}: {type(exc).__name__}: {exc}"
                    retry_after = exc.retry_after if isinstance(exc, SourceError) else None
                delay = max(backoff.next(), retry_after or 0.0)
                self.health.failed(error, delay)
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug: surface it through the stream, not silently
            await queue.put(exc)

    async def _catch_up(
        self, http: httpx.AsyncClient, follower: _Follower, until: _Mark | None
    ) -> None:
        """Read the REST timeline forward from the cursor (or its newest page when none).

        It stops when caught up, or when it reaches ``until.id``: the first status the live
        stream delivered, from which the stream covers what follows.
        """
        spec = follower.stream.spec
        since = follower.last.get(spec)
        for _ in range(self.settings.max_catchup_pages):
            params = [*follower.stream.rest_params, ("limit", str(PAGE))]
            if since:
                params.append(("min_id", since))
            url = f"{self.base}{follower.stream.rest_path}?{urlencode(params)}"
            async with http.stream("GET", url) as response:
                raise_for_status(response, f"{self.instance} {follower.stream.rest_path}")
                body = await read_limited(response, self.settings.max_message_bytes, url)
            page = sorted(
                ((_id.decode(raw).id, bytes(raw)) for raw in _page.decode(body)),
                key=lambda pair: id_key(pair[0]),
            )
            for status_id, data in page:
                await follower.emit("update", data, status_id, advance=True)
            if not page or since is None or len(page) < PAGE:
                return
            since = page[-1][0]
            covered = follower.covered_after(since)
            if covered:
                # an earlier connection streamed everything from here to ``covered``
                follower.advance(covered)
                since = covered
            if until is not None and until.id and id_key(since) >= id_key(until.id):
                return
        now = self._clock()
        self.health.gap(
            now,
            now,
            f"{spec}: more than {self.settings.max_catchup_pages} pages missed since status "
            f"{since}; the ones between were skipped",
        )

    async def _streaming_url(self, http: httpx.AsyncClient) -> str:
        if self._streaming_base is None:
            base = self.base
            with contextlib.suppress(httpx.HTTPError, msgspec.DecodeError, SourceError):
                response = await http.get(f"{self.base}/api/v2/instance")
                raise_for_status(response, "instance")
                info = msgspec.json.decode(response.content[: self.settings.max_message_bytes])
                urls = (
                    info.get("configuration", {}).get("urls", {}) if isinstance(info, dict) else {}
                )
                found = urls.get("streaming") if isinstance(urls, dict) else None
                if isinstance(found, str) and found.startswith(("ws://", "wss://", "http")):
                    base = found.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
            self._streaming_base = base.rstrip("/")
        return self._streaming_base

    async def _listen(self, http: httpx.AsyncClient, follower: _Follower, backoff: Backoff) -> None:
        """Stream events while the REST timeline fills in what came since the cursor.

        The stream has no replay, so the catch-up runs once the stream is open, side by side
        with it, up to the first status the stream delivers. Until it is done the cursor moves
        only with the catch-up, so a crash meanwhile never skips what it had not reached.
        """
        stream = follower.stream
        base = await self._streaming_url(http)
        query = f"?{urlencode(stream.params)}" if stream.params else ""
        url = f"{base}{stream.sse_path}{query}"
        async with http.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
            if response.status_code in NO_STREAMING:
                self.polling.add(stream.spec)
                self.health.connected(f"streaming refused (HTTP {response.status_code}): polling")
                return
            raise_for_status(response, f"{self.instance} streaming {stream.spec}")
            self.health.connected(f"streaming {stream.spec}")
            mark = _Mark()
            catch_up: asyncio.Task[None] | None = asyncio.create_task(
                self._catch_up(http, follower, mark)
            )
            newest = ""
            try:
                limit = self.settings.max_message_bytes
                async for event in sse.events(lines(response, limit, url), limit):
                    backoff.reset()
                    if catch_up is not None and catch_up.done():
                        catch_up.result()  # raises what made it fail
                        catch_up = None
                        follower.advance(newest)
                    if event is None or event.event not in ("update", "status.update", "delete"):
                        continue
                    status_id = _status_id(event.event, event.data)
                    if status_id and event.event == "update":
                        mark.id = mark.id or status_id
                        if not newest or id_key(status_id) > id_key(newest):
                            newest = status_id
                    await follower.emit(event.event, event.data, status_id, catch_up is None)
            finally:
                if catch_up is not None and mark.id and newest:
                    follower.covered.append((mark.id, newest))
                if catch_up is not None:
                    catch_up.cancel()
                    with contextlib.suppress(BaseException):
                        await catch_up


class _Mark:
    """The first status id the live stream delivered (empty until then)."""

    id: str = ""


class _Follower:
    """One stream's shared state: its cursor entry, the duplicate guard and the output queue."""

    def __init__(
        self,
        source: MastodonSource,
        stream: Stream,
        last: dict[str, str],
        seen: RecentKeys,
        queue: asyncio.Queue[Step | BaseException],
    ) -> None:
        self.source = source
        self.stream = stream
        self.last = last
        self.seen = seen
        self.queue = queue
        self.covered: deque[tuple[str, str]] = deque(maxlen=16)
        """Id ranges a stream delivered whole before its catch-up could reach them."""

    def covered_after(self, status_id: str) -> str:
        """The end of a covered range that ``status_id`` falls in, else ``""``."""
        key = id_key(status_id)
        ends = [end for start, end in self.covered if id_key(start) <= key < id_key(end)]
        return max(ends, key=id_key) if ends else ""

    def advance(self, status_id: str) -> None:
        """Move this stream's cursor forward to ``status_id`` (never back)."""
        spec = self.stream.spec
        if status_id and (spec not in self.last or id_key(status_id) > id_key(self.last[spec])):
            self.last[spec] = status_id

    async def emit(self, event: str, data: bytes, status_id: str, advance: bool) -> None:
        """Queue one event unless it was already delivered; move the cursor if allowed."""
        # A status arrives once by REST and once by stream; every edit is news.
        key = (event, status_id) if event == "update" and status_id else (event, data)
        canonical = _canonical(event, data)
        if not self.seen.add(key) or (canonical and not self.source.shared.add(canonical)):
            if advance and event == "update":
                self.advance(status_id)
            return
        if advance and event == "update":
            self.advance(status_id)
        source = self.source
        source.health.events(1)
        item = RawItem(
            source=source.name,
            platform=PLATFORM,
            payload=wrap(source.instance, event, data),
            received_at=source._clock(),
        )
        await self.queue.put((item, msgspec.json.encode(self.last).decode()))


def _canonical(event: str, data: bytes) -> tuple[str, str] | None:
    """A status's identity across instances (its ActivityPub ``uri``) and version, if any."""
    if event == "delete":
        return None  # a delete names a local id only
    try:
        found = msgspec.json.decode(data, type=_Canonical)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    uri = found.uri or found.url or ""
    return (uri, found.edited_at or "") if uri else None


def _status_id(event: str, data: bytes) -> str:
    if event == "delete":
        return ""
    try:
        return _id.decode(data).id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""  # handed over whole: the mapper names the problem and it is quarantined


def _parse_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        value = msgspec.json.decode(cursor, type=dict[str, str])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ValueError(f"mastodon cursor must be a JSON object of ids, got {cursor!r}") from None
    return value
