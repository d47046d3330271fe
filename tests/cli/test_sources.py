from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.sources.fake_jetstream import FakeJetstream, running
from veille.cli import main
from veille.config import SourcesSettings
from veille.sources.configured import configured, live_sources
from veille.sources.health import HealthRegistry


def test_lists_configured_sources_and_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEILLE_REDDIT_CLIENT_ID", raising=False)
    config = tmp_path / "veille.toml"
    config.write_text(
        '[sources.reddit]\nenabled = true\n[[sources.mastodon]]\nurl = "https://m.example"\n'
        'token_env = "VEILLE_TEST_TOKEN_UNSET"\n'
    )
    monkeypatch.setenv("VEILLE_CONFIG", str(config))
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0, result.output
    assert "mastodon:m.example" in result.output
    assert "VEILLE_REDDIT_CLIENT_ID" in result.output


def test_live_sources_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEILLE_X_BEARER_TOKEN", raising=False)
    settings = SourcesSettings.model_validate(
        {
            "bluesky": {"enabled": True},
            "rss": {"enabled": True, "feeds": [{"url": "https://a.b/"}]},
            "x": {"enabled": True},
        }
    )
    registry = HealthRegistry()
    names = [s.name for s in live_sources(settings, registry)]
    assert names == ["bluesky", "rss", "x"]
    problems = {c.name: c.problem for c in configured(settings)}
    assert problems["x"] == "set VEILLE_X_BEARER_TOKEN"


@pytest.mark.integration
async def test_check_runs_sources_and_reports_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    line = (
        (shared_data / "fixtures" / "bluesky-jetstream" / "subscribe-golden" / "golden_v1.jsonl")
        .read_bytes()
        .splitlines()
    )
    async with running(FakeJetstream(line)) as fake:
        config = tmp_path / "veille.toml"
        config.write_text(f'[sources.bluesky]\nenabled = true\nhosts = ["{fake.url}"]\n')
        monkeypatch.setenv("VEILLE_CONFIG", str(config))
        from veille.cli.sources import _probe, health_table
        from veille.config import load_settings

        registry = HealthRegistry()
        await _probe(live_sources(load_settings().sources, registry), 0.5)
    report = registry.report()
    assert report[0].state.value == "connected"
    assert report[0].events_per_minute >= 1
    assert health_table(report).row_count == 1


def test_x_rules_shows_what_is_asked_from_x(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "a"\nseverity = "low"\nquery = "police AND NOT flic*"\n'
        '[[rule]]\nid = "b"\nseverity = "low"\nquery = "/re+gex/"\n'
    )
    config = tmp_path / "veille.toml"
    config.write_text(f'[rules]\npaths = ["{rules}"]\n')
    monkeypatch.setenv("VEILLE_CONFIG", str(config))
    result = CliRunner().invoke(main, ["sources", "--x-rules"])
    assert result.exit_code == 0, result.output
    assert "police OR #police" in result.output
    assert "whole stream" in result.output


async def test_veille_run_reports_health_to_the_store_and_silence_to_the_alert_engine(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from veille.alert.service import AlertService
    from veille.cli.run import report_health
    from veille.config import AlertsSettings
    from veille.sources.silence import SilenceWatch
    from veille.store import Store
    from veille.store.alerts import list_alerts
    from veille.store.source_health import load_health
    from veille.testing import FakeClock

    clock = FakeClock(datetime(2026, 11, 29, 12, tzinfo=UTC))
    registry = HealthRegistry()
    tracker = registry.tracker("bluesky", "bluesky", clock)
    tracker.connected()
    tracker.events(3)
    store = Store.open(f"sqlite:///{tmp_path / 'v.db'}", clock=clock)
    alerting = AlertService(store.engine, AlertsSettings(), clock=clock, channels={})
    watch = SilenceWatch({"bluesky": 60.0}, 900.0, clock)
    task = asyncio.create_task(report_health(store, alerting.submit, watch, 0.01, registry))

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(500):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached")

    def source_alerts() -> list[str]:
        with store.engine.connect() as conn:
            return [a.status for a in list_alerts(conn, kind="source")]

    try:
        await until(lambda: bool(load_health(store.engine)))
        assert source_alerts() == []
        clock.advance(minutes=2)
        await until(lambda: source_alerts() == ["firing"])
        tracker.events(1)
        await until(lambda: source_alerts() == ["resolved"])
        assert load_health(store.engine)[0].health.events_per_minute == 1
    finally:
        task.cancel()
        store.close()


def test_sources_shows_the_health_veille_run_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veille.sources.health import HealthTracker
    from veille.store import Store
    from veille.store.source_health import save_health

    url = f"sqlite:///{tmp_path / 'v.db'}"
    config = tmp_path / "veille.toml"
    config.write_text(f'[store]\nurl = "{url}"\n[sources.bluesky]\nenabled = true\n')
    monkeypatch.setenv("VEILLE_CONFIG", str(config))
    result = CliRunner().invoke(main, ["sources"])
    assert "reported" not in result.output  # no database yet: none is created
    assert not (tmp_path / "v.db").exists()
    tracker = HealthTracker("bluesky", "bluesky")
    tracker.failed("ConnectError: refused", 3.0)
    with Store.open(url) as store:
        save_health(store.engine, [tracker.snapshot()], tracker.snapshot().since)
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0, result.output
    assert "Health as veille run last reported it" in result.output
    assert "ConnectError: refused" in result.output
