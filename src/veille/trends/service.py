"""Trends at run time: record each committed batch into the rollups, check spikes every hour.

:class:`TrendHook` is the pipeline's after-store hook. It counts what was just stored (the
sentiment comes from the enrichment step, or is computed here when the pipeline has none) and,
once per new hour, checks the last complete hour of every active rule and tag for a volume or
negative-share spike; a spike becomes an alert of kind ``trend`` with a summary: what grew, top
terms, top posts, sentiment shift.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec
import sqlalchemy as sa

from veille.alert.channels import Channel
from veille.clock import Clock, utcnow
from veille.config import ReportSchedule
from veille.enrich.sentiment import SentimentBackend, default_model, from_finding
from veille.model import AlertSignal, Enrichment, Post, Sentiment, Severity
from veille.store import trends as st
from veille.store.engine import write_transaction
from veille.trends.rollup import Dimension, floor
from veille.trends.schedule import due_period, send_report
from veille.trends.spikes import (
    BASELINE_HOURS,
    DAY,
    MAX_DAYS,
    Sensitivity,
    Spike,
    negative_share_spike,
    volume_spike,
)

log = logging.getLogger(__name__)

HISTORY_HOURS: Final = DAY * MAX_DAYS + BASELINE_HOURS + 1
SPIKE_DIMENSIONS: Final[tuple[Dimension, ...]] = ("rule", "tag")
RECORD_SLICE: Final = 1000
"""Posts counted per transaction by :class:`TrendHook` (each post once, with its rollups)."""


def sentiments_of(
    posts: Sequence[Post], enrichments: Sequence[Enrichment], backend: SentimentBackend
) -> list[Sentiment]:
    """Each post's sentiment: the enrichment's verdict, else computed now (the posts without
    one in a single batch call: the model's cost is mostly per call)."""
    out: list[Sentiment | None] = []
    missing: list[int] = []
    for i in range(len(posts)):
        verdict = enrichments[i].verdict("sentiment") if i < len(enrichments) else None
        out.append(None if verdict is None else from_finding(verdict))
        if verdict is None:
            missing.append(i)
    if missing:
        texts = [posts[i].text for i in missing]
        langs = [
            (enrichments[i].lang if i < len(enrichments) else "") or posts[i].lang for i in missing
        ]
        for i, sentiment in zip(missing, backend.analyze_many(texts, langs), strict=True):
            out[i] = sentiment
    return [s for s in out if s is not None]  # every one is set by now


def _growing_terms(
    conn: sa.Connection, dim: Dimension, value: str, hour: datetime, limit: int = 5
) -> list[str]:
    """Words and hashtags of the hour that rose most above their hourly baseline."""
    since, end = hour - timedelta(hours=BASELINE_HOURS), hour + timedelta(hours=1)
    scored: list[tuple[float, str]] = []
    for kind, prefix in (("word", ""), ("hashtag", "#")):
        before = dict(st.top_terms(conn, dim, value, kind, since, hour, limit=500))  # type: ignore[arg-type]
        for term, n in st.top_terms(conn, dim, value, kind, hour, end, limit=30):  # type: ignore[arg-type]
            scored.append((n - before.get(term, 0) / BASELINE_HOURS, prefix + term))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [term for growth, term in scored[:limit] if growth > 0]


def describe(
    conn: sa.Connection, spike: Spike, dim: Dimension, value: str, hour: datetime
) -> AlertSignal:
    """The alert a spike raises: what grew, by how much, top terms and posts, mood shift."""
    end = hour + timedelta(hours=1)
    now = st.total(conn, dim, value, hour, end)
    before = st.total(conn, dim, value, hour - timedelta(hours=BASELINE_HOURS), hour)
    subject = f"rule {value}" if dim == "rule" else f"tag {value}"
    if spike.kind == "volume":
        title = (
            f"Volume spike on {subject}: {int(spike.observed)} posts in the hour "
            f"(expected {spike.expected:g})"
        )
        grew = f"volume ×{spike.ratio:g} (z {spike.z:g}, daily-cycle factor {spike.daily_factor:g})"
    else:
        title = (
            f"Negative mood on {subject}: {spike.observed:.0%} negative in the hour "
            f"(usually {spike.expected:.0%})"
        )
        grew = f"negative share {spike.expected:.0%} → {spike.observed:.0%} (z {spike.z:g})"
    reasons = [grew, f"net sentiment {before.net_sentiment:+.2f} → {now.net_sentiment:+.2f}"]
    terms = _growing_terms(conn, dim, value, hour)
    if terms:
        reasons.append("top terms: " + ", ".join(terms))
    label = "negative" if spike.kind == "negative_share" else None
    posts = st.top_posts(conn, dim, value, hour, end, limit=3, label=label)
    for p in posts:
        reasons.append(f"top post: @{p.author_handle or '?'} ({p.author_followers or 0} followers)")
    severity: Severity = "high" if spike.z >= 10 or spike.ratio >= 5 else "medium"
    top = posts[0] if posts else None
    return AlertSignal(
        kind="trend",
        severity=severity,
        title=title,
        reasons=tuple(reasons),
        rule=value if dim == "rule" else "",
        tags=(value,) if dim == "tag" else (),
        labels={"dimension": dim, "value": value, "spike": spike.kind},
        platform=top.platform if top else "",
        native_id=top.native_id if top else "",
        url=top.url if top else "",
        excerpt=top.text[:280] if top else "",
        observed_at=end,
        fingerprint=f"trend:{spike.kind}:{dim}:{value}:{hour.isoformat()}",
    )


def check_spikes(
    conn: sa.Connection,
    now: datetime,
    sensitivity: Sensitivity = "medium",
    dimensions: Iterable[Dimension] = SPIKE_DIMENSIONS,
) -> list[AlertSignal]:
    """Spike alerts for the last complete hour before ``now``, per active rule and tag."""
    hour = floor(now, "hour") - timedelta(hours=1)
    start = hour - timedelta(hours=HISTORY_HOURS - 1)
    signals = []
    for dim, value in st.active_values(conn, dimensions, hour, hour + timedelta(hours=1)):
        buckets = [
            b for _, b in st.series(conn, "hour", dim, value, start, hour + timedelta(hours=1))
        ]
        volumes = [b.volume for b in buckets]
        negatives = [b.negative for b in buckets]
        for spike in (
            volume_spike(volumes, sensitivity, at=hour),
            negative_share_spike(volumes, negatives, sensitivity, at=hour),
        ):
            if spike is not None:
                signals.append(describe(conn, spike, dim, value, hour))
    return signals


class TrendHook:
    """After-store hook: rollups for every commit, spike alerts once per new hour."""

    def __init__(
        self,
        engine: sa.Engine,
        submit: Callable[[list[AlertSignal]], Awaitable[Any]] | None = None,
        *,
        tags_of: Mapping[str, Sequence[str]] | None = None,
        sensitivity: Sensitivity = "medium",
        backend: SentimentBackend | None = None,
        clock: Clock = utcnow,
        reports: Sequence[ReportSchedule] = (),
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        self.engine = engine
        self.submit = submit
        self.tags_of = dict(tags_of or {})
        self.sensitivity = sensitivity
        self.backend = backend or default_model()
        self.clock = clock
        self.reports = list(reports)
        self.channels = dict(channels or {})
        self.checked: datetime | None = None
        """Start of the hour whose spikes were last checked."""

    def record(
        self,
        posts: Sequence[Post],
        rules: Sequence[Sequence[str]],
        enrichments: Sequence[Enrichment],
    ) -> list[AlertSignal]:
        """Count a committed batch; check spikes if a new hour began. Blocking (database)."""
        sentiments = sentiments_of(posts, enrichments, self.backend)
        # One transaction per slice: each holds the database's write lock for a bounded time,
        # so the store writer and the alert engine get their turn in between.
        for at in range(0, len(posts), RECORD_SLICE):
            end = at + RECORD_SLICE
            with write_transaction(self.engine) as conn:
                st.record(conn, posts[at:end], rules[at:end], sentiments[at:end], self.tags_of)
        hour = floor(self.clock(), "hour")
        if self.checked is not None and hour <= self.checked:
            return []
        self.checked = hour
        with self.engine.connect() as conn:
            return check_spikes(conn, self.clock(), self.sensitivity)

    async def __call__(self, stored: Any) -> None:
        before = self.checked
        rules = [[m.rule for m in ms] for ms in stored.matches]
        signals = await asyncio.to_thread(
            self.record, list(stored.posts), rules, list(stored.enrichments)
        )
        if signals and self.submit is not None:
            await self.submit(signals)
        if self.checked != before:
            await self.send_due_reports(self.clock())

    async def send_due_reports(self, now: datetime) -> None:
        """Send the scheduled reports due in the hour of ``now`` (a failure is logged)."""
        for schedule in self.reports:
            period = due_period(schedule, now)
            if period is None:
                continue
            try:
                await send_report(self.engine, schedule, *period, self.channels)
            except Exception:  # a report must never stop the pipeline
                log.exception("scheduled report %s failed", schedule.name)


def signal_json(signal: AlertSignal) -> bytes:
    """A spike alert as JSON (for ``veille trends check --json``)."""
    return msgspec.json.encode(signal)
