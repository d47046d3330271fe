"""Store write throughput: how fast batches of posts land in the database, and what it costs.

Peers, run in the same process on the same generated posts:
  * insert path — SQLAlchemy Core ``executemany`` vs the raw DB-API cursor, FTS5 on and off;
  * the real ``Store.write_batch`` (posts + FTS + matches + conversations + cursor, one
    transaction per batch) at several batch sizes, with the folded text handed in (as the
    pipeline does) and folded by the store;
  * the same with the enrich stage's findings stored (a sentiment verdict for every post, a
    personal-data hit and an urgency for a few), what ``veille run`` writes with its detectors;
  * PostgreSQL (started on loopback) when its binaries are installed.

Usage: python bench/store.py [--quick] [--posts N]. Prints a table; the last stdout line is one
JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from veille.model import Author, Enrichment, Finding, Match, Post, Urgency
from veille.normalise.fold import fold
from veille.store import Store
from veille.store import engine as store_engine
from veille.store.schema import posts as posts_table
from veille.store.writer import BatchWriter, WriteResult, _Plan

WORDS = [
    "police",
    "politie",
    "polizei",
    "agent",
    "agentin",
    "commissariat",
    "wijk",
    "quartier",
    "manifestation",
    "betoging",
    "demonstration",
    "protest",
    "bruxelles",
    "brussel",
    "gent",
    "liège",
    "antwerpen",
    "namur",
    "charleroi",
    "controle",
    "contrôle",
    "verkeer",
    "circulation",
    "accident",
    "ongeval",
    "unfall",
    "traffic",
    "road",
    "weg",
    "route",
    "rue",
    "straat",
    "strasse",
    "ce",
    "soir",
    "vanavond",
    "heute",
    "abend",
    "tonight",
    "merci",
    "bedankt",
    "danke",
    "thanks",
    "the",
    "a",
    "le",
    "la",
    "de",
    "het",
    "een",
    "der",
    "die",
    "das",
    "und",
    "and",
    "et",
    "en",
    "of",
    "ou",
    "is",
    "est",
    "ist",
    "was",
    "were",
    "à",
    "dans",
    "in",
    "im",
    "op",
    "sur",
    "avec",
    "met",
    "mit",
    "with",
    "pour",
    "voor",
    "für",
    "for",
    "rapport",
    "report",
    "bericht",
    "incident",
    "feu",
    "brand",
    "fire",
    "patrouille",
    "patrol",
]
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def generate(n: int, seed: int = 7) -> tuple[list[Post], list[list[Match]]]:
    """Posts like a mixed live stream: four platforms, 30 % replies, ~1 % matched."""
    rng = random.Random(seed)
    out: list[Post] = []
    found: list[list[Match]] = []
    recent: dict[str, list[str]] = {"bluesky": [], "mastodon": [], "reddit": [], "x": []}
    snowflake = 110_000_000_000_000_000
    for i in range(n):
        platform = rng.choice(("bluesky", "bluesky", "mastodon", "reddit", "x"))
        snowflake += rng.randint(1, 5000)
        if platform == "bluesky":
            native = f"at://did:plc:{rng.getrandbits(100):025x}/app.bsky.feed.post/3l{i:011d}"
        elif platform == "reddit":
            native = f"t1_{i:08x}"
        else:
            native = str(snowflake)
        words = rng.choices(WORDS, k=rng.randint(8, 30))
        text = " ".join(words).capitalize() + rng.choice((".", " !", " ?", " #police"))
        parents = recent[platform]
        parent = rng.choice(parents) if parents and rng.random() < 0.3 else None
        author = f"user{rng.randint(0, 20_000)}"
        created = T0 + timedelta(milliseconds=i * 20)
        post = Post(
            platform=platform,
            native_id=native,
            text=text,
            author=Author(id=author, handle=f"{author}.example", display_name=author.title()),
            url=f"https://{platform}.example/{i}",
            lang=rng.choice(("fr", "nl", "de", "en")),
            created_at=created,
            received_at=created + timedelta(milliseconds=300),
            reply_to=parent,
            root_id=parent if platform in ("bluesky", "x") and parent else None,
            hashtags=("police",) if text.endswith("#police") else (),
            raw=orjson.dumps(
                {"id": native, "text": text, "author": author, "pad": "x" * 300}
            ).decode(),
        )
        out.append(post)
        hit = rng.random() < 0.01
        found.append(
            [Match(rule=f"rule{rng.randint(0, 999)}", version=1, spans=((0, 6),))] if hit else []
        )
        parents.append(native)
        if len(parents) > 200:
            del parents[:100]
    return out, found


def enrichments_of(posts: list[Post]) -> list[Enrichment]:
    """What the detectors and sentiment say of each post, in the proportions of the demo
    stream: a sentiment verdict and a threat verdict (``none``, not stored) for every post, a
    personal-data hit and an urgency for 3 % of them."""
    rng = random.Random(11)
    out = []
    for post in posts:
        found = [
            Finding(kind="threat", detector="threat", label="none", score=0.97),
            Finding(
                kind="sentiment",
                detector="sentiment",
                label=rng.choice(("negative", "neutral", "positive")),
                score=rng.random(),
                explanation="polarity=+0.1234",
            ),
        ]
        urgency = Urgency()
        if rng.random() < 0.03:
            end = min(len(post.text), 12)
            found.append(
                Finding(
                    kind="phone",
                    detector="personal_data",
                    score=0.9,
                    spans=((0, end),),
                    explanation="phone number (valid in BE)",
                )
            )
            urgency = Urgency(severity="low", score=1.5, reasons=("phone number",))
        out.append(Enrichment(lang="fr", findings=tuple(found), urgency=urgency))
    return out


def batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def bench_write_batch(
    url: str,
    posts: list[Post],
    found: list[list[Match]],
    size: int,
    folded: list[str] | None,
    enrichments: list[Enrichment] | None = None,
) -> tuple[float, float]:
    store = Store.open(url)
    started = time.perf_counter()
    cpu = time.process_time()
    for a, b in batches(len(posts), size):
        store.write_batch(
            posts[a:b],
            found[a:b],
            {"bench": str(b)},
            folded=folded[a:b] if folded else None,
            enrichments=enrichments[a:b] if enrichments else None,
        )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    assert store.counts()["posts"] == len(posts)
    store.close()
    return len(posts) / elapsed, cpu / len(posts) * 1e6


def post_rows(
    writer: BatchWriter, posts: list[Post], folded: list[str], first_id: int, now: datetime
) -> list[tuple[Any, ...]]:
    """The posts table rows the writer would insert for ``posts`` (each its own root), built by
    the writer's own planning code so that the bench measures exactly those rows."""
    plan = _Plan()
    every = list(range(len(posts)))
    writer._plan_inserts(
        plan,
        posts,
        every,
        every,
        list(range(first_id, first_id + len(posts))),
        [p.native_id for p in posts],
        [()] * len(posts),
        folded,
        now,
        WriteResult(post_ids=[None] * len(posts)),
    )
    return plan.inserts


def bench_insert(
    url: str, posts: list[Post], folded: list[str], size: int, *, core: bool, fts: bool
) -> tuple[float, float]:
    """Only the posts (and FTS) inserts, by Core executemany or by the raw DB-API cursor."""
    store = Store.open(url)
    writer: BatchWriter = store._writer
    now = datetime.now(UTC)
    started = time.perf_counter()
    cpu = time.process_time()
    next_id = 1
    for a, b in batches(len(posts), size):
        rows = post_rows(writer, posts[a:b], folded[a:b], next_id, now)
        next_id += b - a
        with store.engine.begin() as conn:
            if core:
                names = [c.name for c in posts_table.columns]
                dicts = [dict(zip(names, _core_values(row), strict=True)) for row in rows]
                conn.execute(sa.insert(posts_table), dicts)
            else:
                cursor = conn.connection.cursor()
                cursor.executemany(writer.sql_insert_post, rows)
            if fts:
                cursor = conn.connection.cursor()
                cursor.executemany(writer.sql_fts_insert, [(row[0], row[9]) for row in rows])
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    store.close()
    return len(posts) / elapsed, cpu / len(posts) * 1e6


def with_page_size(
    page: str, fn: Callable[..., tuple[float, float]], url: str, *args: Any
) -> tuple[float, float]:
    """``fn(url, …)`` on a database created with ``page``-byte pages (the store's pragma
    swapped for the run)."""
    pragmas = store_engine.SQLITE_PRAGMAS
    before = pragmas["page_size"]
    pragmas["page_size"] = page
    try:
        return fn(url, *args, core=False, fts=True)
    finally:
        pragmas["page_size"] = before


def _core_values(row: tuple[Any, ...]) -> list[Any]:
    """Raw row values back into what Core's column types expect (datetimes, lists)."""
    from veille.store.types import from_micros

    values = list(row)
    for index in (12, 13, 14, 23, 25):
        if values[index] is not None:
            values[index] = from_micros(values[index])
    for index in (20, 21, 22):
        values[index] = json.loads(values[index])
    return values


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small run, well under a minute")
    parser.add_argument("--posts", type=int, default=0, help="posts per run")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()
    n = args.posts or (20_000 if args.quick else 200_000)
    posts, found = generate(n)
    t = time.perf_counter()
    folded = [fold(p.text).scan for p in posts]
    fold_us = (time.perf_counter() - t) / n * 1e6
    work = Path(tempfile.mkdtemp(prefix="veille-bench-store-"))
    results: dict[str, Any] = {"posts": n, "fold_us_per_post": round(fold_us, 2)}
    rows: list[tuple[str, float, float]] = []

    def run(name: str, fn: Callable[[str], tuple[float, float]]) -> None:
        path = work / f"{len(rows)}.db"
        rate, cpu_us = fn(f"sqlite:///{path}")
        rows.append((name, rate, cpu_us))
        results[name] = {"posts_per_s": round(rate), "cpu_us_per_post": round(cpu_us, 1)}
        print(f"  {name:<50} {rate:>9,.0f} posts/s {cpu_us:>7.1f} µs CPU", file=sys.stderr)

    print(f"store benchmark: {n} posts, SQLite {sa.__version__=}", file=sys.stderr)
    for core in (True, False):
        for fts in (False, True):
            how = "Core executemany" if core else "raw DB-API"
            name = f"insert posts, {how}, FTS {'on' if fts else 'off'}"
            run(
                name,
                lambda url, c=core, f=fts: bench_insert(url, posts, folded, 1000, core=c, fts=f),
            )
    for page in ("4096", "8192"):
        # A peer on SQLite's page size: it takes effect only when the file is created.
        run(
            f"insert posts, raw DB-API, FTS on, {int(page) // 1024} KiB pages",
            lambda url, p=page: with_page_size(p, bench_insert, url, posts, folded, 5000),
        )
    sizes = (1000, 5000) if args.quick else (500, 1000, 2000, 5000, 10000)
    for size in sizes:
        run(
            f"write_batch, batch {size}, folded given",
            lambda url, s=size: bench_write_batch(url, posts, found, s, folded),
        )
    run(
        "write_batch, batch 1000, store folds",
        lambda url: bench_write_batch(url, posts, found, 1000, None),
    )
    enriched = enrichments_of(posts)
    for name, given in (("without", None), ("with", enriched)):
        run(
            f"write_batch, batch 1000, folded given, {name} findings",
            lambda url, e=given: bench_write_batch(url, posts, found, 1000, folded, e),
        )
    if not args.quick and not args.no_pg:
        try:
            from veille.testing import PostgresServer

            with PostgresServer() as server:
                url = server.create_database("bench")
                rate, cpu_us = bench_write_batch(
                    url, posts[:50_000], found[:50_000], 1000, folded[:50_000]
                )
                rows.append(("PostgreSQL write_batch, batch 1000 (50k posts)", rate, cpu_us))
                results["pg write_batch, batch 1000"] = {
                    "posts_per_s": round(rate),
                    "cpu_us_per_post": round(cpu_us, 1),
                }
        except FileNotFoundError as exc:
            print(f"  PostgreSQL skipped: {exc}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\n| store write path ({n:,} posts) | posts/s (wall) | CPU µs/post |")
    print("|---|---:|---:|")
    for name, rate, cpu_us in rows:
        print(f"| {name} | {rate:,.0f} | {cpu_us:.1f} |")
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
