"""Hostile text is inert in a real browser: every XSS vector and every BLNS string, stored as
post text, author name, link and rule name, renders in the inbox, conversation and search
pages as text — no dialog, no script error, no console error, nothing lost or reshaped."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import tomlkit

from veille.alert.engine import AlertEngine
from veille.alert.policy import bounded
from veille.config import AlertsSettings
from veille.model import SEVERITIES, AlertSignal, Author, Match, Post
from veille.store.checks import MAX_ID, check_post
from veille.testing import FakeClock
from veille.web.pages.inbox import STREAM_SECONDS

from .browser import Watch, chromium, live_server, log_in
from .conftest import PASSWORD, make_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHUNK = 500


def hostile_strings(shared_data: Path) -> list[str]:
    xss = (shared_data / "bad-input/xss-payloads/xss-payload-list.txt").read_text("utf-8")
    blns = json.loads((shared_data / "bad-input/blns/blns.json").read_text("utf-8"))
    found = [line for line in xss.split("\n") if line.strip()] + [s for s in blns if s.strip()]
    return list(dict.fromkeys(found))


def as_html_text(value: str) -> str:
    """What the HTML parser makes of a text node: newlines normalised, NUL replaced."""
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")


def test_hostile_strings_render_inert(shared_data: Path, tmp_path: Path, clock: FakeClock) -> None:
    everything = hostile_strings(shared_data)
    # The store refuses (quarantines, with the reason) text it cannot keep — NUL, lone
    # surrogates; those never reach a page. Everything else must render as text.
    refused = [s for s in everything if check_post(Post(platform="p", native_id="1", text=s))]
    assert len(refused) < 20
    strings = [s for s in everything if s not in refused]
    assert len(strings) > 7000
    env = make_env(tmp_path, clock)
    # Pages stay open for seconds here: the inbox's stream lasts as in production (the
    # tests' 0.5 s end would reach the console as an error, "[object Event]").
    env.app.state.stream_seconds = STREAM_SECONDS
    doc = tomlkit.document()
    tables = tomlkit.aot()
    for i, s in enumerate(strings):
        tables.append(
            tomlkit.item({"id": f"x.{i}", "name": s, "query": f"xq{i}", "severity": "low"})
        )
    doc.append("rule", tables)
    (env.rules_dir / "hostile.toml").write_text(tomlkit.dumps(doc), encoding="utf-8")
    assert len(env.app.state.web.rulebook.rules()) == len(strings) + 2

    now = clock()
    posts, matches = [], []
    for i, s in enumerate(strings):
        chunk, root = divmod(i, CHUNK)
        posts.append(
            Post(
                platform=f"xss{chunk}",
                native_id=str(i),
                text=s,
                author=Author(id=f"a{i}", handle=f"h{i}", display_name=s[:MAX_ID]),
                url=s,
                reply_to=None if root == 0 else str(chunk * CHUNK),
                created_at=now - timedelta(seconds=i),
            )
        )
        matches.append([Match(rule=f"x.{i}", version=1)])
    written = env.store.write_batch(posts, matches, source="hostile")
    assert written.quarantined == 0
    engine = AlertEngine(env.store.engine, AlertsSettings(min_severity="info"), clock)
    signals = [
        AlertSignal(
            kind="rule",
            severity=SEVERITIES[i % 5],
            title=s,
            reasons=(s,),
            rule=f"x.{i}",
            conversation=f"xss{i // CHUNK}:{i // CHUNK * CHUNK}",
            platform=f"xss{i // CHUNK}",
            native_id=str(i),
            url=s,
            excerpt=s,
        )
        for i, s in enumerate(strings)
    ]
    engine.submit(signals)
    expected_titles = [as_html_text(bounded(signal).title) for signal in signals]

    chunks = (len(strings) + CHUNK - 1) // CHUNK
    expected_texts = [as_html_text(s) for s in strings]
    with chromium() as browser, live_server(env.app) as base:
        page = browser.new_page()
        watch = Watch()
        watch.attach(page)
        log_in(page, base, "admin", PASSWORD)

        seen_titles: list[str] = []
        url = f"{base}/inbox?status=all&limit={CHUNK}"
        while url:
            page.goto(url, wait_until="domcontentloaded")
            seen_titles += page.eval_on_selector_all(
                "#inbox-list .alert .title", "e => e.map(x => x.textContent)"
            )
            more = page.query_selector("a[href*='cursor=']")
            url = base + more.get_attribute("href") if more else ""
        assert sorted(seen_titles) == sorted(expected_titles)

        for k in range(chunks):
            page.goto(f"{base}/conversations/xss{k}:{k * CHUNK}", wait_until="domcontentloaded")
            texts = page.eval_on_selector_all(".post .text", "e => e.map(x => x.textContent)")
            names = page.eval_on_selector_all(".post .author", "e => e.map(x => x.textContent)")
            assert sorted(texts) == sorted(expected_texts[k * CHUNK : (k + 1) * CHUNK])
            assert all(n.strip() for n in names)

            page.goto(
                f"{base}/search?q=platform:xss{k}&days=3660&limit={CHUNK}",
                wait_until="domcontentloaded",
            )
            found = page.eval_on_selector_all(".post .text", "e => e.map(x => x.textContent)")
            assert sorted(found) == sorted(expected_texts[k * CHUNK : (k + 1) * CHUNK])
            links = page.eval_on_selector_all("a.original", "e => e.map(x => x.protocol)")
            assert set(links) <= {"http:", "https:"}

        page.goto(f"{base}/rules", wait_until="domcontentloaded")
        shown = page.eval_on_selector_all("tbody tr td:first-child .muted", "e => e.length")
        assert shown == len(strings) + 2
        assert watch.clean(), (watch.dialogs[:5], watch.errors[:5])
    env.store.close()
