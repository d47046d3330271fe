"""Scale-out benchmark: posts/s through NATS JetStream with 1 and 2 workers vs the embedded
pipeline, all into one PostgreSQL store, on the same generated posts and rules.

Runs its peers on this machine, each on a fresh database of one PostgreSQL server and a fresh
``nats-server -js`` (both started on loopback here):

- **embedded**: ``veille run --replay`` as one process (replay → pipeline → store);
- **publish only**: ``veille ingest``'s publisher alone (route + publish + wait for acks);
- **bus, N workers**: the ingester (in this process) and N worker processes, each a pipeline on
  its partition (``veille run --bus --partition I/N``), started before the clock starts (rules
  compiled); the rate is posts over the time from the first publish to the last commit.

``--quick`` finishes within a minute; the last line printed is one JSON object.

    python bench/bus.py            # 100,000 posts, 10,000 rules
    python bench/bus.py --quick    # 12,000 posts, 2,000 rules
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import queue
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path

from pipeline import generated
from veille.bus.ingest import Ingester
from veille.bus.nats import BusSource, Publisher, connect, ensure_stream, route
from veille.config import BusSettings
from veille.model import Quarantined, RawItem
from veille.pipeline import Pipeline, Stored
from veille.sources.replay import ReplaySource
from veille.store import Store
from veille.testing import NatsServer, PostgresServer
from veille.wiring import Catalogue, ProcessorSpec

BATCH = 1000


def spec_for(catalogue: Catalogue, store: Store) -> ProcessorSpec:
    return ProcessorSpec(catalogue.specs(), catalogue.versions(store.versions))


def embedded(replay: Path, catalogue: Catalogue, url: str) -> float:
    """Posts/s of the one-process pipeline from the replay into ``url``."""
    with Store.open(url) as store:
        pipeline = Pipeline(
            [ReplaySource(replay, batch_size=BATCH)], store, spec_for(catalogue, store)
        )
        stats = asyncio.run(pipeline.run())
        return stats.stored / (time.monotonic() - stats.started)


def worker(
    url: str,
    settings: BusSettings,
    partition: int,
    expected: int,
    rules: str,
    ready: Event,
    results: multiprocessing.Queue[float],
) -> None:
    """One pipeline on one partition; reports the wall-clock time of its last commit."""
    catalogue = Catalogue.load([rules])
    with Store.open(url, migrate=False) as store:
        source = BusSource(settings, partition, batch_size=BATCH)
        pipeline = Pipeline([source], store, spec_for(catalogue, store))

        def done(stored: Stored) -> None:
            if pipeline.stats.stored >= expected:
                source.close()

        pipeline.after_store.append(done)
        ready.set()
        asyncio.run(pipeline.run())
    results.put(time.time())


async def publish(settings: BusSettings, replay: Path) -> float:
    """Publish the replay through the ingester; returns posts/s."""
    saved: list[str | None] = []

    def save(name: str, cursor: str | None, quarantined: Sequence[Quarantined]) -> None:
        saved.append(cursor)

    client = await connect(settings)
    try:
        await ensure_stream(client.jetstream(), settings)
        ingester = Ingester(
            [ReplaySource(replay, batch_size=BATCH)], Publisher(client, settings), save
        )
        stats = await ingester.run()
        return stats.rate()
    finally:
        await client.close()


def through_bus(
    replay: Path,
    lines: list[bytes],
    rules: Path,
    url: str,
    nats_url: str,
    partitions: int,
    stream: str,
) -> tuple[float, float]:
    """(end-to-end posts/s, publish posts/s) with ``partitions`` worker processes."""
    settings = BusSettings(
        url=nats_url,
        stream=stream,
        subject_prefix=stream.lower(),
        partitions=partitions,
        fetch_batch=BATCH,
    )
    at = datetime.now(UTC)
    expected = [0] * partitions
    for line in lines:
        item = RawItem(source="bench", platform="generic", payload=line, received_at=at)
        expected[route(item, partitions).partition] += 1
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[float] = context.Queue()
    readies = [context.Event() for _ in range(partitions)]
    processes = [
        context.Process(
            target=worker,
            args=(url, settings, p, expected[p], str(rules), readies[p], results),
        )
        for p in range(partitions)
    ]
    for process in processes:
        process.start()
    while not all(ready.is_set() for ready in readies):
        if any(p.exitcode is not None for p in processes):
            raise SystemExit(
                f"a worker died before it was ready: {[p.exitcode for p in processes]}"
            )
        time.sleep(0.05)
    started = time.time()
    rate = asyncio.run(publish(settings, replay))
    ends = []
    while len(ends) < partitions:
        try:
            ends.append(results.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in processes):
                raise SystemExit(f"a worker failed: {[p.exitcode for p in processes]}") from None
    for process in processes:
        process.join(60)
    return len(lines) / (max(ends) - started), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12,000 posts: under a minute")
    parser.add_argument("--posts", type=int, default=None)
    parser.add_argument("--rules", type=int, default=None)
    args = parser.parse_args()
    count = args.posts or (12_000 if args.quick else 100_000)
    rule_count = args.rules or (2_000 if args.quick else 10_000)

    with (
        tempfile.TemporaryDirectory(prefix="veille-bench-") as tmp,
        PostgresServer() as pg,
        NatsServer() as nats_server,
    ):
        folder = Path(tmp)
        lines, toml = generated(count, rule_count)
        replay = folder / "posts.jsonl"
        replay.write_bytes(b"\n".join(lines) + b"\n")
        rules = folder / "rules.toml"
        rules.write_text(toml)
        catalogue = Catalogue.load([rules])

        rates = {"embedded": embedded(replay, catalogue, pg.create_database("embedded"))}
        publish_rates = []
        for partitions in (1, 2):
            url = pg.create_database(f"bus{partitions}")
            Store.open(url).close()  # migrated once, before the workers start
            rate, published = through_bus(
                replay, lines, rules, url, nats_server.url, partitions, f"BENCH{partitions}"
            )
            rates[f"bus, {partitions} worker{'s' if partitions > 1 else ''}"] = rate
            publish_rates.append(published)

    print(
        f"\n{count:,} generated posts, {rule_count:,} rules, into PostgreSQL 15, "
        f"{multiprocessing.cpu_count()} cores\n"
    )
    print("| run | posts/s |")
    print("|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} |")
    ingester = max(publish_rates)
    print(f"| the ingester (route + publish + acks), beside the workers | {ingester:,.0f} |")
    print(
        json.dumps(
            {
                "benchmark": "bus",
                "posts": count,
                "rules": rule_count,
                "posts_per_s": {name: round(rate) for name, rate in rates.items()},
                "ingester_posts_per_s": round(ingester),
            }
        )
    )


if __name__ == "__main__":
    main()
