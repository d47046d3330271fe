from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from veille.sources.health import HealthTracker
from veille.store import Store
from veille.store.source_health import load_health, save_health
from veille.testing import FakeClock

T0 = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_health_survives_the_process_and_is_replaced_per_source(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    url = f"sqlite:///{tmp_path / 'v.db'}"
    tracker = HealthTracker("mastodon:m.example", "mastodon", clock)
    other = HealthTracker("rss", "rss", clock)
    tracker.connected("streaming public:local")
    tracker.events(3, newest_created_at=T0 - timedelta(seconds=4))
    tracker.cursor('{"public:local": "17"}')
    tracker.gap(T0 - timedelta(minutes=5), T0, "more than 20 pages missed <b>")
    with Store.open(url) as store:
        save_health(store.engine, [tracker.snapshot(), other.snapshot()], T0)
        clock.advance(seconds=15)
        tracker.failed("HTTP 503", 2.0)
        save_health(store.engine, [tracker.snapshot()], clock())
        save_health(store.engine, [], clock())
    with Store.open(url) as store:  # another process, later
        stored = {s.health.name: s for s in load_health(store.engine)}
    assert list(stored) == ["mastodon:m.example", "rss"]
    mastodon = stored["mastodon:m.example"]
    assert mastodon.reported_at == T0 + timedelta(seconds=15)
    assert mastodon.health == tracker.snapshot()
    assert mastodon.health.gaps[0].reason == "more than 20 pages missed <b>"
    assert stored["rss"].reported_at == T0
