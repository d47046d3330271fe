"""GET /api/sources and the Sources page: health as veille run stored it, and blind spots."""

from __future__ import annotations

from datetime import timedelta

import pytest

from veille.config import Settings
from veille.sources.health import HealthTracker
from veille.store.source_health import save_health
from veille.web.app import make_web

from .conftest import Env, login

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def sources_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.delenv("VEILLE_X_BEARER_TOKEN", raising=False)
    settings = Settings.model_validate(
        {
            **env.settings.model_dump(),
            "sources": {
                "bluesky": {"enabled": True},
                "mastodon": [{"url": "https://m.example", "silent_after": 60}],
                "reddit": {"enabled": False},
                "x": {"enabled": True},
            },
        }
    )
    env.app.state.web = make_web(settings, env.store, clock=env.clock)
    now = env.clock()
    bluesky = HealthTracker("bluesky", "bluesky", env.clock)
    bluesky.connected()
    bluesky.events(30, newest_created_at=now - timedelta(seconds=2))
    mastodon = HealthTracker("mastodon:m.example", "mastodon", env.clock)
    mastodon.events(1)
    env.clock.advance(minutes=5)
    mastodon.failed(f"HTTP 503 {HOSTILE}", 8.0)
    mastodon.gap(now, env.clock(), "more than 20 pages missed")
    save_health(env.store.engine, [bluesky.snapshot(), mastodon.snapshot()], env.clock())
    return env


def test_api_lists_health_and_blind_spots(sources_env: Env) -> None:
    response = sources_env.api("viewer").get("/api/sources")
    assert response.status_code == 200, response.text
    by_name = {s["name"]: s for s in response.json()}
    assert list(by_name) == ["bluesky", "mastodon:m.example", "reddit", "rss", "x"]
    bluesky = by_name["bluesky"]
    assert bluesky["state"] == "connected"
    assert bluesky["lag_seconds"] == 2.0
    assert bluesky["blind"] == []  # 5 min quiet < the default 15 min
    mastodon = by_name["mastodon:m.example"]
    assert mastodon["state"] == "backing off"
    assert mastodon["silent"] is True  # its own threshold: 60 s
    assert len(mastodon["gaps"]) == 1
    assert any(b.startswith("backing off: HTTP 503") for b in mastodon["blind"])
    assert any("gap" in b and "20 pages" in b for b in mastodon["blind"])
    assert by_name["reddit"]["state"] == "disabled"
    x = by_name["x"]
    assert x["state"] == "unknown"
    assert x["blind"] == [
        "set VEILLE_X_BEARER_TOKEN",
        "no health report: veille run is not running, or has just started",
    ]


def test_a_report_that_stops_coming_is_stale(sources_env: Env) -> None:
    sources_env.clock.advance(minutes=2)
    by_name = {s["name"]: s for s in sources_env.api("viewer").get("/api/sources").json()}
    assert by_name["bluesky"]["stale"] is True
    assert "veille run stopped reporting" in by_name["bluesky"]["blind"][0]


def test_sources_page_and_fragment_escape_what_they_show(sources_env: Env) -> None:
    client = sources_env.client()
    login(client, "viewer")
    page = client.get("/sources")
    assert page.status_code == 200
    assert 'hx-get="/sources/table"' in page.text
    assert "mastodon:m.example" in page.text
    assert HOSTILE not in page.text
    assert "&lt;script&gt;" in page.text
    client.get("/lang/nl?next=/sources")
    fragment = client.get("/sources/table")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "Blinde vlekken nu" in fragment.text
    assert "wacht op herverbinding" in fragment.text
