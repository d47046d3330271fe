"""X (Twitter) API v2 filtered stream, with its rules kept in step with the watch rules.

Off by default: X's developer terms forbid surveillance uses (read docs/sources.md first). The
bearer token comes from the environment variable the settings name.

Reconnects follow X's documented policy: network errors back off linearly by 250 ms up to
16 s, HTTP errors exponentially from 5 s up to 320 s, 429 exponentially from one minute (or
until ``x-rate-limit-reset`` when X says so). X sends a keep-alive line every 20 s, so 20 s
without a byte means the stream stalled and it is reconnected.

The stream has no cursor. After a disconnect veille asks X to replay the missed minutes with
``backfill_minutes`` when the settings allow it (only some access levels do); the overlap is
dropped by tweet id. Whatever no backfill covered is recorded as a gap. The cursor is
``{"id": last tweet id, "at": when it was received}``, so a restart knows how long it was away.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Final
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec

from veille.clock import Clock, utcnow
from veille.config import XSettings
from veille.model import RawItem
from veille.sources.base import Batch
from veille.sources.health import REGISTRY, HealthRegistry
from veille.sources.http import client, lines, raise_for_status, read_limited
from veille.sources.live import RateLimited, RecentKeys, SourceError, Step, batches

PLATFORM: Final = "x"
STREAM_PATH: Final = "/2/tweets/search/stream"
RULES_PATH: Final = "/2/tweets/search/stream/rules"
STREAM_PARAMS: Final = (
    (
        "tweet.fields",
        "author_id,conversation_id,created_at,edit_history_tweet_ids,entities,lang,"
        "note_tweet,referenced_tweets",
    ),
    ("expansions", "author_id,referenced_tweets.id,referenced_tweets.id.author_id"),
    ("user.fields", "name,username,public_metrics"),
)
"""The fields the mapper (:mod:`veille.normalise.x`) reads, and nothing more."""


class StreamRule(msgspec.Struct, frozen=True):
    """One filtered-stream rule as X stores it (``id`` is X's, empty before it is created)."""

    value: str
    tag: str = ""
    id: str = ""


class RuleSync(msgspec.Struct, kw_only=True):
    """What a rule synchronisation did (or, in a dry run, would do)."""

    added: list[StreamRule]
    deleted: list[StreamRule]
    kept: int
    dry_run: bool
    errors: list[str] = msgspec.field(default_factory=list)


class _Rules(msgspec.Struct):
    data: list[StreamRule] = msgspec.field(default_factory=list)


class _Id(msgspec.Struct):
    id: str


class _Frame(msgspec.Struct):
    data: _Id | None = None
    errors: list[dict[str, object]] = msgspec.field(default_factory=list)


class _Cursor(msgspec.Struct):
    id: str = ""
    at: datetime | None = None


_rules = msgspec.json.Decoder(_Rules)
_frame = msgspec.json.Decoder(_Frame)


def _errors(body: bytes) -> list[tuple[str, str]]:
    """The ``errors`` X put in an answer: (the rule value or id concerned, a short text)."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return []
    found = value.get("errors") if isinstance(value, dict) else None
    out = []
    for error in found if isinstance(found, list) else []:
        if isinstance(error, dict):
            what = str(error.get("value") or error.get("id") or "")
            text = f"{error.get('title', 'error')}: {error.get('details') or what}"
            out.append((what, text[:300]))
    return out


async def sync_rules(
    http: httpx.AsyncClient,
    api_url: str,
    desired: Sequence[StreamRule],
    tag_prefix: str,
    dry_run: bool = False,
    max_bytes: int = 2_000_000,
) -> RuleSync:
    """Make the stream's rules tagged ``tag_prefix…`` exactly ``desired``; leave others alone.

    Deletes go first (X counts rules against a limit), then additions; with ``dry_run`` X
    validates both and changes nothing.
    """
    response = await http.get(f"{api_url}{RULES_PATH}")
    raise_for_status(response, "x stream rules")
    existing = _rules.decode(response.content[:max_bytes]).data
    managed = [r for r in existing if r.tag.startswith(tag_prefix)]
    have = {(r.value, r.tag) for r in managed}
    want = {(r.value, r.tag) for r in desired}
    stale = [r for r in managed if (r.value, r.tag) not in want]
    missing = list({(r.value, r.tag): r for r in desired if (r.value, r.tag) not in have}.values())
    result = RuleSync(added=[], deleted=[], kept=len(managed) - len(stale), dry_run=dry_run)
    query = "?dry_run=true" if dry_run else ""
    if stale:
        response = await http.post(
            f"{api_url}{RULES_PATH}{query}", json={"delete": {"ids": [r.id for r in stale]}}
        )
        raise_for_status(response, "x stream rules delete")
        result.errors += [text for _, text in _errors(response.content)]
        result.deleted = stale
    if missing:
        additions = [{"value": r.value, "tag": r.tag} for r in missing]
        response = await http.post(f"{api_url}{RULES_PATH}{query}", json={"add": additions})
        raise_for_status(response, "x stream rules add")
        errors = _errors(response.content)
        result.errors += [text for _, text in errors]
        refused = {what for what, _ in errors}
        result.added = [r for r in missing if r.value not in refused]
    return result


class LinearBackoff:
    """X's policy for network errors: 250 ms more per attempt, up to 16 s."""

    def __init__(self, step: float, maximum: float) -> None:
        self.step, self.maximum, self.attempts = step, maximum, 0

    def next(self) -> float:
        self.attempts += 1
        return min(self.maximum, self.step * self.attempts)

    def reset(self) -> None:
        self.attempts = 0


class DoublingBackoff:
    """X's policy for HTTP errors (from 5 s up to 320 s) and 429 (from one minute)."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum, self.attempts = initial, maximum, 0

    def next(self) -> float:
        delay: float = min(self.maximum, self.initial * 2.0**self.attempts)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


class XSource:
    """The filtered stream of one X app, its rules synchronised from a provider on each connect."""

    platform = PLATFORM

    def __init__(
        self,
        settings: XSettings,
        rules: Callable[[], Sequence[StreamRule]] | None = None,
        name: str = "x",
        registry: HealthRegistry = REGISTRY,
        clock: Clock = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        parts = urlsplit(settings.api_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"sources.x api_url must be http(s)://host, got {settings.api_url!r}")
        self.settings = settings
        self.api_url = f"{parts.scheme}://{parts.netloc}"
        self.name = name
        self.rules = rules
        self.health = registry.tracker(name, PLATFORM, clock)
        self._clock = clock
        self._transport = transport
        self.backfill = settings.backfill_minutes
        """Minutes of backfill asked for; drops to 0 when X refuses it for this access level."""
        self.last_sync: RuleSync | None = None

    def _client(self) -> httpx.AsyncClient:
        token = os.environ.get(self.settings.bearer_token_env, "")
        if not token:
            raise SourceError(f"{self.settings.bearer_token_env} is not set")
        timeout = httpx.Timeout(self.settings.timeout, read=self.settings.keepalive_timeout)
        return client(
            timeout, headers={"Authorization": f"Bearer {token}"}, transport=self._transport
        )

    async def sync(self, dry_run: bool = False) -> RuleSync:
        """Bring the stream's rules in step with the watch rules now."""
        async with self._client() as http:
            return await self._sync(http, dry_run)

    async def _sync(self, http: httpx.AsyncClient, dry_run: bool) -> RuleSync:
        desired = list(self.rules()) if self.rules else []
        result = await sync_rules(
            http,
            self.api_url,
            desired,
            self.settings.rule_tag_prefix,
            dry_run,
            self.settings.max_message_bytes,
        )
        if result.errors:
            now = self._clock()
            self.health.failed(f"stream rules refused by X: {'; '.join(result.errors)}", 0.0)
            self.health.gap(now, now, "some watch rules are not asked from X (refused rules)")
        self.last_sync = result
        return result

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Batches of the filtered stream; ``cursor`` tells how long veille was away."""
        settings = self.settings
        async for batch in batches(self._steps(cursor), settings.batch_size, settings.batch_delay):
            self.health.cursor(batch.cursor)
            yield batch

    async def _steps(self, cursor: str | None) -> AsyncIterator[Step]:
        state = _parse_cursor(cursor)
        away_since = state.at
        seen = RecentKeys()
        if state.id:
            seen.add(state.id)
        s = self.settings
        network = LinearBackoff(s.network_backoff, s.network_backoff_max)
        http_errors = DoublingBackoff(s.http_backoff, s.http_backoff_max)
        limited = DoublingBackoff(s.rate_limit_backoff, s.rate_limit_backoff_max)
        synced = not (s.sync_rules and self.rules)
        try:
            connection = self._client()
        except SourceError as exc:
            self.health.failed(str(exc), None)  # no retry can help: say so and stop
            raise
        async with connection as http:
            while True:
                delay = 0.0
                try:
                    if not synced:
                        await self._sync(http, dry_run=False)
                        synced = True
                    async for step in self._connect(http, away_since, seen, state):
                        network.reset()
                        http_errors.reset()
                        limited.reset()
                        yield step
                    error = "the server ended the stream"
                    delay = network.next()
                except RateLimited as exc:
                    error = str(exc)
                    delay = max(limited.next(), exc.retry_after or 0.0)
                except _BackfillRefused as exc:
                    error = str(exc)
                except SourceError as exc:
                    error = str(exc)
                    delay = max(http_errors.next(), exc.retry_after or 0.0)
                except httpx.ReadTimeout as exc:
                    error = f"no data or keep-alive for {s.keepalive_timeout:g}s ({exc!r})"
                    delay = network.next()
                except (httpx.HTTPError, OSError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    delay = network.next()
                away_since = state.at or away_since or self._clock()
                self.health.failed(error, delay)
                await asyncio.sleep(delay)

    async def _connect(
        self,
        http: httpx.AsyncClient,
        away_since: datetime | None,
        seen: RecentKeys,
        state: _State,
    ) -> AsyncIterator[Step]:
        params = list(STREAM_PARAMS)
        now = self._clock()
        backfill = 0
        if away_since is not None and self.backfill:
            minutes = math.ceil((now - away_since).total_seconds() / 60)
            backfill = max(1, min(self.backfill, minutes))
            params.append(("backfill_minutes", str(backfill)))
        url = f"{self.api_url}{STREAM_PATH}?{urlencode(params)}"
        limit = self.settings.max_message_bytes
        async with http.stream("GET", url) as response:
            if backfill and response.status_code in (400, 403):
                body = await read_limited(response, limit, url)
                if b"backfill" in body:
                    self.backfill = 0
                    raise _BackfillRefused(
                        "X refused backfill_minutes for this access level: disconnects are gaps"
                    )
            if response.status_code == 429:
                retry = _reset_in(response.headers.get("x-rate-limit-reset"), now)
                raise RateLimited("x stream: HTTP 429 rate limited", retry)
            raise_for_status(response, "x stream")
            self.health.connected("streaming" + (f", backfill {backfill} min" if backfill else ""))
            if away_since is not None:
                covered_from = now - timedelta(minutes=backfill)
                if away_since < covered_from:
                    self.health.gap(
                        away_since,
                        covered_from,
                        "disconnected from the X stream"
                        + (f" longer than the {backfill} min backfill" if backfill else ""),
                    )
            async for line in lines(response, limit, "x stream"):
                state.at = self._clock()
                if not line.strip():
                    continue  # keep-alive
                step = self._step(line, seen, state)
                if step is not None:
                    yield step

    def _step(self, line: bytes, seen: RecentKeys, state: _State) -> Step | None:
        try:
            frame = _frame.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            frame = None
        if frame is not None and frame.data is None:
            # an error-only frame (e.g. "operational disconnect"): not a post
            detail = frame.errors[0] if frame.errors else {}
            if "disconnect" in str(detail).lower():
                raise SourceError(f"x stream: {str(detail)[:300]}")
            self.health.failed(f"x stream said: {str(detail)[:300]}", 0.0)
            return None
        key = frame.data.id if frame is not None and frame.data else sha256(line).hexdigest()
        if not seen.add(key):
            return None
        if frame is not None and frame.data:
            state.id = frame.data.id
        self.health.events(1)
        received = state.at or self._clock()
        item = RawItem(
            source=self.name, platform=PLATFORM, payload=bytes(line), received_at=received
        )
        return item, state.encode()


class _BackfillRefused(SourceError):
    """X refused ``backfill_minutes``: reconnect at once without it."""


class _State:
    """The resume state: last tweet id and when the stream last said anything."""

    def __init__(self, cursor: _Cursor) -> None:
        self.id = cursor.id
        self.at = cursor.at

    def encode(self) -> str:
        return msgspec.json.encode(_Cursor(id=self.id, at=self.at)).decode()


def _reset_in(value: str | None, now: datetime) -> float | None:
    """Seconds until the epoch time in ``x-rate-limit-reset``, capped at one hour."""
    if not value or not value.strip().isdigit():
        return None
    return min(max(0.0, int(value) - now.timestamp()), 3600.0)


def _parse_cursor(cursor: str | None) -> _State:
    if not cursor:
        return _State(_Cursor())
    try:
        return _State(msgspec.json.decode(cursor, type=_Cursor))
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ValueError(f'x cursor must be {{"id": …, "at": …}}, got {cursor!r}') from None
