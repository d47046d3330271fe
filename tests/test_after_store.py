"""Background after-store hooks: coalescing, order, backpressure, errors, draining at the end."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.after_store import InBackground, coalesced
from veille.model import Enrichment, Post
from veille.pipeline import Pipeline, Stored
from veille.rules.versions import MemoryVersionRegistry
from veille.sources.replay import ReplaySource
from veille.wiring import Catalogue, ProcessorSpec


def commit(ids: list[str], *, enriched: bool = False, cursor: str = "") -> Stored:
    posts = [Post(platform="x", native_id=i, text=f"post {i}") for i in ids]
    return Stored(
        posts,
        [[] for _ in posts],
        [Enrichment(lang="fr") for _ in posts] if enriched else [],
        [],
        {"src": cursor} if cursor else {},
    )


class Recorder:
    """A hook that can be held while it works, and remembers every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.go = asyncio.Event()
        self.go.set()
        self.entered = asyncio.Event()

    async def __call__(self, stored: Stored) -> None:
        self.entered.set()
        await self.go.wait()
        self.calls.append([p.native_id for p in stored.posts])


def test_commits_queued_while_the_hook_works_reach_it_as_one_in_order() -> None:
    async def scenario() -> list[list[str]]:
        hook = Recorder()
        background = InBackground(hook)
        hook.go.clear()
        await background(commit(["1"]))
        await hook.entered.wait()  # the hook holds the first commit
        for i in range(2, 6):
            await background(commit([str(i)]))
        hook.go.set()
        await background.aclose()
        return hook.calls

    assert asyncio.run(scenario()) == [["1"], ["2", "3", "4", "5"]]


def test_the_writer_waits_when_the_hook_falls_behind_by_the_bound() -> None:
    async def scenario() -> tuple[bool, list[list[str]]]:
        hook = Recorder()
        background = InBackground(hook, max_posts=3)
        hook.go.clear()
        await background(commit(["a"]))
        await hook.entered.wait()
        await background(commit(["b", "c"]))
        await background(commit(["d"]))  # 3 queued: at the bound, still accepted
        blocked = asyncio.create_task(background(commit(["e"])))
        await asyncio.sleep(0.05)
        waited = not blocked.done()
        hook.go.set()
        await blocked
        await background.aclose()
        return waited, hook.calls

    waited, calls = asyncio.run(scenario())
    assert waited
    assert [i for call in calls for i in call] == ["a", "b", "c", "d", "e"]


def test_a_commit_larger_than_the_bound_still_goes_through() -> None:
    async def scenario() -> list[list[str]]:
        hook = Recorder()
        background = InBackground(hook, max_posts=2)
        await background(commit(["1", "2", "3", "4"]))
        await background.aclose()
        return hook.calls

    assert asyncio.run(scenario()) == [["1", "2", "3", "4"]]


def test_a_failing_hook_is_logged_and_later_commits_still_reach_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def hook(stored: Stored) -> None:
        ids = [p.native_id for p in stored.posts]
        if "bad" in ids:
            raise RuntimeError("rollup table missing")
        seen.extend(ids)

    async def scenario() -> None:
        background = InBackground(hook)
        await background(commit(["bad"]))
        await background.drain()
        await background(commit(["ok"]))
        await background.aclose()

    with caplog.at_level(logging.ERROR, logger="veille.after_store"):
        asyncio.run(scenario())
    assert seen == ["ok"]
    assert "rollup table missing" in caplog.text


def test_a_closed_hook_starts_again_on_a_new_event_loop() -> None:
    hook = Recorder()
    background = InBackground(hook)

    async def one(ids: list[str]) -> None:
        await background(commit(ids))
        await background.aclose()

    asyncio.run(one(["1"]))
    asyncio.run(one(["2"]))
    assert hook.calls == [["1"], ["2"]]


def test_max_posts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_posts"):
        InBackground(Recorder(), max_posts=0)


commits = st.lists(
    st.tuples(st.integers(min_value=0, max_value=4), st.booleans(), st.text(max_size=3)),
    max_size=12,
)


@given(shape=commits)
def test_coalescing_keeps_every_post_in_order_and_enrichments_aligned(
    shape: list[tuple[int, bool, str]],
) -> None:
    batches, n = [], 0
    for size, enriched, cursor in shape:
        batches.append(commit([str(n + k) for k in range(size)], enriched=enriched, cursor=cursor))
        n += size
    joined = coalesced(batches)
    assert [p.native_id for s in joined for p in s.posts] == [str(k) for k in range(n)]
    for stored in joined:
        assert len(stored.matches) == len(stored.posts)
        assert len(stored.enrichments) in (0, len(stored.posts))
    # one call per run of commits that agree on having enrichments
    runs = sum(
        1
        for i, b in enumerate(batches)
        if i == 0 or bool(b.enrichments) != bool(batches[i - 1].enrichments)
    )
    assert len(joined) == runs
    cursors = [c for _, _, c in shape if c]
    if cursors:
        assert {s.cursors.get("src") for s in joined} >= {cursors[-1]}


def test_the_pipeline_ends_only_once_a_background_hook_has_seen_every_post(
    tmp_path: Path,
) -> None:
    replay = tmp_path / "posts.jsonl"
    replay.write_text(
        "".join(f'{{"id": "{i}", "text": "police {i}"}}\n' for i in range(250)), encoding="utf-8"
    )
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nid = "p"\nquery = "police"\nseverity = "low"\n', encoding="utf-8")
    catalogue = Catalogue.load([rules])
    spec = ProcessorSpec(catalogue.specs(), catalogue.versions(MemoryVersionRegistry()))
    hook = Recorder()

    class Sink:
        def write_batch(self, posts: object, *args: object, **kwargs: object) -> None:
            return None

    pipeline = Pipeline(
        [ReplaySource(replay, batch_size=10)], Sink(), spec, after_store=[InBackground(hook)]
    )
    stats = asyncio.run(pipeline.run())
    assert stats.stored == 250
    assert sorted(int(i) for call in hook.calls for i in call) == list(range(250))


def test_every_spaces_the_calls_and_joins_what_came_meanwhile() -> None:
    async def scenario() -> tuple[list[list[str]], float]:
        hook = Recorder()
        background = InBackground(hook, every=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await background(commit(["1"]))
        await hook.entered.wait()
        for i in range(2, 5):
            await asyncio.sleep(0.01)
            await background(commit([str(i)]))
        await background.aclose()
        return hook.calls, loop.time() - started

    calls, took = asyncio.run(scenario())
    assert calls == [["1"], ["2", "3", "4"]]
    assert took >= 0.2  # the second call waited for its turn


def test_every_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="every"):
        InBackground(Recorder(), every=-1)


def test_commits_left_by_a_loop_that_ended_without_closing_reach_the_hook_later() -> None:
    hook = Recorder()
    background = InBackground(hook)

    async def failed_run() -> None:
        hook.go.clear()
        await background(commit(["1"]))
        await hook.entered.wait()
        await background(commit(["2"]))  # queued behind the held call; the loop then ends

    asyncio.run(failed_run())
    hook.go = asyncio.Event()
    hook.go.set()

    async def next_run() -> None:
        await background(commit(["3"]))
        await background.aclose()

    asyncio.run(next_run())
    assert [i for call in hook.calls for i in call] == ["2", "3"]
