"""End-to-end pipeline benchmark: replay → decode → normalise → match (10k rules) → SQLite + FTS.

Runs its peers in this process on the same generated data and prints a table:

- the pure stages alone on one core (decode + normalise, + fold, + match), to see where a
  post's time goes;
- the whole pipeline into a fresh SQLite store with full-text indexing, with the pure stages in
  the main process (``workers=0``) and in one worker process (``workers=1``), each run
  ``--repeat`` times (3), interleaved, its median reported with the slowest and fastest run:
  this machine's speed drifts by a quarter within minutes (other tenants of its host);
- the same pipeline into a sink that stores nothing, to show the store's share.

Peak memory is the largest proportional set size (PSS) of this process plus its worker
processes, sampled every half second. ``--quick`` finishes within a minute; the last line
printed is one JSON object.

    python bench/pipeline.py            # 200,000 posts, 10,000 rules
    python bench/pipeline.py --quick    # 30,000 posts
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec

import match_corpus
from veille.cli.run import assemble
from veille.config import load_settings
from veille.enrich.detect import Detect, Urgent
from veille.enrich.sentiment import SentimentStep, default_model
from veille.match.matcher import Matcher
from veille.model import Enrichment, Match, Post, RawItem
from veille.normalise.fold import Folded, fold
from veille.normalise.generic import map_generic
from veille.normalise.language import PipelineLanguage
from veille.pipeline import BatchEnricher, Enricher, Pipeline, Stats, freeze_heap
from veille.rules.versions import MemoryVersionRegistry
from veille.sources.replay import ReplaySource
from veille.store import Store
from veille.trends.service import TrendHook
from veille.wiring import Catalogue, ProcessorSpec

T = TypeVar("T")
PURE = ("decode + normalise", "fold", "match")


def generated(count: int, rules: int) -> tuple[list[bytes], str]:
    """Generic JSON posts and a rule file, from the match benchmark's generators (sparse hits),
    with authors, times and reply links added as a live stream has them."""
    queries = match_corpus.rule_queries(rules)
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(payload) for payload in match_corpus.stream(count, queries)]
    return lines, match_corpus.rule_file(queries, ["medium"] * len(queries))


def memory_mb(pid: int) -> float:
    """Memory of ``pid`` and its children in MiB (0 when gone): the proportional set size, so
    pages a forked worker still shares with its parent are counted once, not once per process
    as summing resident sets would."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024


class PeakMemory:
    """Samples this process tree's memory (PSS) in a thread while in the ``with`` block.

    Reading ``smaps_rollup`` makes the kernel walk every page of the process: ~4 ms of CPU for
    400 MiB. Every 50 ms that was 4.5 µs of CPU per post charged to the pipeline (measured per
    thread at 26,500 posts/s); every half second it is a tenth of that, and the memory of a
    pipeline with bounded queues moves far slower than that.
    """

    INTERVAL: float = 0.5

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self.peak = max(self.peak, memory_mb(os.getpid()))

    def __enter__(self) -> PeakMemory:
        self.peak = memory_mb(os.getpid())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, memory_mb(os.getpid()))


def stages(lines: list[bytes], matcher: Matcher, db: Path, enriched: int) -> dict[str, float]:
    """CPU microseconds per post of each stage on one core (``process_time``: other jobs on
    the machine slow the wall clock, not this), on the same posts, in pipeline order."""
    now = datetime.now(UTC)
    items = [
        RawItem(source="b", platform="generic", payload=line, received_at=now) for line in lines
    ]
    out: dict[str, float] = {}

    def timed(name: str, posts: int, work: Callable[[], T]) -> T:
        started = time.process_time()
        result = work()
        out[name] = (time.process_time() - started) / posts * 1e6
        return result

    n = len(items)
    freeze_heap()  # as the pipeline does once started
    posts = timed("decode + normalise", n, lambda: [map_generic(item) for item in items])
    for post in posts:
        post.lang = post.lang_hint  # what the pipeline does without a language step
    folded = timed("fold", n, lambda: [fold(post.text) for post in posts])
    found = timed(
        "match", n, lambda: [matcher.match(p, f) for p, f in zip(posts, folded, strict=True)]
    )
    out["matched share"] = sum(1 for m in found if m) / n
    scans = [f.scan for f in folded]
    raws = [item.payload for item in items]  # generated JSON: passes storable_payload
    store = Store.open(f"sqlite:///{db}")

    def write() -> None:
        for at in range(0, n, 5000):
            store.write_batch(
                posts[at : at + 5000],
                found[at : at + 5000],
                {"bench": str(at)},
                folded=scans[at : at + 5000],
                payloads=raws[at : at + 5000],
                checked=True,
            )

    timed("store write_batch (posts, FTS5, conversations, cursor)", n, write)
    # The enrichment steps of `veille run`, on a slice: they cost ~20x the rest per post.
    m = min(n, enriched)
    head = list(zip(posts[:m], folded[:m], found[:m], strict=True))
    language = PipelineLanguage()
    # Once per batch, as the Processor calls a step with a batch form.
    timed("language identification", m, lambda: language.many(posts[:m], folded[:m]))
    so_far = [Enrichment(lang=p.lang) for p in posts[:m]]
    for name, step in (
        ("detectors (threat, personal data, confidential, protected)", Detect()),
        ("sentiment", SentimentStep()),
        ("urgency", Urgent()),
    ):
        so_far = timed(name, m, functools.partial(_enrich, step, head, so_far))
    hook = TrendHook(store.engine, backend=default_model())
    rules = [[x.rule for x in ms] for ms in found[:m]]
    timed("trend rollups (after-store hook)", m, lambda: hook.record(posts[:m], rules, so_far))
    store.close()
    return out


def _enrich(
    step: Enricher, head: list[tuple[Post, Folded, list[Match]]], enriched: list[Enrichment]
) -> list[Enrichment]:
    if isinstance(step, BatchEnricher):  # as the Processor calls it: once per batch
        return step.many(*map(list, zip(*head, strict=True)), enriched)
    return [step(p, f, ms, e) for (p, f, ms), e in zip(head, enriched, strict=True)]


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by this process and by its live children."""
    own = time.process_time()
    children = 0.0
    pid = os.getpid()
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    tick = os.sysconf("SC_CLK_TCK")
    for kid in kids:
        try:
            fields = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return own, children


class CpuFromStart:
    """CPU time of this process and its worker processes from the first post read to the end
    (rule compilation and start-up excluded), sampled when the pipeline starts reading."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.start = (0.0, 0.0)
        warm_up = pipeline._warm_up

        async def sampled() -> None:
            await warm_up()
            self.start = cpu_seconds()

        pipeline._warm_up = sampled  # type: ignore[method-assign]

    def used(self) -> tuple[float, float]:
        """``(main, workers)`` seconds since the start; call after the run (workers gone)."""
        times = os.times()
        own = time.process_time() - self.start[0]
        workers = times.children_user + times.children_system - self.start[1]
        return own, workers


class NullSink:
    """Stores nothing: shows what the pipeline passes when the store costs nothing."""

    def write_batch(self, posts: object, *args: object, **kwargs: object) -> None:
        return None


def end_to_end(path: Path, catalogue: Catalogue, workers: int, db: Path | None) -> dict[str, float]:
    """Replay ``path`` through the whole pipeline into a fresh SQLite store (or nowhere)."""
    store = Store.open(f"sqlite:///{db}") if db is not None else None
    versions = catalogue.versions(store.versions if store else MemoryVersionRegistry())
    spec = ProcessorSpec(catalogue.specs(), versions)
    pipeline = Pipeline(
        [ReplaySource(path, batch_size=1000)],
        store or NullSink(),
        spec,
        workers=workers,
        queue_batches=4,
    )
    result = measure(pipeline, pipeline.run)
    if store is not None:
        store.close()
    if db is not None:
        discard(db)
    return result


def discard(db: Path) -> None:
    """Delete a finished run's database: the kernel then drops its dirty pages instead of
    perhaps writing them back while the next peer is measured."""
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median throughput, with the slowest and fastest rates beside it."""
    ordered = sorted(runs, key=lambda r: r["posts_per_s"])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["slowest_posts_per_s"] = ordered[0]["posts_per_s"]
    middle["fastest_posts_per_s"] = ordered[-1]["posts_per_s"]
    return middle


def as_veille_run(folder: Path, replay: Path, rules: Path, workers: int) -> dict[str, float]:
    """Replay ``replay`` through exactly what ``veille run`` assembles with its default settings:
    language identification, detectors, sentiment and urgency in the pure stages, the alert and
    trend hooks after each commit, the alert service beside it."""
    folder.mkdir()
    config = folder / "veille.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{folder / "run.db"}"\n\n[rules]\npaths = ["{rules}"]\n\n'
        f"[pipeline]\nworkers = {workers}\n",
        encoding="utf-8",
    )
    os.environ["VEILLE_CONFIG"] = str(config)  # the enrichers read it in each worker too
    settings = load_settings()
    store = Store.from_settings(settings)
    source = ReplaySource(replay, batch_size=settings.pipeline.batch_size)
    pipeline, service = assemble(settings, store, Catalogue.load([rules]), [source], cursors={})

    async def run() -> Stats:
        stop = asyncio.Event()
        delivery = asyncio.create_task(service.run(stop))
        try:
            return await pipeline.run()
        finally:
            stop.set()
            await delivery

    result = measure(pipeline, run)
    store.close()
    discard(folder / "run.db")
    return result


def measure(pipeline: Pipeline, run: Callable[[], Coroutine[Any, Any, Stats]]) -> dict[str, float]:
    """Throughput, CPU per post and peak memory of ``run`` (which runs ``pipeline``)."""
    cpu = CpuFromStart(pipeline)
    children_before = sum(os.times()[2:4])
    with PeakMemory() as memory:
        stats = asyncio.run(run())
        # From the first post read (worker processes have compiled the rules by then).
        elapsed = time.monotonic() - stats.started
    main_cpu, workers_cpu = cpu.used()
    workers_cpu -= children_before
    return {
        "main_cpu_us": main_cpu / max(1, stats.stored) * 1e6,
        "workers_cpu_us": workers_cpu / max(1, stats.stored) * 1e6,
        "posts": stats.stored,
        "seconds": elapsed,
        "posts_per_s": stats.stored / elapsed,
        "matched_posts": stats.matched_posts,
        "peak_memory_mb": memory.peak,
        "transactions": stats.transactions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30,000 posts: under a minute")
    parser.add_argument("--posts", type=int, default=None)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each SQLite peer (the median counts)"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    count = args.posts or (30_000 if args.quick else 200_000)

    with tempfile.TemporaryDirectory(prefix="veille-bench-") as tmp:
        folder = Path(tmp)
        lines, toml = generated(count, args.rules)
        replay = folder / "posts.jsonl"
        replay.write_bytes(b"\n".join(lines) + b"\n")
        rules = folder / "rules.toml"
        rules.write_text(toml)

        started = time.perf_counter()
        catalogue = Catalogue.load([rules])
        matcher = Matcher(catalogue.rules)
        build = time.perf_counter() - started
        sample = lines[: min(count, 30_000)]
        enriched_count = 1000 if args.quick else max(1000, count // 20)
        enriched_lines = lines[:enriched_count]
        del lines  # the harness's copy is not veille's memory: the replay file has the posts
        stage = stages(sample, matcher, folder / "stages.db", 1000 if args.quick else 3000)
        del matcher, sample

        # The machine's speed drifts (other tenants of the host): each SQLite peer runs
        # `--repeat` times, interleaved so that a slow spell hits both, and its median counts.
        tries: dict[int, list[dict[str, float]]] = {0: [], 1: []}
        for attempt in range(args.repeat):
            for workers in tries:
                db = folder / f"w{workers}-{attempt}.db"
                tries[workers].append(end_to_end(replay, catalogue, workers, db))
        runs = {workers: median_run(results) for workers, results in tries.items()}
        unstored = end_to_end(replay, catalogue, 0, None)
        # veille run's enrichment costs ~20x the rest per post: a twentieth of the posts will do
        # (--quick: only with a worker process, its recommended setting, to stay within a minute).
        enriched_replay = folder / "enriched.jsonl"
        enriched_replay.write_bytes(b"\n".join(enriched_lines) + b"\n")
        enriched = {
            workers: as_veille_run(folder / f"run{workers}", enriched_replay, rules, workers)
            for workers in ((1,) if args.quick else (0, 1))
        }

    print(
        f"\n{count:,} generated posts (FR/NL/DE/EN), {args.rules:,} rules "
        f"(read + compiled in {build:.1f} s), {stage['matched share']:.1%} of posts match\n"
    )
    print("| stage (one core, cumulative) | CPU µs per post | posts/s |")
    print("|---|---:|---:|")
    total = 0.0
    for name in PURE:
        total += stage[name]
        print(f"| + {name} | {stage[name]:.1f} | {1e6 / total:,.0f} |")
    print()
    print("| beyond the pure stages (one core) | CPU µs per post |")
    print("|---|---:|")
    for name, per_post in stage.items():
        if name not in PURE and name != "matched share":
            print(f"| {name} | {per_post:.1f} |")
    print()
    print(
        f"| end to end into SQLite + FTS5 | posts/s (median of {args.repeat}) | "
        "slowest – fastest | seconds | CPU µs/post main | CPU µs/post workers | "
        "peak memory (PSS, MiB) | transactions |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for workers, run in runs.items():
        where = "in the main process" if workers == 0 else f"{workers} worker process"
        print(
            f"| normalise+match {where} | {run['posts_per_s']:,.0f} | "
            f"{run['slowest_posts_per_s']:,.0f} – {run['fastest_posts_per_s']:,.0f} | "
            f"{run['seconds']:.1f} | {run['main_cpu_us']:.1f} | {run['workers_cpu_us']:.1f} | "
            f"{run['peak_memory_mb']:.0f} | {run['transactions']:.0f} |"
        )
    print(
        f"| same, storing nothing (the store's share) | {unstored['posts_per_s']:,.0f} | – | "
        f"{unstored['seconds']:.1f} | {unstored['main_cpu_us']:.1f} | – | "
        f"{unstored['peak_memory_mb']:.0f} | – |"
    )
    for workers, run in enriched.items():
        where = "in the main process" if workers == 0 else f"{workers} worker process"
        print(
            f"| as `veille run` (language, detectors, sentiment, urgency, alert and trend hooks; "
            f"{enriched_count:,} posts), pure stages {where} | {run['posts_per_s']:,.0f} | – | "
            f"{run['seconds']:.1f} | {run['main_cpu_us']:.1f} | {run['workers_cpu_us']:.1f} | "
            f"{run['peak_memory_mb']:.0f} | {run['transactions']:.0f} |"
        )
    best = max(runs.values(), key=lambda r: r["posts_per_s"])
    print(
        json.dumps(
            {
                "benchmark": "pipeline",
                "posts": count,
                "rules": args.rules,
                "matched_share": round(stage["matched share"], 4),
                "stage_cpu_us_per_post": {
                    k: round(v, 2) for k, v in stage.items() if k != "matched share"
                },
                "end_to_end_posts_per_s": {
                    f"workers={w}": round(r["posts_per_s"]) for w, r in runs.items()
                },
                "end_to_end_runs": args.repeat,
                "end_to_end_range_posts_per_s": {
                    f"workers={w}": [
                        round(r["slowest_posts_per_s"]),
                        round(r["fastest_posts_per_s"]),
                    ]
                    for w, r in runs.items()
                },
                "cpu_us_per_post": {
                    f"workers={w}": {
                        "main": round(r["main_cpu_us"], 1),
                        "workers": round(r["workers_cpu_us"], 1),
                    }
                    for w, r in runs.items()
                },
                "best_posts_per_s": round(best["posts_per_s"]),
                "without_store_posts_per_s": round(unstored["posts_per_s"]),
                "as_veille_run_posts_per_s": {
                    f"workers={w}": round(r["posts_per_s"]) for w, r in enriched.items()
                },
                "peak_memory_mb": round(max(r["peak_memory_mb"] for r in runs.values())),
                "as_veille_run_peak_memory_mb": round(
                    max(r["peak_memory_mb"] for r in enriched.values())
                ),
                "target_posts_per_s": 30_000,
            }
        )
    )


if __name__ == "__main__":
    main()
