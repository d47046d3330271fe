"""Helpers that tests and users share: a controllable clock and other stand-ins for the outside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that only moves when told to; call it like :func:`veille.clock.utcnow`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        """Move the clock forward and return the new time."""
        self.now += timedelta(seconds=seconds, **delta)
        return self.now
