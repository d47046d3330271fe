"""An analyst's shift, in Debian's Chromium: log in, watch a replayed stream raise an alert that
appears live in the inbox, acknowledge it, open the conversation, edit a rule, dry-run it on the
archive, open the temperature page. Screenshots of each page go to the test's output folder."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from veille.alert.service import AlertService
from veille.alert.signals import AlertHook, RuleInfo
from veille.config import AlertsSettings
from veille.match.matcher import Matcher
from veille.model import Sentiment
from veille.pipeline import Pipeline, Processor
from veille.rules.files import load_rules
from veille.sources.replay import ReplaySource
from veille.store import Store
from veille.store import trends as trend_store
from veille.testing import FakeClock
from veille.web.pages.inbox import STREAM_SECONDS

from .browser import Watch, chromium, live_server, log_in
from .conftest import PASSWORD, make_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def replay_file(path: Path, clock: FakeClock) -> Path:
    now = clock()
    lines = [
        {
            "id": "r1",
            "platform": "mastodon",
            "text": "Quelqu'un a vu la police près du parc ?",
            "author": {"handle": "anne", "name": "Anne"},
            "url": "https://example.org/@anne/r1",
            "created_at": (now - timedelta(minutes=5)).isoformat(),
        },
        {
            "id": "r2",
            "platform": "mastodon",
            "text": "Oui, la politie aussi, trois voitures",
            "author": "bert",
            "reply_to": "r1",
            "created_at": (now - timedelta(minutes=4)).isoformat(),
        },
        {
            "id": "r3",
            "platform": "mastodon",
            "text": "Nouvelle arnaque par sms ce matin",
            "author": "carl",
            "created_at": (now - timedelta(minutes=3)).isoformat(),
        },
    ]
    path.write_bytes(b"".join(msgspec.json.encode(line) + b"\n" for line in lines))
    return path


def run_pipeline(store: Store, rules_dir: Path, replay: Path) -> None:
    """The real pipeline (replay → match → store → alerts) in its own thread and loop."""
    rules = load_rules([rules_dir])
    service = AlertService(store.engine, AlertsSettings(min_severity="medium"))
    hook = AlertHook(service, {r.id: RuleInfo(r.severity, r.name, r.tags) for r in rules})
    pipeline = Pipeline(
        [ReplaySource(replay, platform="generic")],
        store,
        Processor(Matcher(rules, store.versions)),
        after_store=[hook],
    )
    asyncio.run(pipeline.run())


def record_trends(store: Store, tags: dict[str, tuple[str, ...]]) -> None:
    """Count the stored posts into the rollups, as the trends step does after each commit."""
    stored = [s for batch in store.iter_posts() for s in batch]
    with store.engine.begin() as conn:
        trend_store.record(
            conn,
            [s.post for s in stored],
            [[m.match.rule for m in s.matches] for s in stored],
            [Sentiment(label="negative", score=0.7, polarity=-0.5) for _ in stored],
            tags_of=tags,
        )


def test_analyst_shift(tmp_path: Path, clock: FakeClock) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    env = make_env(tmp_path, clock)
    # Pages stay open for seconds here: the inbox's stream lasts as in production (the
    # tests' 0.5 s end would reach the console as an error, "[object Event]").
    env.app.state.stream_seconds = STREAM_SECONDS
    replay = replay_file(tmp_path / "stream.jsonl", clock)
    with chromium() as browser, live_server(env.app) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = Watch()
        watch.attach(page)
        log_in(page, base, "analyst", PASSWORD)
        page.goto(f"{base}/inbox")
        assert page.locator("#inbox-list .alert").count() == 0
        page.screenshot(path=str(shots / "1-inbox-empty.png"), full_page=True)

        # The stream arrives while the analyst looks at the inbox: the alert appears live.
        worker = threading.Thread(target=run_pipeline, args=(env.store, env.rules_dir, replay))
        worker.start()
        worker.join(timeout=60)
        card = page.locator("#inbox-list .alert", has_text="t.police").first
        card.wait_for(timeout=15_000)
        assert card.locator("mark").first.inner_text() in ("police", "politie")
        page.screenshot(path=str(shots / "2-inbox-live-alert.png"), full_page=True)

        card.locator("button.ack").click()
        page.locator("#inbox-list .alert.status-acknowledged").first.wait_for(timeout=10_000)
        page.screenshot(path=str(shots / "3-inbox-acknowledged.png"), full_page=True)

        card = page.locator("#inbox-list .alert", has_text="t.police").first
        card.get_by_role("link", name="Conversation").click()
        page.wait_for_url("**/conversations/**")
        assert page.locator(".post").count() == 2
        assert page.locator(".post mark").first.inner_text() == "police"
        page.screenshot(path=str(shots / "4-conversation.png"), full_page=True)

        page.goto(f"{base}/rules/t.police")
        query = page.locator("textarea[name=query]")
        query.fill("police OR politie OR (")
        page.locator("#problems li.error").wait_for(timeout=10_000)  # inline validation
        query.fill("police OR politie OR polizei")
        page.locator("#problems .ok").wait_for(timeout=10_000)
        page.fill("input[name=days]", "2")
        page.get_by_role("button", name="Dry-run", exact=True).click()
        page.locator("#dry-run-result .count").wait_for(timeout=15_000)
        assert page.locator("#dry-run-result .count").inner_text() == "2"
        page.screenshot(path=str(shots / "5-rule-dry-run.png"), full_page=True)
        page.fill("input[name=reason]", "add the German word")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url("**/rules/t.police?saved=1")
        assert "add the German word" in page.locator("section").last.inner_text()
        assert "polizei" in (env.rules_dir / "base.toml").read_text()
        page.screenshot(path=str(shots / "6-rule-saved.png"), full_page=True)

        record_trends(env.store, env.app.state.web.rulebook.tags())
        page.goto(f"{base}/temperature")
        assert page.locator("h1").inner_text() == "Temperature"
        page.locator(".chart canvas").first.wait_for(timeout=10_000)  # uPlot drew the charts
        assert page.locator(".chart canvas").count() >= 2
        page.screenshot(path=str(shots / "7-temperature.png"), full_page=True)
        assert watch.clean(), (watch.dialogs, watch.errors)
    audit = [e.action for e in env.store_audit().entries(limit=200)]
    for action in (
        "auth.login",
        "alert.acknowledge",
        "conversation.view",
        "rule.dry_run",
        "rule.edit",
    ):
        assert action in audit
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-inbox-empty.png",
        "2-inbox-live-alert.png",
        "3-inbox-acknowledged.png",
        "4-conversation.png",
        "5-rule-dry-run.png",
        "6-rule-saved.png",
        "7-temperature.png",
    ]
    env.store.close()
