"""Time as the stages see it: UTC-aware, and injectable so pure stages test without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock: the current time, timezone-aware in UTC."""
    return datetime.now(UTC)
