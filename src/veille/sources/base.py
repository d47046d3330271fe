"""The Source contract: an async stream of batches, each ending at a resume cursor.

The pipeline commits a batch's cursor only after every item before it is durably stored,
so a source restarted from its last committed cursor neither loses nor skips data.
Duplicates after a restart are harmless: storing is an upsert on ``(platform, native_id)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import msgspec

from veille.model import Quarantined, RawItem


class Batch(msgspec.Struct, frozen=True):
    """Items received together, and the cursor to resume from once they are all stored."""

    items: list[RawItem]
    cursor: str | None = None
    rejected: list[Quarantined] = []
    """Input the source could not even cut into items (an over-long line, an invalid body):
    quarantined by the pipeline in the same transaction as the items, so the cursor can move on."""


@runtime_checkable
class Source(Protocol):
    """Anything that yields batches of raw items and can resume from a cursor."""

    name: str
    """Stable name of this source instance; cursors and health are kept under it."""

    def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Yield batches from ``cursor`` (``None``: where the source starts) until closed."""
        ...
