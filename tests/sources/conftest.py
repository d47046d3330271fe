"""Fixtures of the live-source tests: recorded payloads and helpers to drive a source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from veille.model import RawItem
from veille.sources.base import Batch


@pytest.fixture(scope="session")
def fixtures(shared_data: Path) -> Path:
    return shared_data / "fixtures"


async def collect(
    stream: AsyncIterator[Batch],
    done: Callable[[list[RawItem]], bool],
    limit: float = 30.0,
) -> tuple[list[RawItem], list[str | None]]:
    """Read batches until ``done(items)`` holds; return the items and every batch cursor."""
    items: list[RawItem] = []
    cursors: list[str | None] = []

    async def run() -> None:
        async for batch in stream:
            items.extend(batch.items)
            cursors.append(batch.cursor)
            if done(items):
                return

    try:
        await asyncio.wait_for(run(), limit)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return items, cursors
