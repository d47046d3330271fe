import asyncio
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from tests.test_pipeline import MemorySink
from veille.enrich.detect import Urgent
from veille.model import Match, RawItem
from veille.pipeline import Pipeline
from veille.reload import RuleWatcher, swap_catalogue
from veille.sources.base import Batch
from veille.store import Store
from veille.wiring import Catalogue, ProcessorSpec

RULES = """
[[rule]]
id = "a"
severity = "low"
query = '{a}'

[[rule]]
id = "b"
severity = "{severity}"
query = '{b}'
"""


def write_rules(folder: Path, generation: int, severity: str = "low") -> None:
    """Both rules change together: generation g matches the words police{g} and gent{g}."""
    a = " OR ".join(f"police{g}" for g in range(generation + 1))
    b = " OR ".join(f"gent{g}" for g in range(generation + 1))
    path = folder / "rules.toml"
    path.write_text(RULES.format(a=a, b=b, severity=severity), "utf-8")
    # Some file systems keep mtimes coarser than the time between two writes of a test.
    os.utime(path, ns=(generation * 10**9, generation * 10**9))


class Feed:
    """A source the test feeds batch by batch; ``None`` ends it."""

    name = "feed"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Batch | None] = asyncio.Queue()
        self.sent = 0

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        while (batch := await self.queue.get()) is not None:
            yield batch

    def send(self, *texts: str) -> None:
        items = []
        for text in texts:
            self.sent += 1
            payload = msgspec.json.encode({"id": str(self.sent), "text": text})
            items.append(
                RawItem(source="feed", platform="generic", payload=payload, received_at=NOW)
            )
        self.queue.put_nowait(Batch(items, cursor=str(self.sent)))


NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    write_rules(folder, 0)
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'veille.db'}")


async def test_unchanged_or_touched_files_reload_nothing(rules: Path) -> None:
    applied: list[Catalogue] = []

    async def apply(catalogue: Catalogue) -> None:
        applied.append(catalogue)

    watcher = RuleWatcher([str(rules)], apply)
    assert not await watcher.check()
    os.utime(rules / "rules.toml", ns=(5 * 10**9, 5 * 10**9))  # saved without a change
    assert not await watcher.check()
    write_rules(rules, 1)
    assert await watcher.check()
    assert [r.query.source for r in applied[0].rules] == ["police0 OR police1", "gent0 OR gent1"]
    (rules / "more.toml").write_text('[[rule]]\nid = "c"\nseverity = "low"\nquery = "x"\n')
    assert await watcher.check()  # a new file in a watched folder
    assert [r.id for r in applied[1].rules] == ["c", "a", "b"]
    assert watcher.reloads == 2


async def test_an_invalid_edit_keeps_the_running_rules_and_says_why_once(
    rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    applied: list[Catalogue] = []

    async def apply(catalogue: Catalogue) -> None:
        applied.append(catalogue)

    watcher = RuleWatcher([str(rules)], apply)
    (rules / "rules.toml").write_text('[[rule]]\nid = "a"\nseverity = "low"\nquery = "x AND"\n')
    with caplog.at_level(logging.ERROR, "veille.reload"):
        assert not await watcher.check()
        assert not await watcher.check()
    assert applied == []
    assert "AND needs something on its right" in watcher.error
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "the running rules stay" in errors[0].getMessage()
    assert "rules.toml:4" in errors[0].getMessage()
    write_rules(rules, 2)
    assert await watcher.check()
    assert watcher.error == ""
    assert len(applied) == 1


def versions_of(matches: list[Match]) -> set[int]:
    return {m.version for m in matches}


async def changing_rules_while_running(rules: Path, store: Store, workers: int) -> None:
    """Batches flow while the rules change three times; each post is matched by one whole
    catalogue, and every post after a swap by the new one."""
    catalogue = Catalogue.load([str(rules)])
    spec = ProcessorSpec.of(catalogue, catalogue.versions(store.versions))
    feed, sink = Feed(), MemorySink()
    pipeline = Pipeline([feed], sink, spec, workers=workers, store_batch_posts=1)
    stored = asyncio.Event()
    pipeline.after_store.append(lambda _: stored.set())

    async def use(new: Catalogue) -> None:
        nonlocal spec
        spec = await swap_catalogue(pipeline, spec, new, store.versions)

    watcher = RuleWatcher([str(rules)], use)
    running = asyncio.create_task(pipeline.run())
    texts = [f"police{g} gent{g}" for g in range(4)]

    async def keep_feeding(stop: asyncio.Event) -> None:
        while not stop.is_set():
            feed.send(*texts)
            await asyncio.sleep(0.005)

    for generation in range(1, 4):
        stop = asyncio.Event()
        feeding = asyncio.create_task(keep_feeding(stop))
        await asyncio.sleep(0.05)
        write_rules(rules, generation)
        assert await watcher.check()  # the swap happens while batches flow
        stop.set()
        await feeding
        # Posts sent from now on must meet the new rules.
        stored.clear()
        first_after = feed.sent + 1
        feed.send(*texts)
        while not any(p.native_id == str(first_after) for p in sink.posts):
            await asyncio.wait_for(stored.wait(), 30)
            stored.clear()
        post, matches = next(
            (p, m)
            for t in sink.transactions
            for p, m in zip(t[0], t[1], strict=True)
            if p.native_id == str(first_after + generation)  # "police{g} gent{g}", g new
        )
        assert {m.rule for m in matches} == {"a", "b"}, post.text
        assert versions_of(matches) == {generation + 1}
    feed.queue.put_nowait(None)
    await asyncio.wait_for(running, 30)

    seen = 0
    for t in sink.transactions:
        for matches in t[1]:
            versions = versions_of(matches)
            assert len(versions) <= 1, "a post met half of one catalogue and half of another"
            if versions:
                assert min(versions) >= seen  # never an older catalogue after a newer one
                seen = max(versions)
    assert seen == 4
    assert store.versions.query("a", 4) == "police0 OR police1 OR police2 OR police3"


async def test_a_rule_change_is_swapped_in_between_batches(rules: Path, store: Store) -> None:
    await changing_rules_while_running(rules, store, workers=0)


@pytest.mark.slow
async def test_worker_processes_get_the_new_catalogue(rules: Path, store: Store) -> None:
    await changing_rules_while_running(rules, store, workers=2)


def test_renew_keeps_the_steps_and_scores_with_the_new_severities(rules: Path) -> None:
    catalogue = Catalogue.load([str(rules)])
    spec = ProcessorSpec.of(
        catalogue, {"a": 1, "b": 1}, enrichers=("veille.enrich.detect:pipeline_urgent",)
    )
    before = spec()
    write_rules(rules, 0, severity="critical")
    changed = Catalogue.load([str(rules)])
    after = ProcessorSpec.of(changed, {"a": 1, "b": 1}, enrichers=spec.enrichers).renew(before)
    (old_urgent,) = before.enrichers
    (new_urgent,) = after.enrichers
    assert isinstance(old_urgent, Urgent)
    assert isinstance(new_urgent, Urgent)
    assert new_urgent.velocity_of is old_urgent.velocity_of  # the counts go on
    assert old_urgent.severity_of is not None
    assert new_urgent.severity_of is not None
    assert old_urgent.severity_of("b") == "low"
    assert new_urgent.severity_of("b") == "critical"
    assert after.matcher is not before.matcher
