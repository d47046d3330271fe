"""Alerts and silences: the inbox's data and the triage actions (all audited).

An alert is visible when its rule is (alerts without a rule — a silent source — are visible
to everyone who may view). Actions go through the alert engine, which records them on the
alert's history; the audit log gets them too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from veille.alert.engine import AlertEngine, AlertError
from veille.model import Alert, Silence
from veille.store import alerts as alert_store
from veille.web.api.common import Cursor, Limit, RowRef, WebDep, decode_cursor, filtered_page
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.schemas import Page, safe_url, segments

router = APIRouter(tags=["alerts"])
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW))]
Triage = Annotated[Principal, Depends(Require(Permission.TRIAGE))]

Status = Literal["firing", "acknowledged", "resolved"]
SeverityName = Literal["info", "low", "medium", "high", "critical"]


class AlertOut(BaseModel):
    id: int
    kind: str
    severity: SeverityName
    title: str
    reasons: list[str]
    rule: str = ""
    conversation: str = ""
    platform: str = ""
    native_id: str = ""
    source: str = ""
    tags: list[str] = []
    url: str | None = None
    excerpt: str = ""
    segments: list[tuple[str, bool]] = []
    status: Status
    count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    resolved_by: str = ""
    resolved_at: datetime | None = None
    assignee: str = ""
    escalated_at: datetime | None = None


class AlertEventOut(BaseModel):
    at: datetime
    actor: str
    action: str
    text: str = ""


class AlertDetail(AlertOut):
    events: list[AlertEventOut] = []


class NoteIn(BaseModel):
    note: str = Field("", max_length=10_000)


class AssignIn(BaseModel):
    assignee: str = Field(..., max_length=200)


class TextIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=10_000)


class SilenceIn(BaseModel):
    matchers: dict[str, str] | list[str] = Field(
        ...,
        min_length=1,
        max_length=20,
        description='Label → value, e.g. {"rule": "fr.manif"}; or matchers as written, e.g. '
        '["rule=~fr\\\\..*", "platform!=demo"] (=, !=, =~ and !~ with an RE2 expression)',
    )
    reason: str = Field(..., min_length=1, max_length=1000)
    hours: float = Field(4, gt=0, le=24 * 90)


class SilenceOut(BaseModel):
    id: int
    matchers: list[str]
    """As written: ``rule=fr.manif``, ``rule=~fr\\..*``, ``platform!=demo``."""
    created_by: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    expired_by: str = ""


def engine_of(web: Web) -> AlertEngine:
    engine = web.extras.get("alerts")
    if engine is None:
        engine = AlertEngine(web.store.engine, web.settings.alerts, web.clock)
        web.extras["alerts"] = engine
    assert isinstance(engine, AlertEngine)
    return engine


def sees_alert(web: Web, who: Principal, alert: Alert) -> bool:
    if who.scope.everything or not alert.rule:
        return True
    tags = web.rulebook.tags().get(alert.rule, alert.tags)
    return who.scope.sees_rule(alert.rule, tags)


def alert_out(alert: Alert, who: Principal) -> AlertOut:
    url = None if who.scope.pseudonymous else safe_url(alert.url)
    return AlertOut(
        id=alert.id,
        kind=alert.kind,
        severity=alert.severity,
        title=alert.title,
        reasons=list(alert.reasons),
        rule=alert.rule,
        conversation=alert.conversation,
        platform=alert.platform,
        native_id=alert.native_id,
        source=alert.source,
        tags=list(alert.tags),
        url=url,
        excerpt=alert.excerpt,
        segments=segments(alert.excerpt, alert.spans),
        status=alert.status,
        count=alert.count,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        resolved_by=alert.resolved_by,
        resolved_at=alert.resolved_at,
        assignee=alert.assignee,
        escalated_at=alert.escalated_at,
    )


def list_visible(
    web: Web,
    who: Principal,
    *,
    statuses: list[Status],
    min_severity: SeverityName,
    kind: str,
    offset: int,
    limit: int,
) -> tuple[list[Alert], str | None]:
    def fetch(n: int) -> list[Alert]:
        with web.store.engine.connect() as conn:
            return alert_store.list_alerts(
                conn, statuses=statuses, min_severity=min_severity, kind=kind, limit=n
            )

    return filtered_page(fetch, lambda a: sees_alert(web, who, a), offset, limit)


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    web: WebDep,
    who: Viewer,
    status: Annotated[list[Status] | None, Query(description="Repeatable")] = None,
    min_severity: SeverityName = "info",
    kind: Annotated[Literal["rule", "urgent", "trend", "source"] | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AlertOut]:
    """Alerts you may see, most recent first."""
    items, nxt = list_visible(
        web,
        who,
        statuses=status or [],
        min_severity=min_severity,
        kind=kind or "",
        offset=decode_cursor(cursor),
        limit=limit,
    )
    return Page(items=[alert_out(a, who) for a in items], next=nxt)


def visible_alert(web: Web, who: Principal, alert_id: int) -> Alert:
    with web.store.engine.connect() as conn:
        alert = alert_store.get_alert(conn, alert_id)
    if alert is None or not sees_alert(web, who, alert):
        raise ApiError(404, f"no alert {alert_id}")
    return alert


def alert_detail(web: Web, who: Principal, alert_id: int) -> AlertDetail:
    alert = visible_alert(web, who, alert_id)
    with web.store.engine.connect() as conn:
        events = alert_store.events(conn, alert_id)
    return AlertDetail(
        **alert_out(alert, who).model_dump(),
        events=[
            AlertEventOut(at=e.at, actor=e.actor, action=e.action, text=e.text) for e in events
        ],
    )


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def get_alert(alert_id: RowRef, web: WebDep, who: Viewer) -> AlertDetail:
    """One alert with its history (who acknowledged, assigned, noted what, when)."""
    return alert_detail(web, who, alert_id)


Action = Literal["acknowledge", "resolve", "assign", "note"]


def act(web: Web, who: Principal, alert_id: int, action: Action, value: str = "") -> Alert:
    """Run a triage action on a visible alert, audited; 409 when the state forbids it."""
    visible_alert(web, who, alert_id)
    engine = engine_of(web)
    try:
        if action == "acknowledge":
            alert = engine.acknowledge(alert_id, who.actor, value)
        elif action == "resolve":
            alert = engine.resolve(alert_id, who.actor, value)
        elif action == "assign":
            alert = engine.assign(alert_id, value, who.actor)
        else:
            engine.note(alert_id, who.actor, value)
            alert = visible_alert(web, who, alert_id)
    except AlertError as exc:
        raise ApiError(409 if "is " in str(exc) else 422, str(exc)) from None
    web.record(who, f"alert.{action}", f"alert {alert_id}", reason=value[:2000])
    return alert


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: RowRef, body: NoteIn, web: WebDep, who: Triage) -> AlertOut:
    """Someone is on it: stops repeats and escalation."""
    return alert_out(act(web, who, alert_id, "acknowledge", body.note), who)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(alert_id: RowRef, body: NoteIn, web: WebDep, who: Triage) -> AlertOut:
    return alert_out(act(web, who, alert_id, "resolve", body.note), who)


@router.post("/alerts/{alert_id}/assign", response_model=AlertOut)
def assign(alert_id: RowRef, body: AssignIn, web: WebDep, who: Triage) -> AlertOut:
    """Give the alert to someone (empty: unassign)."""
    return alert_out(act(web, who, alert_id, "assign", body.assignee), who)


@router.post("/alerts/{alert_id}/notes", response_model=AlertOut, status_code=201)
def add_note(alert_id: RowRef, body: TextIn, web: WebDep, who: Triage) -> AlertOut:
    return alert_out(act(web, who, alert_id, "note", body.text), who)


def silence_out(s: Silence) -> SilenceOut:
    return SilenceOut(
        id=s.id,
        matchers=[m.text for m in s.matchers],
        created_by=s.created_by,
        reason=s.reason,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        expired_by=s.expired_by,
    )


def list_silences_of(web: Web, include_expired: bool) -> list[Silence]:
    with web.store.engine.connect() as conn:
        return alert_store.list_silences(conn, include_expired=include_expired, now=web.clock())


@router.get("/silences", response_model=list[SilenceOut], tags=["silences"])
def list_silences(web: WebDep, who: Viewer, include_expired: bool = False) -> list[SilenceOut]:
    """Active silences (and expired ones on request)."""
    return [silence_out(s) for s in list_silences_of(web, include_expired)]


def create_silence(web: Web, who: Principal, body: SilenceIn) -> Silence:
    try:
        silence = engine_of(web).silence(
            body.matchers, by=who.actor, reason=body.reason, duration=timedelta(hours=body.hours)
        )
    except AlertError as exc:
        raise ApiError(422, str(exc)) from None
    web.record(
        who,
        "silence.create",
        f"silence {silence.id}",
        reason=body.reason,
        matchers=[m.text for m in silence.matchers],
        hours=body.hours,
    )
    return silence


@router.post("/silences", response_model=SilenceOut, status_code=201, tags=["silences"])
def add_silence(body: SilenceIn, web: WebDep, who: Triage) -> SilenceOut:
    """Mute alerts whose labels equal every matcher, for a while, with a reason."""
    return silence_out(create_silence(web, who, body))


def expire(web: Web, who: Principal, silence_id: int) -> None:
    try:
        engine_of(web).expire_silence(silence_id, who.actor)
    except AlertError as exc:
        raise ApiError(404, str(exc)) from None
    web.record(who, "silence.expire", f"silence {silence_id}")


@router.delete("/silences/{silence_id}", status_code=204, tags=["silences"])
def expire_silence(silence_id: RowRef, web: WebDep, who: Triage) -> None:
    """End a silence now."""
    expire(web, who, silence_id)
