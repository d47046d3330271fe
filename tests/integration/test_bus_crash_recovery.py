"""Scale-out over a real NATS JetStream: ``veille ingest`` of 20,000 replayed posts and pipeline
workers (``veille run --bus … --partition I/N``), with the ingester and a worker killed with
``kill -9`` at random moments and restarted. Checks: every post stored exactly once, every
expected match, every conversation whole with its rules, no cursor ahead of the data (the
replay cursor ahead of the bus, or a worker's stream sequence ahead of the store), and every
re-published item dropped by the bus's duplicate window."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from veille.match.matcher import Matcher
from veille.model import Post, RawItem
from veille.normalise.fold import fold
from veille.rules.files import load_rules
from veille.store import Store
from veille.testing import NatsServer

from .test_crash_recovery import RULES, WORDS

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.nats]

POSTS = 20_000
THREAD = 5
STREAM = "VEILLE_RAW"


def write_posts(path: Path, rng: random.Random) -> list[bytes]:
    """Threads of five: a root, a direct reply (parent id only), then replies naming the root."""
    lines = []
    for n in range(POSTS):
        post: dict[str, str] = {
            "id": f"p{n}",
            "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 9))),
        }
        root = n - n % THREAD
        if n % THREAD == 1:
            post["reply_to"] = f"p{root}"
        elif n % THREAD:
            post |= {"reply_to": f"p{n - 1}", "root_id": f"p{root}"}
        lines.append(msgspec.json.encode(post))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def veille(workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    with (workdir / "run.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "veille", *args],
            cwd=workdir,
            env={**os.environ, "VEILLE_CONFIG": str(workdir / "veille.toml")},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def on_the_bus(url: str) -> list[tuple[int, str, str]]:
    """Every message of the stream: (sequence, subject, post id)."""

    async def read() -> list[tuple[int, str, str]]:
        client = await nats.connect(url)
        try:
            js = client.jetstream()
            last = (await js.stream_info(STREAM)).state.last_seq
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE)
            sub = await js.pull_subscribe("veille.raw.*", stream=STREAM, config=config)
            out: list[tuple[int, str, str]] = []
            while not out or out[-1][0] < last:
                for message in await sub.fetch(1000, timeout=5):
                    item = msgspec.json.decode(message.data, type=RawItem)
                    out.append(
                        (
                            message.metadata.sequence.stream,
                            message.subject,
                            msgspec.json.decode(item.payload)["id"],
                        )
                    )
            return out
        finally:
            await client.close()

    return asyncio.run(read())


def stored_ids(store: Store) -> set[str]:
    return {p.post.native_id for page in store.iter_posts(batch_size=5000) for p in page}


def replay_covered(store: Store, replay: Path, lines: list[bytes]) -> set[str]:
    """Post ids of the lines before the replay's saved cursor."""
    cursor = store.cursor(f"replay:{replay}")
    offset, position, covered = int(cursor) if cursor else 0, 0, set()
    for n, line in enumerate(lines):
        position += len(line) + 1
        if position > offset:
            break
        covered.add(f"p{n}")
    return covered


def check_worker_cursors(store: Store, url: str, partitions: int) -> None:
    """Every item of a partition up to the worker's committed sequence is stored.

    Cursors are read first: posts committed with a cursor are visible once it is, while a
    worker still running may commit more in between (which only makes the check stricter).
    """
    cursors = [store.cursor(f"nats:{STREAM}:{p}/{partitions}") for p in range(partitions)]
    ids = stored_ids(store)
    bus = on_the_bus(url)
    for partition, cursor in enumerate(cursors):
        upto = int(cursor) if cursor else 0
        behind = [
            post
            for seq, subject, post in bus
            if subject == f"veille.raw.{partition}" and seq <= upto and post not in ids
        ]
        assert not behind, f"partition {partition}: cursor {upto} is ahead of {len(behind)} posts"


def expected_outcome(
    rules: Path, lines: list[bytes]
) -> tuple[set[tuple[str, str]], dict[str, set[str]]]:
    matcher = Matcher(load_rules([rules]))
    matches: set[tuple[str, str]] = set()
    conversations: dict[str, set[str]] = {}
    for n, line in enumerate(lines):
        data = msgspec.json.decode(line)
        post = Post(platform="generic", native_id=data["id"], text=data["text"])
        found = {m.rule for m in matcher.match(post, fold(post.text))}
        matches |= {(post.native_id, rule) for rule in found}
        if found:
            conversations.setdefault(f"p{n - n % THREAD}", set()).update(found)
    return matches, conversations


def run_scenario(
    tmp_path: Path, server: NatsServer, store_url: str, store: Store, partitions: int
) -> None:
    rng = random.Random(os.environ.get("VEILLE_TEST_SEED", f"bus-kill9-{partitions}"))
    replay = tmp_path / "posts.jsonl"
    lines = write_posts(replay, rng)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watch.toml").write_text(RULES)
    (tmp_path / "veille.toml").write_text(
        f'[store]\nurl = "{store_url}"\n[rules]\npaths = ["{tmp_path / "rules"}"]\n'
        "[pipeline]\nbatch_size = 200\nstore_batch_posts = 400\n"
        f'[bus]\nurl = "{server.url}"\npartitions = {partitions}\nfetch_batch = 200\n'
        "in_flight = 300\n"
    )
    workers: list[subprocess.Popen[bytes]] = []

    def worker(partition: int) -> subprocess.Popen[bytes]:
        where = f"{partition}/{partitions}"
        return veille(tmp_path, "run", "--bus", server.url, "--partition", where, "--quiet")

    def ingester() -> subprocess.Popen[bytes]:
        return veille(tmp_path, "ingest", "--replay", str(replay), "--quiet")

    try:
        # The ingester dies at a random moment; what its cursor covers must be on the bus.
        feeding = ingester()
        first_kill = rng.randint(2_000, 9_000)
        wait_for(lambda: len(replay_covered(store, replay, lines)) >= first_kill, "ingest")
        kill(feeding)
        covered = replay_covered(store, replay, lines)
        assert 0 < len(covered) < POSTS
        assert not covered - {post for _, _, post in on_the_bus(server.url)}

        workers = [worker(p) for p in range(partitions)]
        feeding = ingester()
        # A worker dies at a random moment, then again; its cursor never passes its data.
        for at_least in sorted(rng.sample(range(3_000, 15_000), 2)):
            wait_for(lambda n=at_least: store.counts()["posts"] >= n, f"{at_least} posts")
            kill(workers[0])
            check_worker_cursors(store, server.url, partitions)
            workers[0] = worker(0)
        assert feeding.wait(300) == 0, (tmp_path / "run.log").read_text()
        wait_for(lambda: store.counts()["posts"] >= POSTS, "every post stored")
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            assert process.wait(60) == 0, (tmp_path / "run.log").read_text()[-5000:]
    finally:
        for process in [feeding, *workers]:
            if process.poll() is None:
                kill(process)

    bus = on_the_bus(server.url)
    assert len(bus) == POSTS, "a re-published item was not dropped by its message id"
    assert sorted(int(post[1:]) for _, _, post in bus) == list(range(POSTS))
    check_worker_cursors(store, server.url, partitions)

    expected_matches, expected_conversations = expected_outcome(tmp_path / "rules", lines)
    pages = [p for page in store.iter_posts(batch_size=5000) for p in page]
    ids = [p.post.native_id for p in pages]
    assert len(ids) == len(set(ids)) == POSTS
    roots = {p.post.native_id: p.conversation_root for p in pages}
    assert roots == {f"p{n}": f"p{n - n % THREAD}" for n in range(POSTS)}
    found = {(p.post.native_id, m.match.rule) for p in pages for m in p.matches}
    assert store.counts()["matches"] == len(found)
    assert found == expected_matches
    flagged = {c.root: set(c.rules) for c in store.conversations(limit=POSTS)}
    assert flagged == expected_conversations


@pytest.mark.pg
def test_ingester_and_two_workers_on_postgresql_survive_kill_9(
    tmp_path: Path, nats_server: NatsServer, pg_url: str
) -> None:
    with Store.open(pg_url) as store:
        run_scenario(tmp_path, nats_server, pg_url, store, partitions=2)


def test_ingester_and_one_worker_on_sqlite_survive_kill_9(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    with Store.open(url) as store:
        run_scenario(tmp_path, nats_server, url, store, partitions=1)
