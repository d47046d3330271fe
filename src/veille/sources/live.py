"""Machinery every live connector shares: backoff, retry hints, duplicate guard and batching.

A connector turns what it receives into ``(item, cursor)`` steps; :func:`batches` groups them
into :class:`~veille.sources.base.Batch` objects (at most ``size`` items, or whatever arrived
within ``delay`` seconds), and a bounded queue between the network reader and the pipeline makes
a slow pipeline slow the reader down instead of filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, cast

from veille.model import RawItem
from veille.sources.base import Batch

Step = tuple[RawItem | None, str | None]
"""What a connector received: an item (None for a skipped event) and the cursor after it."""

MAX_RETRY_AFTER: Final = 3600.0


class SourceError(Exception):
    """A connector attempt failed; ``retry_after`` is the server's own hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(SourceError):
    """The server said 429 (or an exhausted rate-limit budget)."""


class Backoff:
    """Exponential backoff with jitter: each delay is drawn from ``[d/2, d]`` where d doubles.

    Half the delay is fixed so reconnects never hammer a server; the random half spreads many
    clients apart (so-called equal jitter).
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError(f"bad backoff: initial={initial} maximum={maximum} factor={factor}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempts = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt; each call counts one more failed attempt."""
        ceiling = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """An attempt succeeded: start again from the initial delay."""
        self.attempts = 0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped at 1 h."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class RecentKeys:
    """The last ``capacity`` keys seen: drops the overlap that a resume replays."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; True if it was not seen recently."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._keys)


_DONE: Final = object()


async def batches(steps: AsyncIterator[Step], size: int, delay: float) -> AsyncIterator[Batch]:
    """Group steps into batches of at most ``size`` items, each flushed within ``delay`` seconds.

    A batch's cursor is the cursor of its last step. Steps without an item still move the cursor,
    so a run of skipped events ends in an (empty) batch the pipeline can commit. An error raised
    by ``steps`` is raised here after the steps before it have been yielded.
    """
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max(2 * size, 16))

    async def pump() -> None:
        try:
            async for step in steps:
                await queue.put(step)
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(_DONE)

    task = asyncio.create_task(pump())
    try:
        finished = False
        while not finished:
            first = await queue.get()
            if isinstance(first, Exception):
                raise first
            if first is _DONE:
                return
            items: list[RawItem] = []
            cursor: str | None = None
            moved = False
            pending: object = first
            deadline = asyncio.get_running_loop().time() + delay
            while True:
                item, step_cursor = cast(Step, pending)
                if item is not None:
                    items.append(item)
                if step_cursor is not None:
                    cursor = step_cursor
                    moved = True
                if len(items) >= size:
                    break
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    pending = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if pending is _DONE:
                    finished = True
                    break
                if isinstance(pending, Exception):
                    if items or moved:
                        yield Batch(items, cursor)
                    raise pending
            if items or moved:
                yield Batch(items, cursor)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await steps.aclose()  # type: ignore[attr-defined]
