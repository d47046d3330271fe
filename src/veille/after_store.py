"""After-store hooks that run beside the pipeline instead of in its way.

The pipeline awaits its after-store hooks after each commit, in order, before it writes the
next batch: right for the alert hook (an urgent post must reach the alert engine at once) and
wrong for work that only needs to happen soon, such as the trend rollups. Their cost is mostly
per transaction, so at 2,000 posts/s in commits of a few dozen posts they held up the writer
(and the alerts behind it) for longer than the commits themselves took (bench/latency.py).

:class:`InBackground` wraps such a hook: each commit is queued and the call returns; one task
hands the hook everything queued meanwhile as a single :class:`~veille.pipeline.Stored`, so a
slow hook sees larger batches instead of falling behind. The queue is bounded in posts: when the
hook cannot keep up, the pipeline waits for it (backpressure, as between the other stages).
:meth:`InBackground.aclose` (the pipeline calls it when it ends) lets the queue run dry first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Final

from veille.model import Enrichment, Match, Post, Quarantined
from veille.pipeline import AfterStore, Stored

log = logging.getLogger(__name__)

MAX_QUEUED_POSTS: Final = 50_000
"""Posts committed but not yet handed to a background hook, at most (then the writer waits)."""


class InBackground:
    """Runs ``hook`` on a task of its own, coalescing the commits queued while it works."""

    def __init__(
        self, hook: AfterStore, *, max_posts: int = MAX_QUEUED_POSTS, every: float = 0.0
    ) -> None:
        """``every``: seconds at least between two calls of ``hook`` (commits wait in the
        queue meanwhile), so a hook whose cost is per call gets fewer, larger batches."""
        if max_posts < 1:
            raise ValueError(f"max_posts must be at least 1, not {max_posts}")
        if every < 0:
            raise ValueError(f"every must not be negative, not {every}")
        self.hook = hook
        self.max_posts = max_posts
        self.every = every
        self._queue: list[Stored] = []
        self._queued_posts = 0
        self._busy = False
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"InBackground({self.hook!r})"

    async def __call__(self, stored: Stored) -> None:
        changed = self._start()
        async with changed:
            # A commit larger than the bound still goes in once the queue is empty.
            await changed.wait_for(
                lambda: not self._queue or self._queued_posts + len(stored.posts) <= self.max_posts
            )
            self._queue.append(stored)
            self._queued_posts += len(stored.posts)
            changed.notify_all()

    async def drain(self) -> None:
        """Wait until everything queued so far has been through the hook."""
        if self._changed is None:
            return
        changed = self._changed
        async with changed:
            await changed.wait_for(lambda: not self._queue and not self._busy)

    async def aclose(self) -> None:
        """Drain, then stop the task (a later call starts a new one, on the running loop)."""
        if self._task is None:
            return
        try:
            await self.drain()
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            self._changed = None

    def _start(self) -> asyncio.Condition:
        task = self._task
        if (
            task is None
            or self._changed is None
            or task.done()  # a pipeline that failed never closed it
            or task.get_loop() is not asyncio.get_running_loop()
        ):
            # Commits a dead task left queued go to the new one: none is lost.
            self._busy = False
            self._changed = asyncio.Condition()
            self._task = asyncio.create_task(self._run(self._changed), name=f"{self!r}")
        return self._changed

    async def _run(self, changed: asyncio.Condition) -> None:
        loop = asyncio.get_running_loop()
        while True:
            async with changed:
                await changed.wait_for(lambda: bool(self._queue))
                started = loop.time()
                queued, self._queue, self._queued_posts = self._queue, [], 0
                self._busy = True
                changed.notify_all()
            try:
                for stored in coalesced(queued):
                    try:
                        result = self.hook(stored)
                        if result is not None:
                            await result
                    except Exception:  # as in the pipeline: logged, never fatal
                        log.exception("after-store hook %r failed", self.hook)
            finally:
                async with changed:
                    self._busy = False
                    changed.notify_all()
            await asyncio.sleep(max(0.0, self.every - (loop.time() - started)))


def coalesced(commits: Sequence[Stored]) -> list[Stored]:
    """Consecutive commits joined into one (in order; later cursors win). Commits with and
    without enrichments are not joined: ``enrichments[i]`` must stay ``posts[i]``'s."""
    out: list[Stored] = []
    group: list[Stored] = []
    for stored in commits:
        if group and bool(group[-1].enrichments) != bool(stored.enrichments):
            out.append(_joined(group))
            group = []
        group.append(stored)
    if group:
        out.append(_joined(group))
    return out


def _joined(group: Sequence[Stored]) -> Stored:
    if len(group) == 1:
        return group[0]
    posts: list[Post] = []
    matches: list[Sequence[Match]] = []
    enrichments: list[Enrichment] = []
    quarantined: list[Quarantined] = []
    cursors: dict[str, str] = {}
    flagged: list[tuple[str, str]] = []
    for stored in group:
        posts += stored.posts
        matches += stored.matches
        enrichments += stored.enrichments
        quarantined += stored.quarantined
        cursors.update(stored.cursors)
        flagged += stored.flagged
    return Stored(posts, matches, enrichments, quarantined, cursors, flagged)
