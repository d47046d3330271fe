import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from tests.cli.process import Output
from veille.store import Store

RULE = '[[rule]]\nid = "hot"\nseverity = "low"\nquery = "{query}"\n'


def append(path: Path, start: int, texts: list[str]) -> None:
    with path.open("ab") as f:
        for i, text in enumerate(texts, start):
            f.write(msgspec.json.encode({"id": str(i), "text": text}) + b"\n")


def stored(workdir: Path, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Store.open(f"sqlite:///{workdir / 'veille.db'}") as store:
            if store.counts()["posts"] >= n:
                return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} posts stored after {timeout} s")


@pytest.mark.integration
def test_veille_run_picks_up_a_changed_rule_file_without_restart(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "watch.toml").write_text(RULE.format(query="alpha"), "utf-8")
    posts = tmp_path / "posts.jsonl"
    append(posts, 0, ["alpha", "beta"])
    env = {
        **os.environ,
        "VEILLE_RULES__RELOAD_SECONDS": "0.2",
        "VEILLE_TRENDS__ENABLED": "false",
    }
    env.pop("VEILLE_CONFIG", None)
    with subprocess.Popen(
        [sys.executable, "-m", "veille", "run", "--replay", str(posts), "--follow", "--plain"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        output = Output(process)
        try:
            stored(tmp_path, 2)
            (rules / "watch.toml").write_text(RULE.format(query="alpha AND ("), "utf-8")
            output.wait_for("the running rules stay")  # an invalid edit: said, not applied
            (rules / "watch.toml").write_text(RULE.format(query="beta OR gamma"), "utf-8")
            output.wait_for("rules reloaded: 1 rules, 1 enabled")
            append(posts, 2, ["alpha", "beta", "gamma"])
            stored(tmp_path, 5)
            process.send_signal(signal.SIGINT)
        finally:
            text = output.finish()
    assert process.returncode == 0, text
    with Store.open(f"sqlite:///{tmp_path / 'veille.db'}") as store:
        found = {}
        for i in range(5):
            view = store.post("generic", str(i))
            assert view is not None
            found[i] = [(m.match.rule, m.match.version) for m in view.matches]
        assert store.versions.query("hot", 2) == "beta OR gamma"
    assert found == {
        0: [("hot", 1)],
        1: [],
        2: [],  # "alpha" after the swap: the new version does not match it
        3: [("hot", 2)],
        4: [("hot", 2)],
    }
