"""Background work of the web server: the retention job, on the configured interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from veille.store.retention import Policy, Retention
from veille.web.context import Web

log = logging.getLogger(__name__)


async def retention_loop(web: Web, stop: asyncio.Event) -> None:
    """Run the retention policy now and then every ``[retention] interval_hours``."""
    hours = web.settings.retention.interval_hours
    if hours <= 0:
        return
    retention = Retention(web.store.engine, clock=web.clock)
    policy = Policy.from_settings(web.settings.retention)
    while not stop.is_set():
        try:
            purged = await asyncio.to_thread(retention.run, policy, actor="retention-job")
            if purged.posts or purged.quarantine:
                log.info(
                    "retention: deleted %d posts, %d quarantined records",
                    purged.posts,
                    purged.quarantine,
                )
        except Exception:  # the next run tries again; the server keeps serving
            log.exception("retention job failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), hours * 3600)
