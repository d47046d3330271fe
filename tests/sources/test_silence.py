from __future__ import annotations

from datetime import UTC, datetime

import pytest

from veille.sources.health import HealthTracker
from veille.sources.silence import SilenceWatch
from veille.testing import FakeClock

T0 = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_a_silent_source_fires_once_and_resolves_when_data_returns() -> None:
    clock = FakeClock(T0)
    bluesky = HealthTracker("bluesky", "bluesky", clock)
    rss = HealthTracker("rss", "rss", clock)
    off = HealthTracker("x", "x", clock)
    off.disabled("not configured")
    watch = SilenceWatch({"rss": 3600.0}, default=900.0, clock=clock)

    def check() -> list[tuple[str, bool]]:
        report = [bluesky.snapshot(), rss.snapshot(), off.snapshot()]
        return [(s.source, s.resolved) for s in watch.check(report)]

    assert check() == []  # never heard from yet: the clock starts now
    bluesky.events(5)
    clock.advance(minutes=14)
    assert check() == []
    clock.advance(minutes=2)  # bluesky silent 16 min > 15; rss has its own hour
    signals = watch.check([bluesky.snapshot(), rss.snapshot(), off.snapshot()])
    assert [(s.kind, s.source, s.resolved) for s in signals] == [("source", "bluesky", False)]
    assert signals[0].fingerprint == "source:bluesky"
    assert "silent for 16 min" in signals[0].title
    clock.advance(minutes=5)
    assert check() == []  # still silent: no second alert
    bluesky.failed("ConnectError: refused", 4.0)
    clock.advance(minutes=40)
    fired = watch.check([bluesky.snapshot(), rss.snapshot(), off.snapshot()])
    assert [(s.source, s.resolved) for s in fired] == [("rss", False)]
    bluesky.events(1)
    assert check() == [("bluesky", True)]
    assert check() == []
    assert watch.silent == {"rss"}


def test_thresholds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SilenceWatch({"a": 0.0}, default=900.0)
