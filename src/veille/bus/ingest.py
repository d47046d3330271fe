"""``veille ingest``: the connectors of a scaled-out installation, publishing on the bus.

Each source runs in its own task: read a batch, publish it and wait for every acknowledgement
(:class:`~veille.bus.nats.Publisher`), then save the source's cursor, with anything quarantined
on the way, in the store's cursor table. A cursor is therefore never ahead of what the bus
holds; after a crash the items published since the last saved cursor are published again, and
the server's duplicate window drops them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from veille.bus.nats import Publisher
from veille.model import Quarantined
from veille.pipeline import Acknowledging, Closable
from veille.sources.base import Batch, Source

log = logging.getLogger("veille.bus")

SaveCursor = Callable[[str, str | None, Sequence[Quarantined]], None]
"""Saves a source's cursor (when it moved) with the records quarantined before it, atomically."""


@dataclass
class IngestStats:
    """What an ingester did so far."""

    received: int = 0
    quarantined: int = 0
    started: float = 0.0
    ended: float = 0.0

    def rate(self) -> float:
        """Items published per second."""
        elapsed = (self.ended or time.monotonic()) - self.started
        return self.received / elapsed if elapsed > 0 else 0.0


class Ingester:
    """Runs sources and publishes their batches; cursors are saved only after the acks."""

    def __init__(
        self,
        sources: Sequence[Source],
        publisher: Publisher,
        save: SaveCursor,
        cursors: Mapping[str, str] | None = None,
    ) -> None:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"two sources share a name: {sorted(names)}")
        self.sources = list(sources)
        self.publisher = publisher
        self.save = save
        self.cursors = dict(cursors or {})
        self.stats = IngestStats()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def run(self) -> IngestStats:
        """Run until every source has ended, or :meth:`stop` was called and all is saved."""
        self.stats.started = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._pump(source), name=f"ingest {source.name}")
            for source in self.sources
        ]
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self.stats.ended = time.monotonic()
        for source, result in zip(self.sources, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("source %s failed: %s", source.name, result, exc_info=result)
        return self.stats

    def stop(self) -> None:
        """Stop reading; batches being published are still acknowledged and saved."""
        if self._stopping:
            return
        self._stopping = True
        for source, task in zip(self.sources, self._tasks, strict=False):
            if isinstance(source, Closable):
                source.close()
            else:
                task.cancel()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM stop and save; a second one exits at once (saved cursors stay)."""
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            if self._stopping:
                raise SystemExit(128 + signum)
            log.info("%s: stopping", signal.Signals(signum).name)
            self.stop()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)

    async def _pump(self, source: Source) -> None:
        async for batch in source.stream(self.cursors.get(source.name)):
            # Shielded: a stop cancels the read, never a batch between publish and save.
            await asyncio.shield(self._forward(source, batch))

    async def _forward(self, source: Source, batch: Batch) -> None:
        too_large = await self.publisher.send(source.name, batch.items)
        quarantined = [*batch.rejected, *too_large]
        if batch.cursor is not None or quarantined:
            await asyncio.to_thread(self.save, source.name, batch.cursor, quarantined)
        if batch.cursor is not None:
            self.cursors[source.name] = batch.cursor
        self.stats.received += len(batch.items)
        self.stats.quarantined += len(quarantined)
        if isinstance(source, Acknowledging):
            source.stored(batch, quarantined)
