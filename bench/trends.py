"""Trend rollups benchmark: CPU per post of recording committed batches, before and after.

The trend hook (``veille.trends.service.TrendHook``) runs in the main process after each commit
of ``veille run``, beside the store writer. This counts the same posts into the rollups with
the current ``veille.store.trends.record`` and with the one of an earlier commit (``--before``,
loaded from git: no copy of old code is kept), each into its own fresh SQLite store holding the
same stored posts, in batches of ``--batch`` posts as the pipeline commits them. Posts, rules
and sentiments are those of ``bench/pipeline.py`` (the match benchmark's generators, 2,000
rules with their tags, the shipped sentiment model).

Printed per implementation: CPU µs per post (``time.process_time``, which other jobs on the
machine disturb far less than the wall clock), rollup rows written per post, and for the
current one the share spent in the database statements. The implementations run alternately,
batch by batch, so a change of load on the machine falls on both. ``--quick`` finishes within
a minute; the last line printed is one JSON object.

    python bench/trends.py                  # 20,000 posts, batches of 1,000
    python bench/trends.py --quick          # 5,000 posts
    python bench/trends.py --before 51e3ac5 --batch 300
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

import match_corpus
from veille.enrich.sentiment import default_model
from veille.match.matcher import Matcher
from veille.model import Post, RawItem, Sentiment
from veille.normalise.fold import fold
from veille.normalise.generic import map_generic
from veille.pipeline import freeze_heap
from veille.store import Store
from veille.store import trends as current
from veille.store.engine import write_transaction
from veille.wiring import Catalogue

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "51e3ac5"
"""The last commit of main before the batch aggregation (issue 5)."""

Record = Callable[..., int]


def from_git(rev: str) -> Record:
    """``record`` of ``veille.store.trends`` as it was at ``rev``, with the rollup module of the
    same commit (its tables on a metadata of their own, so both versions can be loaded)."""

    def source(path: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    rollup = types.ModuleType("before_rollup")
    sys.modules[rollup.__name__] = rollup  # msgspec resolves the Structs' annotations there
    exec(
        compile(source("src/veille/trends/rollup.py"), "before/rollup.py", "exec"), rollup.__dict__
    )
    text = source("src/veille/store/trends.py")
    for old, new in (
        ("from veille.trends.rollup import", "from before_rollup import"),
        (
            "from veille.store.schema import RowId, matches, metadata, posts",
            "from veille.store.schema import RowId, matches, posts\nmetadata = sa.MetaData()",
        ),
    ):
        if old not in text:
            raise SystemExit(f"--before {rev}: src/veille/store/trends.py has no {old!r}")
        text = text.replace(old, new)
    store = types.ModuleType("before_store_trends")
    sys.modules[store.__name__] = store
    exec(compile(text, "before/store_trends.py", "exec"), store.__dict__)
    record: Record = store.record
    return record


def generated(
    count: int, rules: int, folder: Path
) -> tuple[list[Post], list[list[str]], dict[str, Any]]:
    """Posts, the rules each matched and the rules' tags (the rule file is written in
    ``folder``)."""
    queries = match_corpus.rule_queries(rules)
    rule_path = folder / "rules.toml"
    rule_path.write_text(match_corpus.rule_file(queries, ["medium"] * len(queries)))
    catalogue = Catalogue.load([rule_path])
    matcher = Matcher(catalogue.rules)
    encoder = msgspec.json.Encoder()
    now = datetime.now(UTC)
    posts = []
    for payload in match_corpus.stream(count, queries):
        item = RawItem(
            source="b", platform="generic", payload=encoder.encode(payload), received_at=now
        )
        post = map_generic(item)
        post.lang = post.lang_hint
        posts.append(post)
    found = [[m.rule for m in matcher.match(p, fold(p.text))] for p in posts]
    tags = {r.id: r.tags for r in catalogue.rules}
    return posts, found, tags


class Counted:
    """Wraps the current module's executemany to count rows and CPU spent in the database."""

    def __init__(self) -> None:
        self.rows = 0
        self.cpu = 0.0
        self.inner = current._executemany

    def __call__(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        started = time.process_time()
        self.inner(conn, sql, rows)
        self.cpu += time.process_time() - started
        if "post_sentiment" not in sql:
            self.rows += len(rows)


def rollups(store: Store) -> list[tuple[Any, ...]]:
    """Every rollup row, sorted (sums of floats rounded: their order of addition differs)."""
    rows = []
    with store.engine.connect() as conn:
        for table in ("trend_buckets", "trend_terms", "post_sentiment"):
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}"):
                rows.append((table, *(round(v, 9) if isinstance(v, float) else v for v in row)))
    return sorted(rows)


def run(
    records: dict[str, Record],
    stores: dict[str, Store],
    posts: Sequence[Post],
    rules: Sequence[Sequence[str]],
    sentiments: Sequence[Sentiment],
    tags: dict[str, Any],
    batch: int,
) -> dict[str, float]:
    """CPU seconds of each implementation over all batches, alternating batch by batch."""
    cpu = dict.fromkeys(records, 0.0)
    for at in range(0, len(posts), batch):
        end = at + batch
        for name, record in records.items():
            started = time.process_time()
            with write_transaction(stores[name].engine) as conn:
                record(conn, posts[at:end], rules[at:end], sentiments[at:end], tags)
            cpu[name] += time.process_time() - started
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 posts: under a minute")
    parser.add_argument("--posts", type=int, default=None)
    parser.add_argument("--rules", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000, help="posts per commit")
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with")
    args = parser.parse_args()
    count = args.posts or (5000 if args.quick else 20_000)

    with tempfile.TemporaryDirectory(prefix="veille-bench-trends-") as tmp:
        folder = Path(tmp)
        posts, rules, tags = generated(count, args.rules, folder)
        model = default_model()
        sentiments = [model.analyze(p.text, p.lang) for p in posts]
        records: dict[str, Record] = {}
        try:
            records[f"before ({args.before})"] = from_git(args.before)
        except (OSError, subprocess.CalledProcessError) as exc:
            why = f"cannot read {args.before} from git ({exc})"
            print(f"no 'before' figure: {why}", file=sys.stderr)
        records["after"] = current.record
        stores = {}
        for n, name in enumerate(records):
            stores[name] = Store.open(f"sqlite:///{folder / f'{n}.db'}")
            for at in range(0, count, 5000):
                stores[name].write_batch(posts[at : at + 5000], checked=True)
        counted = Counted()
        current._executemany = counted  # type: ignore[assignment]
        freeze_heap()  # as the pipeline does once started
        cpu = run(records, stores, posts, rules, sentiments, tags, args.batch)
        contents = [rollups(store) for store in stores.values()]
        for store in stores.values():
            store.close()
        if any(rows != contents[0] for rows in contents):
            raise SystemExit("the implementations wrote different rollups")

    per_post = {name: seconds / count * 1e6 for name, seconds in cpu.items()}
    print(
        f"\n{count:,} generated posts, {args.rules:,} rules with tags, recorded in batches of "
        f"{args.batch:,}; {counted.rows / count:.1f} rollup rows upserted per post (the same rows "
        "from every implementation: checked)\n"
    )
    print("| trend rollups (`veille.store.trends.record`) | CPU µs per post |")
    print("|---|---:|")
    for name, value in per_post.items():
        print(f"| {name} | {value:.1f} |")
    db = counted.cpu / count * 1e6
    print(f"| after: of which the upsert statements (SQLite, executemany) | {db:.1f} |")
    print(
        json.dumps(
            {
                "benchmark": "trends",
                "posts": count,
                "batch": args.batch,
                "rows_per_post": round(counted.rows / count, 2),
                "cpu_us_per_post": {k: round(v, 1) for k, v in per_post.items()},
                "after_statements_cpu_us_per_post": round(db, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
