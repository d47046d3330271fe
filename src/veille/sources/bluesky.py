"""Bluesky through Jetstream: the public firehose as JSON over a websocket.

Resume: Jetstream replays from a ``cursor`` (Unix microseconds, ``time_us``) and cursors are
valid on every Jetstream host, so a failover to the next host resumes where the last one
stopped. As Jetstream advises, a resume rewinds a few seconds; the overlap is dropped by key.
When the first event after a resume is much newer than the cursor, the host no longer held the
missing window (its replay buffer is finite): that period is recorded as a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlencode, urlsplit

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from veille import __version__
from veille.clock import Clock, utcnow
from veille.config import BlueskySettings
from veille.model import RawItem
from veille.sources.base import Batch
from veille.sources.health import REGISTRY, HealthRegistry
from veille.sources.live import Backoff, RecentKeys, SourceError, Step, batches

PLATFORM: Final = "bluesky"
FAILOVER_AFTER: Final = 2
"""Consecutive failures on one host before trying the next."""


class _Commit(msgspec.Struct):
    collection: str = ""
    operation: str = ""
    rkey: str = ""
    rev: str = ""


class _Envelope(msgspec.Struct):
    kind: str = ""
    did: str = ""
    time_us: int = 0
    commit: _Commit | None = None


_envelope = msgspec.json.Decoder(_Envelope)


class BlueskySource:
    """Posts (and optionally reposts) from Jetstream, resumable by ``time_us``."""

    platform = PLATFORM

    def __init__(
        self,
        settings: BlueskySettings,
        name: str = "bluesky",
        registry: HealthRegistry = REGISTRY,
        clock: Clock = utcnow,
    ) -> None:
        if not settings.hosts:
            raise ValueError("sources.bluesky.hosts is empty: give at least one Jetstream URL")
        self.name = name
        self.settings = settings
        self.health = registry.tracker(name, PLATFORM, clock)
        self._clock = clock
        self._collections = frozenset(settings.collections)
        self.host = settings.hosts[0]

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Batches from ``cursor`` (a ``time_us``) or from live when None, until cancelled."""
        start = _parse_cursor(cursor)
        async for batch in batches(
            self._steps(start), self.settings.batch_size, self.settings.batch_delay
        ):
            self.health.cursor(batch.cursor)
            yield batch

    def url(self, host: str, cursor: int | None) -> str:
        """The subscribe URL for ``host``, with filters, size limit and cursor."""
        query: list[tuple[str, str]] = [("wantedCollections", c) for c in self.settings.collections]
        query += [("wantedDids", d) for d in self.settings.dids]
        query.append(("maxMessageSizeBytes", str(self.settings.max_message_bytes)))
        if cursor is not None:
            query.append(("cursor", str(cursor)))
        return f"{host}?{urlencode(query)}"

    async def _steps(self, cursor: int | None) -> AsyncIterator[Step]:
        settings = self.settings
        backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        seen = RecentKeys()
        host_index = 0
        host_failures = 0
        last = cursor
        while True:
            self.host = settings.hosts[host_index]
            resume = None if last is None else max(0, last - int(settings.rewind_seconds * 1e6))
            try:
                async with connect(
                    self.url(self.host, resume),
                    open_timeout=settings.timeout,
                    close_timeout=min(settings.timeout, 5.0),
                    max_size=2 * settings.max_message_bytes,
                    # Pings prove the link is alive when a filtered stream is quiet; a busy
                    # stream's pong waits behind the data, so it gets a generous deadline.
                    ping_interval=20.0,
                    ping_timeout=max(settings.timeout, 20.0),
                    user_agent_header=f"veille/{__version__}",
                ) as ws:
                    self.health.connected(urlsplit(self.host).netloc)
                    first = True
                    check_gap = last is not None and not settings.dids
                    # The unfiltered firehose never pauses: silence means a stalled host.
                    silence = None if settings.dids else settings.timeout
                    while True:
                        async with asyncio.timeout(silence):
                            message = await ws.recv(decode=False)
                        if first:
                            first = False
                            backoff.reset()
                            host_failures = 0
                        step, time_us = self._step(message, seen, last)
                        if time_us is not None:
                            if check_gap and last is not None:
                                self._check_gap(last, time_us)
                                check_gap = False
                            last = time_us if last is None else max(last, time_us)
                        yield step[0], (str(last) if last is not None else None)
            except (OSError, TimeoutError, WebSocketException, SourceError) as exc:
                error = f"{urlsplit(self.host).netloc}: {type(exc).__name__}: {exc}"
            delay = backoff.next()
            self.health.failed(error, delay)
            host_failures += 1
            if host_failures >= FAILOVER_AFTER and len(settings.hosts) > 1:
                host_index = (host_index + 1) % len(settings.hosts)
                host_failures = 0
            await asyncio.sleep(delay)

    def _step(
        self, message: bytes | str, seen: RecentKeys, last: int | None
    ) -> tuple[Step, int | None]:
        """The item for one frame (None when skipped or a replayed duplicate) and its time_us."""
        data = message.encode() if isinstance(message, str) else message
        now = self._clock()
        try:
            env = _envelope.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            # Unreadable frame: hand it over whole so the pipeline quarantines it with its error.
            self.health.events(1)
            return (self._item(data, now), None), None
        time_us = env.time_us if env.time_us > 0 else None
        commit = env.commit
        if env.kind != "commit" or commit is None or commit.collection not in self._collections:
            return (None, None), time_us
        key = (env.did, commit.collection, commit.rkey, commit.operation, commit.rev)
        if not seen.add(key):
            return (None, None), time_us
        created = datetime.fromtimestamp(time_us / 1e6, UTC) if time_us else None
        self.health.events(1, created)
        return (self._item(data, now), None), time_us

    def _item(self, data: bytes, now: datetime) -> RawItem:
        return RawItem(source=self.name, platform=PLATFORM, payload=data, received_at=now)

    def _check_gap(self, cursor: int, first: int) -> None:
        # The first event after a resume starts about ``rewind_seconds`` before the cursor
        # when the host still holds that window; much later means the window is gone.
        if first - cursor > self.settings.gap_seconds * 1e6:
            self.health.gap(
                datetime.fromtimestamp(cursor / 1e6, UTC),
                datetime.fromtimestamp(first / 1e6, UTC),
                f"Jetstream at {urlsplit(self.host).netloc} could not replay from the cursor",
            )


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    try:
        value = int(cursor)
    except ValueError:
        raise ValueError(f"bluesky cursor must be Unix microseconds, got {cursor!r}") from None
    if value < 0:
        raise ValueError(f"bluesky cursor must be positive, got {cursor!r}")
    return value
