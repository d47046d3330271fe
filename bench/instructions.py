"""Machine instructions per post of each process's share of the pipeline, counted by callgrind.

On the 2-core development machine the time of the same code drifts by a quarter within minutes
(other tenants of its host), so a change of a few per cent cannot be timed there. Instructions
executed are exact and repeatable: this benchmark counts them, with valgrind's callgrind, for
the two shares of ``bench/pipeline.py``'s end-to-end run with one worker, on the same generated
posts and 10,000 rules:

- the worker's share: msgpack-decode a batch of raw items, normalise, check, fold, match,
  msgpack-encode the result (what ``veille.pipeline._process_in_worker`` does);
- the main process's store share: msgpack-decode the worker's results and ``write_batch`` them
  into a fresh SQLite store with full-text indexing, 4,000 posts a transaction.

Only the measured calls are counted (``--toggle-collect`` on the ctypes call that runs them),
not the start-up, the rule compilation or the data generation. Not counted: the main process's
event loop (reading the replay, handing batches over), nor cache misses or the slowdown of two
processes sharing a core's execution units, which the timed benchmark shows.

    python bench/instructions.py            # 20,000 posts, 10,000 rules (~3 minutes)
    python bench/instructions.py --quick    # 2,000 posts, 1,000 rules (under a minute)

The two shares run at once (they are counted, not timed).

Needs valgrind (``apt-get install valgrind``). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

SHARES = {
    "worker": "worker process (decode, normalise, fold, match, encode)",
    "main": "main process, store share (decode, write_batch into SQLite + FTS5)",
}
BATCH = 1000
TRANSACTION = 4000


def child(folder: Path, share: str) -> None:
    """Run under callgrind: prepare outside the counted region, then count ``share``."""
    from veille.match.matcher import Matcher
    from veille.model import RawItem
    from veille.pipeline import Processed, Processor, freeze_heap
    from veille.store import Store
    from veille.wiring import Catalogue

    encoder = msgspec.msgpack.Encoder()
    items_decoder = msgspec.msgpack.Decoder(list[RawItem])
    processed_decoder = msgspec.msgpack.Decoder(Processed)
    lines = (folder / "posts.jsonl").read_bytes().splitlines()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    items = [
        RawItem(
            source="replay", platform="generic", payload=line, received_at=now, origin=f"line {n}"
        )
        for n, line in enumerate(lines, 1)
    ]
    processor = Processor(Matcher(Catalogue.load([folder / "rules.toml"]).rules))
    freeze_heap()
    batches = [items[at : at + BATCH] for at in range(0, len(items), BATCH)]
    payloads = [encoder.encode(batch) for batch in batches]

    def worker() -> list[bytes]:
        return [encoder.encode(processor(items_decoder.decode(p))) for p in payloads]

    if share == "worker":
        counted(worker)
        return
    results = worker()
    store = Store.open(f"sqlite:///{folder / 'store.db'}")

    def write(done: Processed) -> None:
        store.write_batch(
            done.posts,
            done.matches,
            {"replay": "0"},
            folded=done.folded,
            payloads=done.payloads,
            checked=True,
        )

    def store_share() -> None:
        pending = Processed()
        for result, batch in zip(results, batches, strict=True):
            # The pipeline keeps each batch's items and takes the raw copies from them.
            pending.extend(processed_decoder.decode(result).with_payloads(batch))
            if len(pending.posts) >= TRANSACTION:
                write(pending)
                pending = Processed()
        if pending.posts:
            write(pending)

    counted(store_share)
    store.close()


def counted(work: Callable[[], object]) -> None:
    """Call ``work`` through ctypes, so that callgrind counts inside ``ffi_call`` only."""
    namespace = sys.modules["__main__"].__dict__
    namespace["_counted_work"] = work
    ctypes.pythonapi.PyRun_SimpleStringFlags(b"_counted_work()", None)


def count(folder: Path, posts: int) -> dict[str, float]:
    """Instructions per post of each share, from callgrind runs of this script as children
    (both at once: they are counted, not timed)."""
    runs = {}
    for share in SHARES:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=ffi_call",
            f"--callgrind-out-file={folder / ('callgrind.' + share)}",
            sys.executable,
            __file__,
            "--child",
            share,
            "--folder",
            str(folder),
        ]
        env = dict(os.environ, PYTHONHASHSEED="0")
        runs[share] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
    figures = {}
    for share, run in runs.items():
        _, stderr = run.communicate()
        found = re.search(r"Collected : (\d+)", stderr)
        if run.returncode != 0 or found is None:
            raise SystemExit(f"callgrind run of the {share} share failed:\n{stderr[-2000:]}")
        figures[share] = int(found[1]) / posts
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="2,000 posts, 1,000 rules: under a minute"
    )
    parser.add_argument("--posts", type=int, default=None)
    parser.add_argument("--rules", type=int, default=None)
    parser.add_argument("--child", choices=list(SHARES), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.folder, args.child)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind: apt-get install valgrind")
    posts = args.posts or (2_000 if args.quick else 20_000)
    rules = args.rules or (1_000 if args.quick else 10_000)
    if posts < 1 or rules < 1:
        raise SystemExit("--posts and --rules must be at least 1")
    sys.path.insert(0, str(Path(__file__).parent))
    from pipeline import generated

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines, catalogue = generated(posts, rules)
        (folder / "posts.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        (folder / "rules.toml").write_text(catalogue, encoding="utf-8")
        print(f"{posts:,} generated posts, {rules:,} rules; instructions counted by callgrind")
        print()
        print("| share of a post | instructions per post |")
        print("|---|---:|")
        figures = count(folder, posts)
        for share, label in SHARES.items():
            print(f"| {label} | {figures[share]:,.0f} |")
        print(f"| both | {sum(figures.values()):,.0f} |")
    print(
        json.dumps(
            {
                "posts": posts,
                "rules": rules,
                "worker_instructions_per_post": round(figures["worker"]),
                "main_store_instructions_per_post": round(figures["main"]),
            }
        )
    )


if __name__ == "__main__":
    main()
