"""Scheduled reports: which are due at a given hour, and sending one through alert channels.

A receiver gets a JSON message with ``title`` and ``text`` (what every channel shows, e-mail
and chat through Apprise included), plus ``kind = "report"``, the period and the path of the
file written; a webhook receiver also gets the HTML page itself when the format is HTML. The
idempotency key is the report's name and period, so a receiver can drop a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import orjson
import sqlalchemy as sa

from veille.alert.channels import Channel
from veille.config import ReportSchedule
from veille.trends.report import Report, gather, handling, render_html, render_pdf
from veille.trends.rollup import floor

log = logging.getLogger(__name__)


class ReportMessage(msgspec.Struct, frozen=True):
    """One report for one receiver, in the shape channels send."""

    idempotency_key: str
    payload: bytes


def due_period(schedule: ReportSchedule, now: datetime) -> tuple[datetime, datetime] | None:
    """The window to report on if ``schedule`` is due in the hour of ``now``, else None."""
    hour = floor(now, "hour")
    if hour.hour != schedule.hour:
        return None
    if schedule.every == "weekly":
        if hour.weekday() != 0:
            return None
        return hour - timedelta(days=7), hour
    return hour - timedelta(days=1), hour


def summary(report: Report) -> str:
    """A few lines any channel can show: volume, mood, spikes, alerts, top rules."""
    t = report.total
    lines = [
        f"{t.volume} posts, net sentiment {t.net_sentiment:+.2f} "
        f"({t.negative} negative, {t.neutral} neutral, {t.positive} positive)",
        f"{len(report.spikes)} spikes, {len(report.alerts)} other alerts",
    ]
    lines += [f"spike: {a.title} ({handling(a)})" for a in report.spikes[:5]]
    lines += [f"rule {r.name}: {r.volume} posts, net {r.net:+.2f}" for r in report.rules[:5]]
    return "\n".join(lines)


def write_report(
    engine: sa.Engine, schedule: ReportSchedule, since: datetime, until: datetime
) -> tuple[Report, Path, bytes]:
    """Gather and render one scheduled report into its folder; returns it, its path, bytes."""
    report = gather(
        engine, since, until, rules=schedule.rules, title=f"veille — {schedule.name} report"
    )
    body = render_html(report).encode("utf-8") if schedule.format == "html" else render_pdf(report)
    folder = Path(schedule.folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{schedule.name}-{until:%Y%m%dT%H%M}.{schedule.format}"
    path.write_bytes(body)
    return report, path, body


async def send_report(
    engine: sa.Engine,
    schedule: ReportSchedule,
    since: datetime,
    until: datetime,
    channels: Mapping[str, Channel],
) -> dict[str, bool]:
    """Write the report and send it to each receiver; returns which receivers accepted it."""
    report, path, body = write_report(engine, schedule, since, until)
    message: dict[str, object] = {
        "kind": "report",
        "title": report.title,
        "text": summary(report) + f"\n\nfile: {path}",
        "period": [since.isoformat(), until.isoformat()],
        "file": str(path),
    }
    if schedule.format == "html":
        message["html"] = body.decode("utf-8")
    key = f"report:{schedule.name}:{since:%Y%m%dT%H}:{until:%Y%m%dT%H}"
    out = {}
    for name in schedule.receivers:
        channel = channels.get(name)
        if channel is None:
            log.error("report %s: no receiver named %r in [alerts]", schedule.name, name)
            out[name] = False
            continue
        result = await channel.send(ReportMessage(key, orjson.dumps(message)))
        if not result.ok:
            log.error("report %s to %s failed: %s", schedule.name, name, result.error)
        out[name] = result.ok
    return out
