"""The in-process bus: a bounded, closable queue joining two asyncio stages.

A full queue makes ``put`` wait, so a slow stage slows the stages before it and memory stays
bounded (``maxsize`` batches, each of bounded size). Closing lets the consumer drain what is
already queued and then stop: that is how the pipeline shuts down without losing a batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class ChannelClosed(Exception):
    """Raised by ``put`` on a closed channel, and by ``get`` once it is closed and empty."""


class Channel(Generic[T]):
    """A bounded FIFO between asyncio tasks of one event loop, with close-then-drain semantics."""

    def __init__(self, maxsize: int, name: str = "channel") -> None:
        if maxsize < 1:
            raise ValueError(f"channel {name!r}: maxsize must be at least 1, got {maxsize}")
        self.name = name
        self.maxsize = maxsize
        self.high_water = 0
        """The deepest the queue has been: shows where a pipeline waits."""
        self._items: deque[T] = deque()
        self._closed = False
        self._waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    async def put(self, item: T) -> None:
        """Append ``item``, waiting while the channel is full."""
        while len(self._items) >= self.maxsize and not self._closed:
            await self._wait()
        self._append(item)

    def try_put(self, item: T) -> bool:
        """Append ``item`` if there is room right now; ``False`` when full (the caller decides)."""
        if len(self._items) >= self.maxsize and not self._closed:
            return False
        self._append(item)
        return True

    async def get(self) -> T:
        """Remove and return the oldest item, waiting while empty; ``ChannelClosed`` at the end."""
        while not self._items:
            if self._closed:
                raise ChannelClosed(f"channel {self.name!r} is closed and drained")
            await self._wait()
        return self._pop()

    def get_nowait(self) -> T | None:
        """The oldest item if one is queued now, else ``None``: lets a consumer fill a batch."""
        return self._pop() if self._items else None

    def close(self) -> None:
        """Refuse new items; consumers still receive what is queued, then ``ChannelClosed``."""
        self._closed = True
        self._wake()

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            try:
                yield await self.get()
            except ChannelClosed:
                return

    def _append(self, item: T) -> None:
        if self._closed:
            raise ChannelClosed(f"channel {self.name!r} is closed")
        self._items.append(item)
        self.high_water = max(self.high_water, len(self._items))
        self._wake()

    def _pop(self) -> T:
        item = self._items.popleft()
        self._wake()
        return item

    async def _wait(self) -> None:
        # Every state change wakes every waiter, which re-checks its own condition: few tasks
        # wait on one channel, so simplicity beats a finer scheme.
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
