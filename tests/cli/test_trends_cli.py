"""``veille trends``: sparklines from the stored rollups; ``rebuild`` and ``check``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from veille.cli import main
from veille.cli.trends import sparkline
from veille.model import Author, Match, Post, Sentiment
from veille.store import Store
from veille.store import trends as st

NEG = Sentiment(label="negative", score=0.9, polarity=-0.8)
NEU = Sentiment(label="neutral", score=0.7, polarity=0.0)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    monkeypatch.setenv("VEILLE_STORE__URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("VEILLE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("VEILLE_RULES__PATHS", json.dumps([str(tmp_path / "rules")]))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(
        '[[rule]]\nid = "manif"\nquery = "manifestation"\nseverity = "low"\n'
        'tags = ["ordre-public"]\n'
    )
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    posts, rules, sentiments = [], [], []
    for h in range(1, 15):
        for i in range(40 if h == 1 else 5):
            posts.append(
                Post(
                    platform="bluesky",
                    native_id=f"{h}-{i}",
                    text="manifestation place Flagey" if h == 1 else "tram en retard",
                    lang="fr",
                    author=Author(handle=f"u{i}", followers=i),
                    created_at=now - timedelta(hours=h, minutes=-i),
                )
            )
            rules.append(["manif"])
            sentiments.append(NEG if h == 1 else NEU)
    with Store.open(url) as store:
        store.write_batch(posts, [[Match(rule=r, version=1) for r in rs] for rs in rules])
        with store.engine.begin() as conn:
            st.record(conn, posts, rules, sentiments, {"manif": ("ordre-public",)})
    return url


def test_sparkline() -> None:
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([0, 1, 8]) == "▁▂█"
    assert sparkline([]) == ""


def test_trends_prints_the_temperature(db: str) -> None:
    result = CliRunner().invoke(main, ["trends", "--since", "24h"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "everything" in result.stdout
    assert "rule manif" in result.stdout
    assert "tag ordre-public" in result.stdout
    assert "█" in result.stdout
    assert "105" in result.stdout  # 40 + 13 × 5 posts in the window


def test_check_prints_the_spike_of_the_last_hour(db: str) -> None:
    result = CliRunner().invoke(main, ["trends", "check", "--sensitivity", "medium"])
    assert result.exit_code == 0, result.output
    signals = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(s["labels"]["dimension"], s["labels"]["spike"]) for s in signals} >= {
        ("rule", "volume"),
        ("tag", "volume"),
    }
    assert all(s["kind"] == "trend" for s in signals)


def test_rebuild_gives_the_same_rollups(db: str) -> None:
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        before = sorted(conn.execute(sa.select(st.trend_buckets)).all())
    engine.dispose()
    result = CliRunner().invoke(main, ["trends", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "from 105 posts" in result.stdout
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(st.trend_buckets)).all()) == before
    engine.dispose()
