"""Reddit: new submissions and comments of chosen subreddits, polled through the OAuth API.

Each poll reads the newest page of ``/r/A+B/new`` (and ``/comments``) and pages back with
``after`` until it meets the last item already delivered, so nothing between two polls is
missed unless more than ``max_pages`` pages went by (then a gap is recorded). Reddit's rate-limit
headers are obeyed: when the budget of the current window is spent the source waits for its
reset. The cursor holds the newest id delivered per listing, as JSON.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Final

import httpx
import msgspec

from veille.clock import Clock, utcnow
from veille.config import RedditSettings
from veille.model import RawItem
from veille.sources.base import Batch
from veille.sources.health import REGISTRY, HealthRegistry
from veille.sources.http import client, raise_for_status, read_limited
from veille.sources.live import Backoff, RecentKeys, SourceError, Step, batches

PLATFORM: Final = "reddit"
PAGE: Final = 100


class _Child(msgspec.Struct):
    kind: str
    data: dict[str, object]


class _ListingData(msgspec.Struct):
    children: list[msgspec.Raw] = msgspec.field(default_factory=list)
    after: str | None = None


class _Listing(msgspec.Struct):
    data: _ListingData


_listing = msgspec.json.Decoder(_Listing)
_child_id = msgspec.json.Decoder(_Child)


def id_number(base36: str) -> int:
    """Reddit ids are base-36 counters: a larger number is a newer item."""
    try:
        return int(base36, 36)
    except ValueError:
        return -1


class RateBudget:
    """What is left of Reddit's rate-limit window, from its ``X-Ratelimit-*`` headers."""

    def __init__(self) -> None:
        self.remaining: float | None = None
        self.reset_at = 0.0

    def update(self, headers: httpx.Headers) -> None:
        """Record the budget a response reports."""
        try:
            remaining = headers.get("x-ratelimit-remaining")
            reset = headers.get("x-ratelimit-reset")
            if remaining is not None and reset is not None:
                self.remaining = float(remaining)
                self.reset_at = time.monotonic() + min(float(reset), 3600.0)
        except ValueError:
            pass  # malformed headers: fall back to backoff on 429

    def wait(self) -> float:
        """Seconds to wait before the next request so the budget is never overdrawn."""
        if self.remaining is None or self.remaining >= 1:
            return 0.0
        return max(0.0, self.reset_at - time.monotonic())


class RedditSource:
    """New posts (and comments) of the configured subreddits."""

    platform = PLATFORM

    def __init__(
        self,
        settings: RedditSettings,
        name: str = "reddit",
        registry: HealthRegistry = REGISTRY,
        clock: Clock = utcnow,
    ) -> None:
        if not settings.subreddits:
            raise ValueError("sources.reddit.subreddits is empty")
        self.settings = settings
        self.name = name
        self.health = registry.tracker(name, PLATFORM, clock)
        self._clock = clock
        self.budget = RateBudget()
        self._token = ""
        self._token_expires = 0.0
        subs = "+".join(s.removeprefix("r/") for s in settings.subreddits)
        self.listings = {"new": f"/r/{subs}/new"}
        if settings.comments:
            self.listings["comments"] = f"/r/{subs}/comments"

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Batches of new items since ``cursor`` (JSON of newest ids), polling until cancelled."""
        last = _parse_cursor(cursor)
        async for batch in batches(
            self._steps(last), self.settings.batch_size, self.settings.batch_delay
        ):
            self.health.cursor(batch.cursor)
            yield batch

    async def _steps(self, last: dict[str, str]) -> AsyncIterator[Step]:
        settings = self.settings
        backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        seen = RecentKeys()
        async with client(settings.timeout, user_agent=settings.user_agent) as http:
            while True:
                try:
                    for listing, path in self.listings.items():
                        for data in await self._poll(http, listing, path, last):
                            child = _child_id.decode(data)
                            name = f"{child.kind}_{child.data.get('id', '')}"
                            if not seen.add(name):
                                continue
                            created = child.data.get("created_utc")
                            when = (
                                _utc(float(created)) if isinstance(created, int | float) else None
                            )
                            self.health.events(1, when)
                            item = RawItem(
                                source=self.name,
                                platform=PLATFORM,
                                payload=data,
                                received_at=self._clock(),
                            )
                            yield item, msgspec.json.encode(last).decode()
                    backoff.reset()
                    self.health.connected(f"polled {', '.join(self.listings)}")
                    await asyncio.sleep(settings.poll_interval)
                except (
                    httpx.HTTPError,
                    OSError,
                    SourceError,
                    msgspec.DecodeError,
                    msgspec.ValidationError,
                ) as exc:
                    delay = max(
                        backoff.next(),
                        exc.retry_after or 0.0 if isinstance(exc, SourceError) else 0.0,
                    )
                    self.health.failed(f"{type(exc).__name__}: {exc}", delay)
                    await asyncio.sleep(delay)

    async def _poll(
        self, http: httpx.AsyncClient, listing: str, path: str, last: dict[str, str]
    ) -> list[bytes]:
        """Items newer than the cursor, oldest first; moves the cursor to the newest."""
        since = id_number(last[listing]) if listing in last else None
        fresh: list[tuple[int, bytes]] = []
        after: str | None = None
        for page_number in range(self.settings.max_pages if since is not None else 1):
            params = {"limit": str(PAGE), "raw_json": "1"}
            if after:
                params["after"] = after
            page = await self._get(http, path, params)
            reached = False
            for raw in page.data.children:
                child = _child_id.decode(raw)
                number = id_number(str(child.data.get("id", "")))
                if since is not None and number <= since:
                    reached = True
                    break
                fresh.append((number, bytes(raw)))
            after = page.data.after
            if reached or not after or since is None:
                break
            if page_number == self.settings.max_pages - 1:
                now = self._clock()
                self.health.gap(
                    now,
                    now,
                    f"{listing}: more than {self.settings.max_pages} pages "
                    f"of {PAGE} since the last poll; older items were skipped",
                )
        fresh.sort(key=lambda pair: pair[0])
        if fresh:
            newest = fresh[-1][0]
            last[listing] = _base36(newest)
        return [data for _, data in fresh]

    async def _get(self, http: httpx.AsyncClient, path: str, params: dict[str, str]) -> _Listing:
        wait = self.budget.wait()
        if wait:
            self.health.failed("rate-limit budget spent", wait)
            await asyncio.sleep(wait)
        headers = {"Authorization": f"bearer {await self._bearer(http)}"}
        async with http.stream(
            "GET", self.settings.api_url + path, params=params, headers=headers
        ) as response:
            self.budget.update(response.headers)
            if response.status_code == 401:
                self._token = ""
            raise_for_status(response, f"reddit {path}")
            body = await read_limited(response, self.settings.max_message_bytes, path)
        return _listing.decode(body)

    async def _bearer(self, http: httpx.AsyncClient) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        client_id = os.environ.get(self.settings.client_id_env, "")
        secret = os.environ.get(self.settings.client_secret_env, "")
        if not client_id or not secret:
            raise SourceError(
                f"reddit credentials missing: set {self.settings.client_id_env} and "
                f"{self.settings.client_secret_env}"
            )
        response = await http.post(
            self.settings.token_url,
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        raise_for_status(response, "reddit token")
        token = msgspec.json.decode(response.content[:100_000], type=_Token)
        self._token = token.access_token
        self._token_expires = time.monotonic() + max(60.0, token.expires_in - 60.0)
        return self._token


class _Token(msgspec.Struct):
    access_token: str
    expires_in: float = 3600.0


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _parse_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        return msgspec.json.decode(cursor, type=dict[str, str])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ValueError(f"reddit cursor must be a JSON object of ids, got {cursor!r}") from None
