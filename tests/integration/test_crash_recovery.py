"""Kill -9 the running pipeline twice at random moments, restart it, and check the invariants:
every post stored exactly once, every expected match present, the cursor never ahead of the
stored posts."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from veille.match.matcher import Matcher
from veille.model import Post
from veille.normalise.fold import fold
from veille.rules.files import load_rules
from veille.store import Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POSTS = 20_000
RULES = """
[[rule]]
id = "police"
severity = "high"
query = 'police OR politie'

[[rule]]
id = "demo-gent"
severity = "medium"
query = 'betoging AND gent'

[[rule]]
id = "station"
severity = "low"
query = '"gare centrale" OR station NEAR/2 noord'
"""
WORDS = [
    "de",
    "la",
    "police",
    "politie",
    "betoging",
    "gent",
    "gare",
    "centrale",
    "station",
    "noord",
    "rustig",
    "soleil",
    "regen",
]


def write_posts(path: Path, rng: random.Random) -> list[bytes]:
    lines = [
        msgspec.json.encode(
            {"id": f"p{n}", "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 9)))}
        )
        for n in range(POSTS)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def start(workdir: Path, replay: Path) -> subprocess.Popen[bytes]:
    with (workdir / "run.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "veille", "run", "--replay", str(replay), "--quiet"],
            cwd=workdir,
            env={**os.environ, "VEILLE_CONFIG": str(workdir / "veille.toml")},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # kill -9 the whole group: main process and its workers
        )


def stored_ids(store: Store) -> list[str]:
    return [p.post.native_id for page in store.iter_posts(batch_size=5000) for p in page]


def check_cursor_not_ahead(store: Store, source: str, lines: list[bytes]) -> int:
    cursor = store.cursor(source)
    offset = int(cursor) if cursor else 0
    covered, position = 0, 0
    for line in lines:
        position += len(line) + 1
        if position > offset:
            break
        covered += 1
    ids = set(stored_ids(store))
    missing = [n for n in range(covered) if f"p{n}" not in ids]
    assert not missing, f"cursor {offset} covers {covered} lines but {len(missing)} are not stored"
    return covered


def kill_when_stored(process: subprocess.Popen[bytes], db: Path, at_least: int) -> None:
    store = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        if db.exists():
            store = store or Store.open(f"sqlite:///{db}", migrate=False)
            try:
                if store.counts()["posts"] >= at_least:
                    break
            except Exception:  # schema not created yet
                pass
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    if store is not None:
        store.close()


def test_two_kills_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("VEILLE_TEST_SEED", "kill9"))
    replay = tmp_path / "posts.jsonl"
    lines = write_posts(replay, rng)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watch.toml").write_text(RULES)
    db = tmp_path / "veille.db"
    (tmp_path / "veille.toml").write_text(
        f'[store]\nurl = "sqlite:///{db}"\n[rules]\npaths = ["{tmp_path / "rules"}"]\n'
        "[pipeline]\nbatch_size = 100\nstore_batch_posts = 300\nworkers = 1\n"
    )
    source = f"replay:{replay}"

    first_kill = rng.randint(1_000, 7_000)
    kill_when_stored(start(tmp_path, replay), db, first_kill)
    with Store.open(f"sqlite:///{db}") as store:
        covered = check_cursor_not_ahead(store, source, lines)
    assert 0 < covered < POSTS

    second_kill = rng.randint(covered + 2_000, 17_000)
    kill_when_stored(start(tmp_path, replay), db, second_kill)
    with Store.open(f"sqlite:///{db}") as store:
        covered_again = check_cursor_not_ahead(store, source, lines)
    assert covered < covered_again < POSTS

    final = start(tmp_path, replay)
    assert final.wait(300) == 0, (tmp_path / "run.log").read_text()

    matcher = Matcher(load_rules([tmp_path / "rules"]))
    expected = set()
    for line in lines:
        data = msgspec.json.decode(line)
        post = Post(platform="generic", native_id=data["id"], text=data["text"])
        expected |= {(post.native_id, m.rule) for m in matcher.match(post, fold(post.text))}
    with Store.open(f"sqlite:///{db}") as store:
        assert check_cursor_not_ahead(store, source, lines) == POSTS
        pages = [p for page in store.iter_posts(batch_size=5000) for p in page]
        ids = [p.post.native_id for p in pages]
        assert len(ids) == len(set(ids)) == POSTS
        found = {(p.post.native_id, m.match.rule) for p in pages for m in p.matches}
        assert store.counts()["matches"] == len(found)
    assert found == expected
    assert len(expected) > POSTS // 2
