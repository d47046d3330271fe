import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from veille.match.matcher import Matcher
from veille.model import Enrichment, Finding, Match, Post, Quarantined, RawItem
from veille.normalise import registry
from veille.normalise.fold import Folded
from veille.pipeline import Pipeline, Processor, Stored
from veille.rules.rule import Rule
from veille.sources.base import Batch
from veille.sources.replay import ReplaySource
from veille.store import Store
from veille.store.schema import posts as posts_table
from veille.testing import FakeClock


class WordMatcher:
    """The real matcher with one rule per word; a post saying "explode" makes it raise."""

    def __init__(self, *words: str) -> None:
        self.matcher = Matcher([Rule.of(w, w) for w in words])

    def match(self, post: Post, folded: Folded | None = None) -> list[Match]:
        assert folded is not None
        if "explode" in folded.tokens:
            raise RuntimeError("matcher exploded")
        return self.matcher.match(post, folded)


class MemorySink:
    """Records each transaction; can be slowed down or made to refuse a post."""

    def __init__(self, refuse: str | None = None, delay: float = 0.0) -> None:
        self.transactions: list[
            tuple[list[Post], list[list[Match]], list[Quarantined], dict[str, str]]
        ] = []
        self.refuse = refuse
        self.delay = delay
        self.attempts = 0
        self.payloads: list[bytes | None] = []

    def write_batch(
        self,
        posts: Sequence[Post],
        matches: Sequence[Sequence[Match]] | None = None,
        cursors: Mapping[str, str] | None = None,
        *,
        rejected: Sequence[Quarantined] = (),
        folded: Sequence[str] | None = None,
        payloads: Sequence[bytes | None] | None = None,
        source: str = "",
        enrichments: Sequence[Enrichment] | None = None,
        checked: bool = False,
    ) -> None:
        self.attempts += 1
        if self.delay:
            time.sleep(self.delay)
        if self.refuse and any(p.native_id == self.refuse for p in posts):
            raise ValueError(f"cannot store {self.refuse}")
        assert folded is not None
        assert payloads is not None
        assert len(folded) == len(posts) == len(matches or ()) == len(payloads)
        self.payloads += payloads
        self.transactions.append(
            (list(posts), [list(m) for m in matches or ()], list(rejected), dict(cursors or {}))
        )

    @property
    def posts(self) -> list[Post]:
        return [p for t in self.transactions for p in t[0]]

    @property
    def quarantined(self) -> list[Quarantined]:
        return [q for t in self.transactions for q in t[2]]


def jsonl(path: Path, n: int, extra: Sequence[bytes] = ()) -> Path:
    lines = [
        msgspec.json.encode(
            {"id": i, "text": f"post {i} about police" if i % 3 == 0 else f"post {i}"}
        )
        for i in range(n)
    ]
    path.write_bytes(b"\n".join([*lines, *extra]) + b"\n")
    return path


def processor() -> Processor:
    return Processor(WordMatcher("police"), clock=FakeClock())


async def test_posts_matches_and_cursors_flow_in_order(tmp_path: Path) -> None:
    source = ReplaySource(jsonl(tmp_path / "a.jsonl", 100), batch_size=10)
    sink = MemorySink()
    seen: list[Stored] = []
    stats = await Pipeline([source], sink, processor(), after_store=[seen.append]).run()
    assert [p.native_id for p in sink.posts] == [str(i) for i in range(100)]
    assert stats.stored == 100
    assert stats.matched_posts == 34
    matched = [p.native_id for t in sink.transactions for p, m in zip(t[0], t[1], strict=True) if m]
    assert matched == [str(i) for i in range(0, 100, 3)]
    last = sink.transactions[-1][3]
    assert last == {source.name: str((tmp_path / "a.jsonl").stat().st_size)}
    assert sum(len(s.posts) for s in seen) == 100


async def test_a_bad_record_is_quarantined_and_its_neighbours_go_on(tmp_path: Path) -> None:
    bad = [b"not json", b'{"text": "no id"}', b'{"id": "x", "text": "explode"}', b'{"id": "after"}']
    source = ReplaySource(jsonl(tmp_path / "a.jsonl", 5, bad), max_line_bytes=40)
    with (tmp_path / "a.jsonl").open("ab") as f:
        f.write(b"y" * 100 + b"\n" + b'{"id": "last"}\n')
    sink = MemorySink()
    await Pipeline([source], sink, processor()).run()
    assert [p.native_id for p in sink.posts] == ["0", "1", "2", "3", "4", "after", "last"]
    errors = {(q.stage, q.error.split(":")[0]) for q in sink.quarantined}
    assert errors == {
        ("normalise", "line 6"),
        ("normalise", "line 7"),
        ("match", "line 8"),
        ("source", "line 10"),
    }
    assert all(q.source == source.name for q in sink.quarantined)
    by_line = {q.error.split(":")[0]: q for q in sink.quarantined}
    assert by_line["line 6"].payload == b"not json"
    assert "not valid JSON" in by_line["line 6"].error
    assert "matcher exploded" in by_line["line 8"].error


async def test_store_failure_isolates_the_one_post(tmp_path: Path) -> None:
    source = ReplaySource(jsonl(tmp_path / "a.jsonl", 50))
    sink = MemorySink(refuse="17")
    await Pipeline([source], sink, processor(), store_batch_posts=50).run()
    assert [p.native_id for p in sink.posts] == [str(i) for i in range(50) if i != 17]
    (culprit,) = sink.quarantined
    assert culprit.stage == "store"
    assert "cannot store 17" in culprit.error
    assert msgspec.json.decode(culprit.payload)["native_id"] == "17"
    # the cursor is committed once, with the last piece
    assert [t[3] for t in sink.transactions if t[3]] == [
        {source.name: str((tmp_path / "a.jsonl").stat().st_size)}
    ]


async def test_cursor_is_never_ahead_of_stored_posts(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", 300)
    sink = MemorySink(delay=0.001)
    await Pipeline(
        [ReplaySource(path, batch_size=7)], sink, processor(), store_batch_posts=20
    ).run()
    stored = 0
    data = path.read_bytes()
    for posts, _, _, cursors in sink.transactions:
        stored += len(posts)
        for cursor in cursors.values():
            lines_before_cursor = data[: int(cursor)].count(b"\n")
            assert lines_before_cursor <= stored


class Endless:
    """A source that never ends on its own: counts how far it got."""

    name = "endless"

    def __init__(self) -> None:
        self.produced = 0

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        n = int(cursor or 0)
        while True:
            items = [
                RawItem(
                    source=self.name,
                    platform="generic",
                    payload=b'{"id": %d}' % (n + i),
                    received_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
                for i in range(10)
            ]
            n += 10
            self.produced = n
            yield Batch(items, cursor=str(n))
            await asyncio.sleep(0)


async def test_slow_store_slows_the_source_and_stop_drains() -> None:
    source = Endless()
    sink = MemorySink(delay=0.02)
    pipeline = Pipeline([source], sink, processor(), queue_batches=2, store_batch_posts=10)
    running = asyncio.create_task(pipeline.run())
    # Bounded: raw (2) + in flight (2) + processed (2) queued, one batch held by each of the
    # source, submitter, collector and writer = 10 batches of 10 at most ahead of the store.
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert source.produced - pipeline.stats.stored <= 100
    pipeline.stop()
    stats = await asyncio.wait_for(running, 5)
    assert stats.stored == len(sink.posts)
    last_cursor = int(sink.transactions[-1][3]["endless"])
    assert last_cursor == len(sink.posts)  # everything read was stored, in order
    assert [p.native_id for p in sink.posts] == [str(i) for i in range(len(sink.posts))]


async def test_resuming_from_committed_cursors_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", 200)
    first = MemorySink()
    pipeline = Pipeline(
        [ReplaySource(path, batch_size=10)], first, processor(), store_batch_posts=10
    )

    def stop_early(done: Stored) -> None:
        if pipeline.stats.stored >= 50:
            pipeline.stop()

    pipeline.after_store.append(stop_early)
    await pipeline.run()
    second = MemorySink()
    await Pipeline(
        [ReplaySource(path, batch_size=10)], second, processor(), cursors=pipeline.cursors
    ).run()
    ids = [p.native_id for p in first.posts + second.posts]
    assert ids == [str(i) for i in range(200)]


def make_processor() -> Processor:
    return Processor(WordMatcher("police"))


async def test_worker_processes_give_the_same_result(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", 500, [b"oops"])
    local, pooled = MemorySink(), MemorySink()
    await Pipeline([ReplaySource(path, batch_size=50)], local, processor()).run()
    await Pipeline([ReplaySource(path, batch_size=50)], pooled, make_processor, workers=2).run()
    assert [(p.native_id, p.text) for p in pooled.posts] == [
        (p.native_id, p.text) for p in local.posts
    ]
    assert [m for t in pooled.transactions for m in t[1]] == [
        m for t in local.transactions for m in t[1]
    ]
    assert [q.error for q in pooled.quarantined] == [q.error for q in local.quarantined]
    # The raw copies stay in this process: each post's payload is the line it came from.
    assert pooled.payloads == local.payloads == path.read_bytes().splitlines()[:500]


class KillerMatcher(WordMatcher):
    def match(self, post: Post, folded: Folded | None = None) -> list[Match]:
        if post.native_id == "13":
            os._exit(1)  # a crash in native code: the worker process dies
        return super().match(post, folded)


def killer_processor() -> Processor:
    return Processor(KillerMatcher("police"))


async def test_a_record_that_kills_its_worker_is_isolated(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", 40)
    sink = MemorySink()
    await Pipeline([ReplaySource(path, batch_size=40)], sink, killer_processor, workers=1).run()
    assert [p.native_id for p in sink.posts] == [str(i) for i in range(40) if i != 13]
    # Bisecting the batch keeps each post with its own payload.
    assert [msgspec.json.decode(p or b"")["id"] for p in sink.payloads] == [
        i for i in range(40) if i != 13
    ]
    (dead,) = sink.quarantined
    assert "worker process died" in dead.error
    assert dead.error.startswith("line 14")


def annotate(
    post: Post, folded: Folded, matches: Sequence[Match], so_far: Enrichment
) -> Enrichment:
    return msgspec.structs.replace(
        so_far,
        findings=(
            *so_far.findings,
            Finding(kind="words", detector="t", score=len(folded.tokens) / 10),
        ),
    )


def broken(post: Post, folded: Folded, matches: Sequence[Match], so_far: Enrichment) -> Enrichment:
    if post.native_id == "2":
        raise ValueError("detector failed")
    return so_far


async def test_enrichers_and_language_hook_run_between_match_and_store(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", 4)
    seen: list[Stored] = []
    proc = Processor(
        WordMatcher("police"), language=lambda post, folded: "nl", enrichers=[annotate, broken]
    )
    await Pipeline([ReplaySource(path)], MemorySink(), proc, after_store=[seen.append]).run()
    (stored,) = seen
    assert [p.native_id for p in stored.posts] == ["0", "1", "3"]
    assert [e.findings[0].score for e in stored.enrichments] == [0.4, 0.2, 0.4]
    assert {p.lang for p in stored.posts} == {"nl"}
    assert [(q.stage, "detector failed" in q.error) for q in stored.quarantined] == [
        ("enrich", True)
    ]


async def test_language_falls_back_to_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"id": 1, "lang": "DE"}\n{"id": 2}\n')
    sink = MemorySink()
    await Pipeline([ReplaySource(path)], sink, processor()).run()
    assert [p.lang for p in sink.posts] == ["de", ""]


async def test_a_failing_hook_does_not_stop_storage(tmp_path: Path) -> None:
    def bad_hook(stored: Stored) -> None:
        raise RuntimeError("hook broke")

    sink = MemorySink()
    await Pipeline(
        [ReplaySource(jsonl(tmp_path / "a.jsonl", 30), batch_size=10)],
        sink,
        processor(),
        store_batch_posts=10,
        after_store=[bad_hook],
    ).run()
    assert len(sink.posts) == 30


async def test_signal_drains_and_commits() -> None:
    source = Endless()
    sink = MemorySink(delay=0.005)
    pipeline = Pipeline([source], sink, processor(), store_batch_posts=10)
    running = asyncio.create_task(pipeline.run())
    await asyncio.sleep(0.05)
    pipeline.install_signal_handlers()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, 5)
    asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
    asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    assert int(sink.transactions[-1][3]["endless"]) == len(sink.posts) > 0


def test_duplicate_source_names_are_refused(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", 1)
    with pytest.raises(ValueError, match="share a name"):
        Pipeline([ReplaySource(path), ReplaySource(path)], MemorySink(), processor())


async def test_a_payload_of_several_posts_is_stored_or_quarantined_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))

    def thread(raw: RawItem) -> list[Post]:
        texts = msgspec.json.decode(raw.payload)
        return [
            Post(platform="t", native_id=f"{raw.origin}/{n}", text=t) for n, t in enumerate(texts)
        ]

    registry.register("thread", thread)
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'["police", "calm"]\n["fine", "explode"]\n["last"]\n')
    sink = MemorySink()
    await Pipeline([ReplaySource(path, platform="thread")], sink, processor()).run()
    assert [p.native_id for p in sink.posts] == ["line 1/0", "line 1/1", "line 3/0"]
    (failed,) = sink.quarantined
    assert failed.stage == "match"
    assert failed.payload == b'["fine", "explode"]'


def _raw(texts: Sequence[str]) -> list[RawItem]:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        RawItem(
            source="s",
            platform="generic",
            payload=msgspec.json.encode({"id": str(i), "text": t}),
            received_at=now,
            origin=f"line {i + 1}",
        )
        for i, t in enumerate(texts)
    ]


class BatchLang:
    """A language hook with a batch form; "boom" in a post makes the batch form raise."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, post: Post, folded: Folded) -> str:
        return self.many([post], [folded])[0]

    def many(self, posts: Sequence[Post], folded: Sequence[Folded]) -> list[str]:
        self.batches.append(len(posts))
        if any("boom" in p.text for p in posts):
            raise ValueError("language model failed")
        return ["nl" if "politie" in p.text else "fr" for p in posts]


class BatchWords:
    """An enrichment step with a batch form counting words; "crash" makes it raise."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(
        self, post: Post, folded: Folded, matches: Sequence[Match], so_far: Enrichment
    ) -> Enrichment:
        return self.many([post], [folded], [matches], [so_far])[0]

    def many(
        self,
        posts: Sequence[Post],
        folded: Sequence[Folded],
        matches: Sequence[Sequence[Match]],
        so_far: Sequence[Enrichment],
    ) -> list[Enrichment]:
        self.batches.append(len(posts))
        if any("crash" in p.text for p in posts):
            raise ValueError("step failed")
        return [
            annotate(p, f, m, e) for p, f, m, e in zip(posts, folded, matches, so_far, strict=True)
        ]


def test_batch_forms_are_called_once_per_batch() -> None:
    lang, words = BatchLang(), BatchWords()
    proc = Processor(WordMatcher("police"), language=lang, enrichers=[words, annotate])
    out = proc(_raw(["de politie komt", "la police arrive", "rien"]))
    assert lang.batches == [3]
    assert words.batches == [3]
    assert [p.lang for p in out.posts] == ["nl", "fr", "fr"]
    assert [e.lang for e in out.enrichments] == ["nl", "fr", "fr"]
    assert [len(e.findings) for e in out.enrichments] == [2, 2, 2]
    assert [[m.rule for m in ms] for ms in out.matches] == [[], ["police"], []]


def test_a_failing_batch_call_quarantines_only_the_bad_items() -> None:
    lang, words = BatchLang(), BatchWords()
    proc = Processor(WordMatcher("police"), language=lang, enrichers=[words], clock=FakeClock())
    items = _raw(["un", "boom", "deux", "crash", "explode", "trois", ""])
    items[-1] = msgspec.structs.replace(items[-1], payload=b"{not json")
    out = proc(items)
    assert [p.text for p in out.posts] == ["un", "deux", "trois"]
    assert lang.batches == [6, 1, 1, 1, 1, 1, 1]  # the batch, then item by item
    assert words.batches == [4, 1, 1, 1, 1]
    # Quarantined records keep the batch order whatever stage caught them.
    assert [(q.error.split(":")[0], q.stage) for q in out.quarantined] == [
        ("line 2", "normalise"),
        ("line 4", "enrich"),
        ("line 5", "match"),
        ("line 7", "normalise"),
    ]
    assert "language model failed" in out.quarantined[0].error


@pytest.mark.parametrize("workers", [0, 1])
async def test_raw_copies_are_the_payloads_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Well-formed UTF-8 travels as the payload's bytes; anything else is decoded (U+FFFD for
    what is not UTF-8) into the post's raw, and checked like every field (a NUL is refused)."""
    monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
    registry.register("lenient", lenient)
    path = tmp_path / "a.jsonl"
    lines = ["politie café 😂".encode(), b"caf\xe9 latin-1", b"a NUL \x00 here", b"plain"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    store = Store.open(f"sqlite:///{tmp_path / 'veille.db'}")
    factory = lenient_processor if workers else lenient_processor()
    await Pipeline([ReplaySource(path, platform="lenient")], store, factory, workers=workers).run()
    with store.engine.connect() as conn:
        raws = dict(conn.execute(sa.select(posts_table.c.native_id, posts_table.c.raw)).all())
    [refused] = store.quarantined()
    store.close()
    assert raws == {"line 1": "politie café 😂", "line 2": "caf\ufffd latin-1", "line 4": "plain"}
    assert refused.stage == "store"
    assert refused.error.startswith("line 3:")
    assert "raw contains a NUL" in refused.error


def lenient(item: RawItem) -> Post:
    """A mapper that reads nothing of its payload."""
    return Post(platform="t", native_id=item.origin, text="text")


def lenient_processor() -> Processor:
    return Processor(WordMatcher("police"))
