"""The live alert inbox: filters, triage actions, silences, and server-sent events.

The page renders the latest alerts; ``/inbox/stream`` then pushes every change (from the alert
events table) as HTML fragments: ``new`` ones are prepended to the list, ``update`` ones replace
their card in place (htmx out-of-band swap). The SSE ``id`` carries the last event seen and the
alerts added live, so a reconnecting browser neither misses nor duplicates anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from veille.model import SEVERITIES, Alert
from veille.store.inbox import changed_since, last_event
from veille.web.api.alerts import (
    SeverityName,
    SilenceIn,
    Status,
    act,
    alert_detail,
    alert_out,
    create_silence,
    expire,
    list_silences_of,
    list_visible,
    sees_alert,
    visible_alert,
)
from veille.web.api.common import RowRef, decode_cursor
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.pages.render import context, environment, render

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW, page=True))]
Triage = Annotated[Principal, Depends(Require(Permission.TRIAGE, page=True))]

POLL_SECONDS: Final = 1.0
KEEPALIVE_SECONDS: Final = 15.0
STREAM_SECONDS: Final = 600.0
"""A stream closes after this long; the browser reconnects (with Last-Event-ID) at once."""
MAX_LIVE_IDS: Final = 50
STATUSES: Final = ("firing", "acknowledged", "resolved")


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _filters(status: str, severity: str) -> tuple[list[Status], SeverityName]:
    statuses: list[Status] = [status] if status in STATUSES else []  # type: ignore[list-item]
    floor: SeverityName = severity if severity in SEVERITIES else "info"
    return statuses, floor


def _matches_filters(alert: Alert, statuses: list[Status], severity: SeverityName) -> bool:
    rank = SEVERITIES.index
    return (not statuses or alert.status in statuses) and rank(alert.severity) >= rank(severity)


@router.get("/inbox")
def inbox(
    request: Request,
    who: Viewer,
    status: Annotated[str, Query(max_length=16)] = "firing",
    severity: Annotated[str, Query(max_length=16)] = "info",
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    web = _web(request)
    statuses, floor = _filters(status, severity)
    since = last_event(web.store.engine)
    items, nxt = list_visible(
        web,
        who,
        statuses=statuses,
        min_severity=floor,
        kind="",
        offset=decode_cursor(cursor),
        limit=limit,
    )
    return render(
        request,
        "inbox.html",
        title="Inbox",
        alerts=[alert_out(a, who) for a in items],
        status_filter=status if statuses else "all",
        severity=floor,
        next=nxt,
        limit=limit,
        since=since,
        shown=",".join(str(a.id) for a in items),
        silences=list_silences_of(web, False),
    )


def _parse_resume(request: Request, since: int, shown: str) -> tuple[int, set[int]]:
    ids = {int(x) for x in shown.split(",")[:1000] if x.isdigit()}
    resume = request.headers.get("last-event-id", "")
    event, _, live = resume.partition(":")
    if event.isdigit():
        since = int(event)
        ids |= {int(x) for x in live.split(",") if x.isdigit()}
    return since, ids


def _sse(event: str, html: str, event_id: str) -> str:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"id: {event_id}\nevent: {event}\n{data}\n"


@router.get("/inbox/stream")
async def inbox_stream(
    request: Request,
    who: Viewer,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    shown: Annotated[str, Query(max_length=8000, description="Ids of the cards on the page")] = "",
    status: Annotated[str, Query(max_length=16)] = "firing",
    severity: Annotated[str, Query(max_length=16)] = "info",
) -> StreamingResponse:
    """Server-sent events: alert cards as they appear or change."""
    web = _web(request)
    statuses, floor = _filters(status, severity)
    since, known = _parse_resume(request, since, shown)
    template = environment().get_template("_alert.html")
    limit: float = getattr(request.app.state, "stream_seconds", STREAM_SECONDS)

    async def events() -> AsyncIterator[str]:
        nonlocal since
        live: list[int] = []
        started = last_ping = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - started < limit:
            if await request.is_disconnected():
                return
            since, changed = await run_in_threadpool(changed_since, web.store.engine, since)
            for alert in changed:
                if not sees_alert(web, who, alert):
                    continue
                is_new = alert.id not in known
                if is_new and not _matches_filters(alert, statuses, floor):
                    continue
                if is_new:
                    known.add(alert.id)
                    live.append(alert.id)
                    del live[:-MAX_LIVE_IDS]
                html = template.render(context(request, a=alert_out(alert, who), oob=not is_new))
                event_id = f"{since}:{','.join(map(str, live))}"
                yield _sse("new" if is_new else "update", html, event_id)
            if time.monotonic() - last_ping > KEEPALIVE_SECONDS:
                last_ping = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _card(request: Request, who: Principal, alert_id: int) -> Response:
    alert = visible_alert(_web(request), who, alert_id)
    return render(request, "_alert.html", a=alert_out(alert, who), oob=False)


@router.get("/inbox/alerts/{alert_id}")
def alert_page(request: Request, alert_id: RowRef, who: Viewer) -> Response:
    detail = alert_detail(_web(request), who, alert_id)
    return render(request, "alert.html", title="Alert", a=detail, oob=False)


@router.post("/inbox/alerts/{alert_id}/{action}")
def alert_action(
    request: Request,
    alert_id: RowRef,
    action: Literal["acknowledge", "resolve", "assign", "note"],
    who: Triage,
    value: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """A triage button: answers the updated card (htmx) or goes back to the inbox."""
    act(_web(request), who, alert_id, action, value)
    if request.headers.get("hx-request"):
        return _card(request, who, alert_id)
    return RedirectResponse(f"/inbox/alerts/{alert_id}", status_code=303)


@router.post("/inbox/silences")
def silence_form(
    request: Request,
    who: Triage,
    matchers: Annotated[str, Form(max_length=4000)],
    reason: Annotated[str, Form(max_length=1000)],
    hours: Annotated[float, Form(gt=0, le=24 * 90)] = 4,
) -> Response:
    """Create a silence from matcher lines: ``label=value`` (also ``!=``, ``=~``, ``!~``)."""
    lines = [line.strip() for line in matchers.replace(",", "\n").splitlines() if line.strip()]
    if not lines:
        raise ApiError(422, "a silence needs at least one label=value")
    try:
        body = SilenceIn(matchers=lines, reason=reason, hours=hours)
    except ValidationError as exc:
        raise ApiError(422, str(exc.errors()[0]["msg"])) from None
    create_silence(_web(request), who, body)
    return RedirectResponse("/inbox", status_code=303)


@router.post("/inbox/silences/{silence_id}/expire")
def expire_form(request: Request, silence_id: RowRef, who: Triage) -> Response:
    expire(_web(request), who, silence_id)
    return RedirectResponse("/inbox", status_code=303)
