"""The live sources and what veille is blind to now, from the health ``veille run`` stores.

``veille run`` writes each live source's health every ``[sources] health_every`` seconds
(:mod:`veille.store.source_health`); this reads it in any process. A report older than three
periods means ``veille run`` stopped reporting, which is itself a blind spot.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from veille.sources.configured import Configured, configured
from veille.sources.health import State
from veille.store.source_health import StoredHealth, load_health
from veille.web.api.common import WebDep
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web

router = APIRouter(tags=["sources"])
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW))]
STALE_PERIODS = 3
RECENT_GAPS = timedelta(hours=24)


class GapOut(BaseModel):
    start: datetime
    end: datetime
    reason: str


class SourceOut(BaseModel):
    name: str
    platform: str
    enabled: bool
    """Enabled in this installation's configuration."""
    problem: str = ""
    """What the configuration lacks (credentials, feeds)."""
    state: str
    """``starting``, ``connected``, ``backing off``, ``failing``, ``disabled`` or ``unknown``
    (no report from ``veille run``)."""
    detail: str = ""
    reported_at: datetime | None = None
    stale: bool = False
    """The last report is older than three reporting periods: ``veille run`` is not reporting."""
    last_event_at: datetime | None = None
    events_per_minute: float = 0.0
    lag_seconds: float | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    cursor: str | None = None
    silent: bool = False
    """No event for longer than the source's ``silent_after``."""
    gaps: list[GapOut] = []
    blind: list[str] = []
    """Why veille may be missing posts from this source right now (empty: nothing known)."""


def source_list(web: Web) -> list[SourceOut]:
    """Every configured or reported source, with its health and its blind spots."""
    now = web.clock()
    settings = web.settings.sources
    stored = {s.health.name: s for s in load_health(web.store.engine)}
    out: list[SourceOut] = []
    for entry in configured(settings):
        found = stored.pop(entry.name, None)
        blind: list[str] = []
        if not entry.enabled:
            out.append(
                SourceOut(name=entry.name, platform=entry.platform, enabled=False, state="disabled")
            )
            continue
        if entry.problem:
            blind.append(entry.problem)
        if found is None:
            blind.append("no health report: veille run is not running, or has just started")
            out.append(
                SourceOut(
                    name=entry.name,
                    platform=entry.platform,
                    enabled=True,
                    problem=entry.problem,
                    state="unknown",
                    blind=blind,
                )
            )
            continue
        out.append(_with_health(web, found, now, entry, blind))
    for found in stored.values():  # reported by veille run but no longer configured here
        gone = Configured(found.health.name, found.health.platform, True, "", settings.silent_after)
        out.append(_with_health(web, found, now, gone, []))
    return out


def _with_health(
    web: Web, found: StoredHealth, now: datetime, entry: Configured, blind: list[str]
) -> SourceOut:
    health, reported_at = found.health, found.reported_at
    every = web.settings.sources.health_every
    stale = now - reported_at > timedelta(seconds=STALE_PERIODS * every)
    if stale:
        blind.append(f"last report {reported_at:%Y-%m-%d %H:%M} UTC: veille run stopped reporting")
    if health.state in (State.FAILING, State.BACKING_OFF):
        blind.append(f"{health.state.value}: {health.last_error or health.detail}")
    heard = health.last_event_at or health.since
    silent = (
        health.state is not State.DISABLED and (now - heard).total_seconds() > entry.silent_after
    )
    if silent:
        blind.append(f"no event since {heard:%Y-%m-%d %H:%M} UTC")
    recent = [g for g in health.gaps if now - g.end <= RECENT_GAPS]
    for gap in recent:
        blind.append(f"gap {gap.start:%H:%M}-{gap.end:%H:%M} UTC: {gap.reason}")
    return SourceOut(
        name=health.name,
        platform=health.platform,
        enabled=True,
        problem=entry.problem,
        state=health.state.value,
        detail=health.detail,
        reported_at=reported_at,
        stale=stale,
        last_event_at=health.last_event_at,
        events_per_minute=health.events_per_minute,
        lag_seconds=health.lag_seconds,
        last_error=health.last_error,
        last_error_at=health.last_error_at,
        cursor=health.cursor,
        silent=silent,
        gaps=[GapOut(start=g.start, end=g.end, reason=g.reason) for g in health.gaps],
        blind=blind,
    )


@router.get("/sources", response_model=list[SourceOut])
def list_sources(web: WebDep, who: Viewer) -> list[SourceOut]:
    """The live sources: state, last event, events per minute, lag, last error, cursor, gaps,
    and why veille may be blind to each now."""
    return source_list(web)
