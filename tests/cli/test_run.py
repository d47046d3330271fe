import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from tests.cli.process import Output
from veille.cli import main
from veille.demo.generate import INCIDENTS
from veille.store import Store
from veille.testing import free_port


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEILLE_CONFIG", raising=False)
    monkeypatch.setenv("VEILLE_WEB__PORT", str(free_port()))  # the demo serves the dashboard
    return tmp_path


def test_demo_on_a_fresh_directory_flags_the_incidents(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = CliRunner().invoke(main, ["demo", "--rate", "0", "--no-web", "--plain"])
    assert result.exit_code == 0, result.output
    # Hooks (trends, alerts) log their failures instead of stopping the stream: none may fail.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "3,000 posts stored" in result.output
    assert "[critical] nl.adres-agent nl" in result.output
    with Store.open(f"sqlite:///{workdir / 'veille.db'}") as store:
        assert store.counts()["posts"] == 3000
        flagged = store.conversations(limit=100)
        roots = [store.post("demo", c.root) for c in flagged]
        texts = [r.post.text for r in roots if r is not None]
        for incident in INCIDENTS:
            opening = incident.root.split("{")[0]
            assert any(t.startswith(opening) for t in texts), opening
        threat = next(c for c in flagged if "fr.menace-police" in c.rules)
        assert threat.post_count == 4  # the threat and every reply after it, followed


def jsonl(path: Path, n: int) -> Path:
    path.write_bytes(
        b"".join(
            msgspec.json.encode({"id": i, "text": "betoging in Gent" if i % 10 == 0 else "rustig"})
            + b"\n"
            for i in range(n)
        )
    )
    return path


def test_run_replays_resumes_and_reports_bad_lines(workdir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    path = jsonl(workdir / "posts.jsonl", 200)
    with path.open("ab") as f:
        f.write(b"{not json}\n")
    first = runner.invoke(main, ["run", "--replay", str(path), "--plain"])
    assert first.exit_code == 0, first.output
    assert "200 posts stored" in first.output
    assert "1 quarantined" in first.output
    second = runner.invoke(main, ["run", "--replay", str(path), "--plain"])
    assert "0 posts stored" in second.output  # resumed after the last committed line
    with Store.open("sqlite:///veille.db") as store:
        assert store.counts()["posts"] == 200
        assert store.counts()["matches"] == 20
        (bad,) = store.quarantined()
        assert bad.stage == "normalise"
        assert bad.error.startswith("line 201: payload is not valid JSON")
    again = runner.invoke(main, ["run", "--replay", str(path), "--plain", "--from-start"])
    assert "200 posts stored" in again.output


def test_run_without_rules_or_sources_says_what_to_do(workdir: Path) -> None:
    runner = CliRunner()
    no_rules = runner.invoke(main, ["run", "--replay", "x.jsonl"])
    assert no_rules.exit_code != 0
    assert "veille init" in no_rules.output
    runner.invoke(main, ["init"])
    nothing = runner.invoke(main, ["run"])
    assert "nothing to run" in nothing.output
    (workdir / "rules" / "bad.toml").write_text(
        '[[rule]]\nid = "x"\nseverity = "low"\nquery = "a AND"\n'
    )
    bad = runner.invoke(main, ["run", "--replay", "x.jsonl"])
    assert "bad.toml:4:12: error: AND needs something on its right" in bad.output


@pytest.mark.integration
def test_demo_with_the_dashboard_serves_until_interrupted(workdir: Path) -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "veille", "demo", "--rate", "0", "--web", "--plain"],
        cwd=workdir,
        env={**os.environ, "VEILLE_WEB__PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        output = Output(process)
        try:
            output.wait_for(f"dashboard on http://127.0.0.1:{port}/")
            # Said once the whole stream is stored and the pipeline has ended.
            output.wait_for("stays up until Ctrl-C")
            with Store.open(f"sqlite:///{workdir / 'veille.db'}") as store:
                assert store.counts()["posts"] == 3000
            assert process.poll() is None
            answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
            assert answer.status_code in (200, 303)
            process.send_signal(signal.SIGINT)
        finally:
            text = output.finish()
    assert process.returncode == 0, text
    assert "log in as demo / " in text
