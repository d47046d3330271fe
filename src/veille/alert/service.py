"""The alert service: the engine, its timers and a delivery worker running in one process.

This is what the pipeline's alert hook and ``veille alerts deliver`` run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta

import sqlalchemy as sa

from veille.alert.channels import Channel, build_channels
from veille.alert.deliver import DeliveryWorker
from veille.alert.engine import AlertEngine
from veille.clock import Clock, utcnow
from veille.config import AlertsSettings
from veille.model import Alert, AlertSignal

log = logging.getLogger(__name__)


class AlertService:
    """Submit signals from the pipeline; deliver and run timers in the background."""

    def __init__(
        self,
        db: sa.Engine,
        settings: AlertsSettings,
        *,
        clock: Clock = utcnow,
        channels: Mapping[str, Channel] | None = None,
        tick_every: timedelta = timedelta(seconds=1),
    ) -> None:
        self.engine = AlertEngine(db, settings, clock, on_due=self._on_due)
        self.worker = DeliveryWorker(
            self.engine, build_channels(settings) if channels is None else channels
        )
        self.tick_every = tick_every.total_seconds()

    def _on_due(self) -> None:
        self.worker.wake()

    async def submit(self, signals: Iterable[AlertSignal]) -> list[Alert]:
        """Store alerts and queue notifications (one transaction) without blocking the loop."""
        batch = list(signals)
        if not batch:
            return []
        if not self.worker.running:
            return await asyncio.to_thread(self.engine.submit, batch)
        # Urgent news skips the outbox poll: what the transaction made due goes out at once.
        news, ready = await asyncio.to_thread(self.engine.submit_and_lease, batch)
        self.worker.hand(ready)
        return news

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver and run timers until ``stop`` is set."""
        ticker = asyncio.create_task(self._tick(stop))
        try:
            await self.worker.run(stop)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self.worker.aclose()

    async def _tick(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.engine.tick)
            except Exception:  # a failed tick is retried next time, never fatal
                log.exception("alert timers failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_every)
