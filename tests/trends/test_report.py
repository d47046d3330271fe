"""Reports: the HTML page escapes hostile text; the PDF renders to a picture (pdftoppm)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from veille.cli import main
from veille.model import Alert, Author, Match, Post, Sentiment
from veille.store import Store
from veille.store import alerts as alert_store
from veille.store import trends as st
from veille.testing import FakeClock
from veille.trends.report import gather, handling, render_html, render_pdf

NOW = datetime(2025, 11, 8, 9, 30, tzinfo=UTC)
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'
LABELS = [
    Sentiment(label="negative", score=0.8, polarity=-0.7),
    Sentiment(label="neutral", score=0.7, polarity=0.0),
    Sentiment(label="positive", score=0.9, polarity=0.8),
]


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    clock.now = NOW
    with Store.open(f"sqlite:///{tmp_path / 'r.db'}", clock=clock) as opened:
        posts, rules, sentiments = [], [], []
        for i in range(300):
            posts.append(
                Post(
                    platform="mastodon",
                    native_id=str(i),
                    text=f"grève tram Bruxelles {HOSTILE if i == 7 else ''} Ça déraille ẞ ćž",
                    lang="fr",
                    author=Author(handle=f"u{i % 9}", followers=i),
                    created_at=NOW - timedelta(hours=i % 150, minutes=i % 50),
                    hashtags=("grève",),
                    links=("https://news.example/a",),
                )
            )
            rules.append(["transport"] if i % 3 else ["transport", "securite"])
            sentiments.append(LABELS[i % 3])
        opened.write_batch(posts, [[Match(rule=r, version=1) for r in rs] for rs in rules])
        with opened.engine.begin() as conn:
            st.record(conn, posts, rules, sentiments)
            for alert in (
                Alert(
                    id=0, fingerprint="t1", kind="trend", severity="medium",
                    title=f"Volume spike on rule transport {HOSTILE}",
                    reasons=("volume ×4",), rule="transport",
                    first_seen=NOW - timedelta(hours=5), last_seen=NOW - timedelta(hours=5),
                    status="acknowledged", acknowledged_by="marie",
                ),
                Alert(
                    id=0, fingerprint="r1", kind="rule", severity="high", title="Rule securite",
                    rule="securite", first_seen=NOW - timedelta(days=1),
                    last_seen=NOW - timedelta(days=1), status="resolved", resolved_by="jan",
                    resolved_at=NOW - timedelta(hours=20), assignee="jan",
                ),
            ):  # fmt: skip
                alert_store.insert_alert(conn, alert, None)
        yield opened


def test_gathered_figures(store: Store) -> None:
    report = gather(store.engine, NOW - timedelta(days=7), NOW)
    assert report.granularity == "day"
    assert report.total.volume == 300
    assert (report.total.negative, report.total.neutral, report.total.positive) == (100, 100, 100)
    assert [r.name for r in report.rules] == ["transport", "securite"]
    assert report.rules[0].volume == 300
    assert report.hashtags == [("grève", 300)]
    assert report.domains == [("news.example", 300)]
    assert [a.fingerprint for a in report.spikes] == ["t1"]
    assert [a.fingerprint for a in report.alerts] == ["r1"]
    assert handling(report.spikes[0]) == "acknowledged by marie"
    assert handling(report.alerts[0]) == "assigned to jan, resolved by jan"
    one = gather(store.engine, NOW - timedelta(days=2), NOW, rules=["securite"])
    assert one.granularity == "hour"
    assert one.total.volume == sum(1 for i in range(300) if i % 3 == 0 and i % 150 < 48)
    assert [r.name for r in one.rules] == ["securite"]


def test_html_is_self_contained_and_escapes_hostile_text(store: Store) -> None:
    page = render_html(gather(store.engine, NOW - timedelta(days=7), NOW))
    assert "<script" not in page
    assert "onerror=" not in page.replace("onerror=&quot;", "")
    assert "&lt;script&gt;" in page
    assert "Content-Security-Policy" in page
    assert page.count("<svg") == 2
    assert "acknowledged by marie" in page
    assert "300</b> posts" in page


def test_pdf_renders_to_a_picture(store: Store, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (scripts/test installs poppler-utils)")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(gather(store.engine, NOW - timedelta(days=7), NOW)))
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    with Image.open(pages[0]) as image:
        rgb = image.convert("RGB")
        colours = {
            rgb.getpixel((x, y)) for x in range(0, rgb.width, 2) for y in range(0, rgb.height, 2)
        }
    reds = [c for c in colours if c[0] > 150 and c[1] < 100 and c[2] < 100]  # negative bars
    greens = [c for c in colours if c[1] > 130 and c[0] < 100]  # positive bars
    assert reds
    assert greens
    assert len(colours) > 20  # text and charts, not a blank page


def test_report_command_writes_both_formats(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_STORE__URL", str(store.engine.url))
    monkeypatch.setenv("VEILLE_CONFIG", str(tmp_path / "absent.toml"))
    for fmt in ("html", "pdf"):
        out = tmp_path / f"r.{fmt}"
        result = CliRunner().invoke(
            main, ["report", "--since", "3650d", "--format", fmt, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert "300 posts" in result.stdout
        assert out.stat().st_size > 1000
    bad = CliRunner().invoke(main, ["report", "--since", "soon", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2
