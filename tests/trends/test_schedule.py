"""Scheduled reports: when they are due, and what a receiver gets."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from veille.alert.channels import Message, SendResult
from veille.config import ReportSchedule
from veille.model import Post, Sentiment
from veille.pipeline import Stored
from veille.store import Store
from veille.store import trends as st
from veille.testing import FakeClock
from veille.trends.schedule import due_period, send_report
from veille.trends.service import TrendHook

MONDAY_7 = datetime(2025, 11, 3, 7, 20, tzinfo=UTC)


class Receiver:
    """Stands for a receiver at the network boundary: keeps what it was sent."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.sent: list[tuple[str, dict[str, object]]] = []

    async def send(self, message: Message) -> SendResult:
        self.sent.append((message.idempotency_key, json.loads(message.payload)))
        return SendResult(ok=self.ok, error="" if self.ok else "refused")

    async def aclose(self) -> None:
        return None


def test_due_periods() -> None:
    daily = ReportSchedule(name="d", hour=7)
    weekly = ReportSchedule(name="w", every="weekly", hour=7)
    hour = MONDAY_7.replace(minute=0)
    assert due_period(daily, MONDAY_7) == (hour - timedelta(days=1), hour)
    assert due_period(weekly, MONDAY_7) == (hour - timedelta(days=7), hour)
    assert due_period(daily, MONDAY_7 + timedelta(hours=1)) is None
    assert due_period(weekly, MONDAY_7 + timedelta(days=1)) is None
    assert due_period(daily, MONDAY_7 + timedelta(days=1)) is not None


def test_schedule_names_are_checked() -> None:
    with pytest.raises(ValueError, match="name"):
        ReportSchedule(name="../etc/passwd")


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    clock.now = MONDAY_7 - timedelta(hours=1)
    opened = Store.open(f"sqlite:///{tmp_path / 's.db'}", clock=clock)
    posts = [
        Post(
            platform="x",
            native_id=str(i),
            text="tram",
            created_at=MONDAY_7 - timedelta(hours=i + 1),
        )
        for i in range(10)
    ]
    opened.write_batch(posts, [[] for _ in posts])
    with opened.engine.begin() as conn:
        st.record(conn, posts, [[] for _ in posts], [Sentiment(label="neutral", score=0.6)] * 10)
    return opened


def test_a_report_goes_to_each_receiver(store: Store, tmp_path: Path) -> None:
    schedule = ReportSchedule(
        name="daily-fr", format="html", receivers=["team", "broken", "absent"],
        folder=str(tmp_path / "reports"),
    )  # fmt: skip
    team, broken = Receiver(), Receiver(ok=False)
    period = due_period(schedule, MONDAY_7)
    assert period is not None
    result = asyncio.run(
        send_report(store.engine, schedule, *period, {"team": team, "broken": broken})
    )
    assert result == {"team": True, "broken": False, "absent": False}
    key, body = team.sent[0]
    assert key == "report:daily-fr:20251102T07:20251103T07"
    assert body["kind"] == "report"
    assert str(body["text"]).startswith("10 posts, net sentiment +0.00")
    assert Path(str(body["file"])).read_text("utf-8") == body["html"]
    store.close()


def test_the_trend_hook_sends_due_reports_once_an_hour(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    team = Receiver()
    schedule = ReportSchedule(name="daily", receivers=["team"], folder=str(tmp_path / "r"))
    hook = TrendHook(store.engine, None, clock=clock, reports=[schedule], channels={"team": team})
    post = Post(platform="x", native_id="late", text="tram", created_at=MONDAY_7)
    store.write_batch([post], [[]])
    clock.now = MONDAY_7
    asyncio.run(hook(Stored([post], [[]], [], [], {})))
    asyncio.run(hook(Stored([post], [[]], [], [], {})))
    assert len(team.sent) == 1
    assert str(team.sent[0][1]["file"]).endswith(".pdf")
    store.close()
