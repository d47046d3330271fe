"""The delivery worker: drains the outbox with retries until each notification is delivered
or dead-lettered.

Several workers (threads of one process or several processes) may share one outbox: a
notification is leased before it is sent, and a crashed worker's lease lapses so another picks
the notification up. Delivery is at least once; the idempotency key lets receivers drop the
rare duplicate (a crash after the receiver answered but before the outcome was written).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta

from veille.alert.channels import Channel, SendResult
from veille.alert.engine import AlertEngine, Outgoing

log = logging.getLogger(__name__)


class DeliveryWorker:
    """Claims due notifications from an ``AlertEngine`` and sends them through channels."""

    def __init__(
        self,
        engine: AlertEngine,
        channels: Mapping[str, Channel],
        *,
        idle_poll: timedelta = timedelta(seconds=1),
    ) -> None:
        self.engine = engine
        self.channels = dict(channels)
        self.idle_poll = idle_poll.total_seconds()
        self.concurrency = engine.settings.delivery.concurrency
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Something became due: look at the outbox now (callable from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; in-flight sends finish (or their lease lapses)."""
        self._loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                started = await self.dispatch()
                if started:
                    continue
                self._wake.clear()
                timeout = await self._idle_timeout()
                waits = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                _, pending = await asyncio.wait(
                    waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _idle_timeout(self) -> float:
        nxt = await asyncio.to_thread(self.engine.next_due)
        if nxt is None:
            return self.idle_poll
        wait = (nxt - self.engine.clock()).total_seconds()
        return max(0.0, min(self.idle_poll, wait))

    async def dispatch(self) -> int:
        """Claim what is due (up to free slots) and start sending it; returns how many."""
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
            return 1
        batch = await asyncio.to_thread(self.engine.claim, free)
        for message in batch:
            task = asyncio.create_task(self._deliver(message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(batch)

    async def drain(self) -> int:
        """Send everything due now and wait for the attempts to finish (tests, one-shot CLI)."""
        self._loop = asyncio.get_running_loop()
        total = 0
        while True:
            started = await self.dispatch()
            total += started
            if not started and not self._inflight:
                return total
            if not started:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _deliver(self, message: Outgoing) -> None:
        channel = self.channels.get(message.receiver)
        if channel is None:
            result = SendResult(
                ok=False, error=f"no channel for receiver {message.receiver!r}", permanent=True
            )
        else:
            try:
                result = await channel.send(message)
            except Exception as exc:  # a channel bug must not kill the worker
                log.exception("channel %s failed on notification %s", message.receiver, message.id)
                result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        if result.ok:
            await asyncio.to_thread(self.engine.delivered, message.id)
            return
        status = await asyncio.to_thread(
            self.engine.failed,
            message.id,
            result.error,
            retry_after=result.retry_after,
            permanent=result.permanent,
        )
        level = logging.ERROR if status == "dead" else logging.WARNING
        log.log(
            level,
            "notification %s to %s: %s (%s)",
            message.id,
            message.receiver,
            result.error,
            "dead letter" if status == "dead" else "will retry",
        )
        self.wake()

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
