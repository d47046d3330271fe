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
from collections.abc import Iterable, Mapping
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
        self._ready: list[Outgoing] = []
        """Notifications leased to this worker by the submitting transaction, not yet started."""
        self._done: list[int] = []
        """Delivered notifications whose outcome is not written yet (written in batches)."""
        self._recorder: asyncio.Task[None] | None = None
        self.running = False
        """Whether :meth:`run` is delivering (so handed-over notifications go out at once)."""

    def hand(self, messages: Iterable[Outgoing]) -> None:
        """Send these already-leased notifications now (call from the worker's event loop)."""
        self._ready += messages
        self._start_ready()

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
        """Deliver until ``stop`` is set; the sends in flight and those handed over finish."""
        self._loop = asyncio.get_running_loop()
        self.running = True
        try:
            while not stop.is_set():
                try:
                    if await self.dispatch():
                        continue
                    self._wake.clear()
                    timeout = await self._idle_timeout()
                except Exception:  # the database busy or away: never fatal, look again soon
                    log.exception("could not read the alert outbox; retrying")
                    timeout = self.idle_poll
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
            self.running = False
            # what was handed over is leased to this worker: send it rather than let it wait
            # for its lease to lapse
            while self._ready or self._inflight:
                self._start_ready()
                await asyncio.gather(*self._inflight, return_exceptions=True)
            await self._settle()

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
        if self._ready:
            return self._start_ready()
        batch = await asyncio.to_thread(self.engine.claim, free)
        for message in batch:
            self._start(message)
        return len(batch)

    def _start_ready(self) -> int:
        started = 0
        while self._ready and len(self._inflight) < self.concurrency:
            self._start(self._ready.pop(0))
            started += 1
        return started

    def _start(self, message: Outgoing) -> None:
        task = asyncio.create_task(self._deliver(message))
        self._inflight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._ready:
            self._start_ready()

    async def drain(self) -> int:
        """Send everything due now and wait for the attempts and their outcomes to be written
        (tests, one-shot CLI)."""
        self._loop = asyncio.get_running_loop()
        total = 0
        while True:
            started = await self.dispatch()
            total += started
            if not started and not self._inflight:
                await self._settle()
                return total
            if not started:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _settle(self) -> None:
        """Wait until every outcome so far is written."""
        while self._recorder is not None and not self._recorder.done():
            await asyncio.shield(self._recorder)

    def _record_delivered(self, notification_id: int) -> None:
        # Outcomes are written in batches by one task: a burst of deliveries costs one write
        # transaction instead of one each (each would wait for the database's write lock).
        self._done.append(notification_id)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._write_delivered())

    async def _write_delivered(self) -> None:
        while self._done:
            ids, self._done = self._done, []
            try:
                await asyncio.to_thread(self.engine.delivered, *ids)
            except Exception:
                # Not recorded: the leases lapse and the notifications are sent again, with
                # the same idempotency keys. Retrying here could block the worker for ever.
                log.exception("could not record %d deliveries; they will be re-sent", len(ids))

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
            self._record_delivered(message.id)
            return
        try:
            status = await asyncio.to_thread(
                self.engine.failed,
                message.id,
                result.error,
                retry_after=result.retry_after,
                permanent=result.permanent,
            )
        except Exception:  # not recorded: its lease lapses and it is attempted again
            log.exception("could not record the failure of notification %s", message.id)
            return
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
