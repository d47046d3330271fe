"""Rule changes while running: watch the rule files, load a changed catalogue off the hot path,
hand it over whole.

:class:`RuleWatcher` polls the files every few seconds (``[rules] reload_seconds``): a cheap
``stat`` of each file first, then a hash of the contents when a file was touched, so saving a
file unchanged reloads nothing. A changed catalogue is parsed in a thread; an invalid edit keeps
the running catalogue and logs every error once (until the files change again). A valid one goes
to ``apply`` — in ``veille run``, :func:`swap_catalogue` (registers the new rule versions in the
store, builds the new matcher in a thread, swaps the pipeline's processor whole between two
batches) and then the after-store hooks' rule tables.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

from veille.pipeline import Pipeline
from veille.rules.files import RuleFileError, expand
from veille.rules.versions import VersionRegistry
from veille.wiring import Catalogue, ProcessorSpec

log = logging.getLogger(__name__)

Apply = Callable[[Catalogue], Awaitable[None]]
"""Takes a valid new catalogue into use (after which the watcher counts it as current)."""


def _stats(paths: Sequence[str]) -> tuple[tuple[str, int, int, int], ...]:
    out = []
    for path in expand(paths):
        try:
            st = path.stat()
        except OSError:
            out.append((str(path), -1, -1, -1))  # missing: a change when it comes back
        else:
            out.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def _digest(paths: Sequence[str]) -> str:
    sha = hashlib.sha256()
    for path in expand(paths):
        sha.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
        try:
            sha.update(Path(path).read_bytes())
        except OSError as exc:
            sha.update(f"unreadable: {exc}".encode("utf-8", "surrogateescape"))
        sha.update(b"\0")
    return sha.hexdigest()


class RuleWatcher:
    """Polls rule files and hands each valid changed catalogue to ``apply``."""

    def __init__(self, paths: Sequence[str], apply: Apply, *, interval: float = 5.0) -> None:
        self.paths = list(paths)
        self.apply = apply
        self.interval = interval
        self.reloads = 0
        """How many new catalogues were applied."""
        self.error = ""
        """Why the files on disk are not in use (empty when they are)."""
        self._stats = _stats(self.paths)
        self._digest = _digest(self.paths)

    async def check(self) -> bool:
        """Look once; returns whether a new catalogue was applied."""
        stats = await asyncio.to_thread(_stats, self.paths)
        if stats == self._stats:
            return False
        digest = await asyncio.to_thread(_digest, self.paths)
        if digest == self._digest:
            self._stats = stats  # touched, or saved unchanged
            return False
        try:
            catalogue = await asyncio.to_thread(Catalogue.load, self.paths)
        except (RuleFileError, OSError) as exc:
            self._stats, self._digest = stats, digest  # report once per bad version
            self.error = str(exc)
            log.error("rule files changed but have errors; the running rules stay:\n%s", exc)
            return False
        await self.apply(catalogue)
        self._stats, self._digest = stats, digest
        self.error = ""
        self.reloads += 1
        enabled = sum(1 for r in catalogue.rules if r.enabled)
        log.info("rules reloaded: %d rules, %d enabled", len(catalogue.rules), enabled)
        return True

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled; a failing apply is logged and
        retried at the next poll."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("rule reload failed; the running rules stay")


async def swap_catalogue(
    pipeline: Pipeline, spec: ProcessorSpec, catalogue: Catalogue, registry: VersionRegistry
) -> ProcessorSpec:
    """Take ``catalogue`` into use in a running ``pipeline`` built from ``spec``; returns the
    new spec.

    The versions of changed rules are registered in ``registry`` (the store's, so matches name
    them) first. In this process the new matcher is compiled in a thread and the other steps
    are kept (see :meth:`ProcessorSpec.renew`); with worker processes each worker builds the
    new processor before any batch goes to it. Either way a batch is matched wholly against
    the old catalogue or wholly against the new one.
    """
    versions = await asyncio.to_thread(catalogue.versions, registry)
    renewed = replace(
        spec, rules=catalogue.specs(), versions=versions, severities=catalogue.severities()
    )
    current = pipeline.processor
    if current is None:
        await pipeline.swap_processor(renewed)
    else:
        await pipeline.swap_processor(await asyncio.to_thread(renewed.renew, current))
    return renewed
