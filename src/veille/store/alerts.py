"""Alert tables and their queries: alerts, groups, the notification outbox, silences, events.

The alert engine decides; this module only reads and writes. Every function takes an open
``Connection`` so the caller chooses the transaction: an alert and its outbox row are written
in the same one.

The statements of the hot path (an urgent alert on its way out) are built once, with bound
parameters: building a SQLAlchemy statement costs five times executing a built one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from veille.model import (
    SEVERITIES,
    Alert,
    AlertStatus,
    Notification,
    NotificationReason,
    NotificationStatus,
    Severity,
    Silence,
    SilenceMatcher,
)
from veille.store.schema import RowId, metadata
from veille.store.types import JSONText, Timestamp

_RANK = {name: i for i, name in enumerate(SEVERITIES)}

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(128), nullable=False, index=True),
    sa.Column("active_fingerprint", sa.String(128), unique=True),
    # NULL once resolved: at most one unresolved alert per fingerprint, in both engines.
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("severity_rank", sa.SmallInteger, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("reasons", JSONText, nullable=False),
    sa.Column("rule", sa.Text, nullable=False, default=""),
    sa.Column("conversation", sa.Text, nullable=False, default="", index=True),
    sa.Column("platform", sa.String(64), nullable=False, default=""),
    sa.Column("native_id", sa.Text, nullable=False, default=""),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("tags", JSONText, nullable=False),
    sa.Column("labels", JSONText, nullable=False),
    sa.Column("url", sa.Text, nullable=False, default=""),
    sa.Column("excerpt", sa.Text, nullable=False, default=""),
    sa.Column("spans", JSONText, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("count", sa.Integer, nullable=False, default=1),
    sa.Column("first_seen", Timestamp, nullable=False),
    sa.Column("last_seen", Timestamp, nullable=False, index=True),
    sa.Column("observed_at", Timestamp),
    sa.Column("acknowledged_by", sa.String(200), nullable=False, default=""),
    sa.Column("acknowledged_at", Timestamp),
    sa.Column("resolved_by", sa.String(200), nullable=False, default=""),
    sa.Column("resolved_at", Timestamp),
    sa.Column("assignee", sa.String(200), nullable=False, default=""),
    sa.Column("escalate_at", Timestamp, index=True),
    sa.Column("escalated_at", Timestamp),
)

alert_groups = sa.Table(
    "alert_groups",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("receiver", sa.String(200), nullable=False),
    sa.Column("route", sa.Integer, nullable=False),
    sa.Column("labels", JSONText, nullable=False),
    sa.Column("repeat_interval_s", sa.Float, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_sent_at", Timestamp),
    sa.Column("repeat_at", Timestamp, index=True),
)

alert_group_members = sa.Table(
    "alert_group_members",
    metadata,
    sa.Column(
        "group_id",
        RowId,
        sa.ForeignKey("alert_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("alert_id", RowId, sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("pending", sa.Boolean, nullable=False),
    # True while the alert is new or changed since the group's last notification.
)

alert_notifications = sa.Table(
    "alert_notifications",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("receiver", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
    sa.Column("group_id", RowId, sa.ForeignKey("alert_groups.id", ondelete="CASCADE")),
    sa.Column("alert_id", RowId, sa.ForeignKey("alerts.id", ondelete="CASCADE")),
    sa.Column("alert_ids", JSONText, nullable=False),
    sa.Column("due_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("frozen_at", Timestamp),
    sa.Column("payload", sa.LargeBinary),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_until", Timestamp),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
    sa.Column("delivered_at", Timestamp),
    sa.Column("dead_at", Timestamp),
    sa.Index("ix_alert_notifications_status_due", "status", "due_at"),
    sa.Index("ix_alert_notifications_group_status", "group_id", "status"),
)

alert_silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("matchers", JSONText, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("starts_at", Timestamp, nullable=False),
    sa.Column("ends_at", Timestamp, nullable=False, index=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expired_by", sa.String(200), nullable=False, default=""),
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column(
        "alert_id",
        RowId,
        sa.ForeignKey("alerts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    # created, updated, acknowledged, resolved, assigned, escalated, note
    sa.Column("text", sa.Text, nullable=False, default=""),
)


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One line of an alert's history: who did what, when (acknowledgements, notes …)."""

    alert_id: int
    at: datetime
    actor: str
    action: str
    text: str = ""


class Group(msgspec.Struct, kw_only=True):
    """A notification group: alerts sharing a receiver and the ``group_by`` label values."""

    id: int
    key: str
    receiver: str
    route: int
    labels: dict[str, str]
    repeat_interval: timedelta
    created_at: datetime
    last_sent_at: datetime | None = None
    repeat_at: datetime | None = None


# --- alerts ---------------------------------------------------------------------------------


def _alert_values(alert: Alert) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "active_fingerprint": None if alert.status == "resolved" else alert.fingerprint,
        "kind": alert.kind,
        "severity": alert.severity,
        "severity_rank": _RANK[alert.severity],
        "title": alert.title,
        "reasons": list(alert.reasons),
        "rule": alert.rule,
        "conversation": alert.conversation,
        "platform": alert.platform,
        "native_id": alert.native_id,
        "source": alert.source,
        "tags": list(alert.tags),
        "labels": dict(alert.labels),
        "url": alert.url,
        "excerpt": alert.excerpt,
        "spans": [list(s) for s in alert.spans],
        "status": alert.status,
        "count": alert.count,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "observed_at": alert.observed_at,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at,
        "assignee": alert.assignee,
        "escalated_at": alert.escalated_at,
    }


def _alert(row: RowMapping) -> Alert:
    return Alert(
        id=row["id"],
        fingerprint=row["fingerprint"],
        kind=row["kind"],
        severity=row["severity"],
        title=row["title"],
        reasons=tuple(row["reasons"]),
        rule=row["rule"],
        conversation=row["conversation"],
        platform=row["platform"],
        native_id=row["native_id"],
        source=row["source"],
        tags=tuple(row["tags"]),
        labels=dict(row["labels"]),
        url=row["url"],
        excerpt=row["excerpt"],
        spans=tuple((int(a), int(b)) for a, b in row["spans"]),
        status=row["status"],
        count=row["count"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        observed_at=row["observed_at"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
        assignee=row["assignee"],
        escalated_at=row["escalated_at"],
    )


_INSERT_ALERT = alerts.insert().returning(alerts.c.id)
_UPDATE_ALERT = alerts.update().where(alerts.c.id == sa.bindparam("b_id"))
_ACTIVE_ALERT = sa.select(alerts).where(alerts.c.active_fingerprint == sa.bindparam("b_fp"))
_GET_ALERT = sa.select(alerts).where(alerts.c.id == sa.bindparam("b_id"))


def insert_alert(conn: Connection, alert: Alert, escalate_at: datetime | None) -> Alert:
    """Store a new alert; returns it with its id."""
    values = _alert_values(alert) | {"escalate_at": escalate_at}
    new_id = conn.execute(_INSERT_ALERT, values).scalar_one()
    return msgspec.structs.replace(alert, id=new_id)


def update_alert(conn: Connection, alert: Alert, **extra: Any) -> None:
    """Write back every field of ``alert`` (and ``extra`` columns such as ``escalate_at``)."""
    conn.execute(_UPDATE_ALERT, _alert_values(alert) | extra | {"b_id": alert.id})


def active_alert(conn: Connection, fingerprint: str) -> Alert | None:
    """The unresolved alert with this fingerprint, if any."""
    row = conn.execute(_ACTIVE_ALERT, {"b_fp": fingerprint}).mappings().first()
    return _alert(row) if row else None


def get_alert(conn: Connection, alert_id: int) -> Alert | None:
    row = conn.execute(_GET_ALERT, {"b_id": alert_id}).mappings().first()
    return _alert(row) if row else None


def get_alerts(conn: Connection, ids: Iterable[int]) -> list[Alert]:
    wanted = list(ids)
    if not wanted:
        return []
    rows = conn.execute(sa.select(alerts).where(alerts.c.id.in_(wanted)).order_by(alerts.c.id))
    return [_alert(r) for r in rows.mappings()]


def list_alerts(
    conn: Connection,
    *,
    statuses: Sequence[AlertStatus] = (),
    min_severity: Severity = "info",
    kind: str = "",
    conversation: str = "",
    limit: int = 100,
    offset: int = 0,
) -> list[Alert]:
    """Alerts newest first, filtered; the inbox of the CLI and the dashboard."""
    query = sa.select(alerts).where(alerts.c.severity_rank >= _RANK[min_severity])
    if statuses:
        query = query.where(alerts.c.status.in_(list(statuses)))
    if kind:
        query = query.where(alerts.c.kind == kind)
    if conversation:
        query = query.where(alerts.c.conversation == conversation)
    query = query.order_by(alerts.c.last_seen.desc(), alerts.c.id.desc())
    rows = conn.execute(query.limit(max(1, min(limit, 10_000))).offset(max(0, offset)))
    return [_alert(r) for r in rows.mappings()]


_FIRING_AT_LEAST = (
    sa.select(alerts)
    .where(
        alerts.c.active_fingerprint.is_not(None),
        alerts.c.severity_rank >= sa.bindparam("b_rank"),
    )
    .limit(sa.bindparam("b_limit"))
)
_FIRING_IN_CONVERSATION = _FIRING_AT_LEAST.where(
    alerts.c.conversation == sa.bindparam("b_conversation")
)


def firing_at_least(
    conn: Connection, severity: Severity, conversation: str | None = None, limit: int = 1000
) -> list[Alert]:
    """Unresolved alerts at ``severity`` or above (optionally in one conversation)."""
    params: dict[str, Any] = {"b_rank": _RANK[severity], "b_limit": limit}
    query = _FIRING_AT_LEAST
    if conversation is not None:
        query = _FIRING_IN_CONVERSATION
        params["b_conversation"] = conversation
    return [_alert(r) for r in conn.execute(query, params).mappings()]


def due_escalations(conn: Connection, now: datetime, limit: int = 500) -> list[Alert]:
    query = (
        sa.select(alerts)
        .where(
            alerts.c.escalate_at <= now,
            alerts.c.status == "firing",
            alerts.c.escalated_at.is_(None),
        )
        .order_by(alerts.c.escalate_at)
        .limit(limit)
    )
    return [_alert(r) for r in conn.execute(query).mappings()]


def stale_alerts(conn: Connection, before: datetime, limit: int = 500) -> list[Alert]:
    """Unresolved alerts not seen since ``before``: candidates for auto-resolution."""
    query = (
        sa.select(alerts)
        .where(alerts.c.active_fingerprint.is_not(None), alerts.c.last_seen <= before)
        .order_by(alerts.c.last_seen)
        .limit(limit)
    )
    return [_alert(r) for r in conn.execute(query).mappings()]


_INSERT_EVENT = alert_events.insert()


def add_event(
    conn: Connection, alert_id: int, at: datetime, actor: str, action: str, text: str = ""
) -> None:
    conn.execute(
        _INSERT_EVENT,
        {
            "alert_id": alert_id,
            "at": at,
            "actor": actor[:200],
            "action": action,
            "text": text[:10_000],
        },
    )


def events(conn: Connection, alert_id: int) -> list[AlertEvent]:
    rows = conn.execute(
        sa.select(alert_events)
        .where(alert_events.c.alert_id == alert_id)
        .order_by(alert_events.c.at, alert_events.c.id)
    )
    return [
        AlertEvent(
            alert_id=r["alert_id"], at=r["at"], actor=r["actor"], action=r["action"], text=r["text"]
        )
        for r in rows.mappings()
    ]


# --- groups ---------------------------------------------------------------------------------


def _group(row: RowMapping) -> Group:
    return Group(
        id=row["id"],
        key=row["key"],
        receiver=row["receiver"],
        route=row["route"],
        labels=dict(row["labels"]),
        repeat_interval=timedelta(seconds=row["repeat_interval_s"]),
        created_at=row["created_at"],
        last_sent_at=row["last_sent_at"],
        repeat_at=row["repeat_at"],
    )


_LOCK_GROUP = (
    sa.select(alert_groups).where(alert_groups.c.id == sa.bindparam("b_id")).with_for_update()
)
_LOCK_GROUP_BY_KEY = (
    sa.select(alert_groups).where(alert_groups.c.key == sa.bindparam("b_key")).with_for_update()
)
_INSERT_GROUP = alert_groups.insert().returning(*alert_groups.c)
_UPDATE_GROUP = alert_groups.update().where(alert_groups.c.id == sa.bindparam("b_id"))


def lock_group(conn: Connection, group_id: int) -> Group:
    """Read a group holding its row lock (PostgreSQL), so a new alert and a flush serialise."""
    return _group(conn.execute(_LOCK_GROUP, {"b_id": group_id}).mappings().one())


def group_for(
    conn: Connection,
    *,
    key: str,
    receiver: str,
    route: int,
    labels: dict[str, str],
    repeat_interval: timedelta,
    now: datetime,
) -> Group:
    """The group with ``key``, created if new; locked for the rest of the transaction."""
    row = conn.execute(_LOCK_GROUP_BY_KEY, {"b_key": key}).mappings().first()
    if row is None:
        values = {
            "key": key,
            "receiver": receiver,
            "route": route,
            "labels": labels,
            "repeat_interval_s": repeat_interval.total_seconds(),
            "created_at": now,
        }
        # A new row is locked by its own insert until the transaction ends.
        row = conn.execute(_INSERT_GROUP, values).mappings().one()
    return _group(row)


def update_group(conn: Connection, group_id: int, **values: Any) -> None:
    conn.execute(_UPDATE_GROUP, values | {"b_id": group_id})


_MEMBER = (
    alert_group_members.c.group_id == sa.bindparam("b_group"),
    alert_group_members.c.alert_id == sa.bindparam("b_alert"),
)
_MARK_MEMBER = alert_group_members.update().where(*_MEMBER).values(pending=True)
_INSERT_MEMBER = alert_group_members.insert()


def add_member(conn: Connection, group_id: int, alert_id: int, *, new: bool = False) -> None:
    """Put an alert in a group, marked as news for the group's next notification.

    ``new``: the alert was created in this transaction, so it is in no group yet."""
    if not new and conn.execute(_MARK_MEMBER, {"b_group": group_id, "b_alert": alert_id}).rowcount:
        return
    conn.execute(_INSERT_MEMBER, {"group_id": group_id, "alert_id": alert_id, "pending": True})


_MEMBERS = (
    sa.select(alerts)
    .join(alert_group_members, alert_group_members.c.alert_id == alerts.c.id)
    .where(alert_group_members.c.group_id == sa.bindparam("b_group"))
    .order_by(alerts.c.id)
)
_PENDING_MEMBERS = _MEMBERS.where(alert_group_members.c.pending.is_(True))
_ACTIVE_MEMBERS = _MEMBERS.where(alerts.c.active_fingerprint.is_not(None))
_FIRING_MEMBERS = (
    sa.select(sa.func.count())
    .select_from(alert_group_members.join(alerts, alert_group_members.c.alert_id == alerts.c.id))
    .where(alert_group_members.c.group_id == sa.bindparam("b_group"), alerts.c.status == "firing")
)
_CLEAR_PENDING = (
    alert_group_members.update()
    .where(
        alert_group_members.c.group_id == sa.bindparam("b_group"),
        alert_group_members.c.alert_id.in_(sa.bindparam("b_alerts", expanding=True)),
    )
    .values(pending=False)
)


def members(conn: Connection, group_id: int, *, pending_only: bool) -> list[Alert]:
    """The group's alerts: those new since its last notification, or all unresolved ones."""
    query = _PENDING_MEMBERS if pending_only else _ACTIVE_MEMBERS
    return [_alert(r) for r in conn.execute(query, {"b_group": group_id}).mappings()]


def firing_members(conn: Connection, group_id: int) -> int:
    """How many of the group's alerts are firing (not acknowledged, not resolved)."""
    return int(conn.execute(_FIRING_MEMBERS, {"b_group": group_id}).scalar_one())


def clear_pending(conn: Connection, group_id: int, alert_ids: Iterable[int]) -> None:
    ids = list(alert_ids)
    if ids:
        conn.execute(_CLEAR_PENDING, {"b_group": group_id, "b_alerts": ids})


def groups_to_repeat(conn: Connection, now: datetime, limit: int = 500) -> list[int]:
    """Groups whose repeat time has come and that have no notification waiting already."""
    waiting = (
        sa.select(alert_notifications.c.id)
        .where(
            alert_notifications.c.group_id == alert_groups.c.id,
            alert_notifications.c.status == "pending",
        )
        .exists()
    )
    query = (
        sa.select(alert_groups.c.id)
        .where(alert_groups.c.repeat_at <= now, ~waiting)
        .order_by(alert_groups.c.repeat_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


# --- notifications (the outbox) --------------------------------------------------------------


def _notification(row: RowMapping, group_key: str = "") -> Notification:
    return Notification(
        id=row["id"],
        receiver=row["receiver"],
        reason=row["reason"],
        status=row["status"],
        idempotency_key=row["idempotency_key"],
        due_at=row["due_at"],
        created_at=row["created_at"],
        group_key=group_key,
        alert_ids=tuple(row["alert_ids"]),
        payload=row["payload"] or b"",
        attempts=row["attempts"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )


_INSERT_NOTIFICATION = alert_notifications.insert().returning(alert_notifications.c.id)


def insert_notification(
    conn: Connection,
    *,
    receiver: str,
    reason: NotificationReason,
    due_at: datetime,
    now: datetime,
    group_id: int | None = None,
    alert_id: int | None = None,
) -> int:
    """Queue one message for ``receiver``; it is rendered when first attempted."""
    values = {
        "receiver": receiver,
        "reason": reason,
        "status": "pending",
        "idempotency_key": uuid.uuid4().hex,
        "group_id": group_id,
        "alert_id": alert_id,
        "alert_ids": [alert_id] if alert_id is not None else [],
        "due_at": due_at,
        "created_at": now,
        "attempts": 0,
        "last_error": "",
    }
    return int(conn.execute(_INSERT_NOTIFICATION, values).scalar_one())


_OPEN_NOTIFICATION = sa.select(alert_notifications.c.id).where(
    alert_notifications.c.group_id == sa.bindparam("b_group"),
    alert_notifications.c.status == "pending",
    alert_notifications.c.frozen_at.is_(None),
)


def open_notification(conn: Connection, group_id: int) -> int | None:
    """The group's notification still waiting for its first attempt (new alerts join it)."""
    return conn.execute(_OPEN_NOTIFICATION, {"b_group": group_id}).scalar()


_FREE = sa.or_(
    alert_notifications.c.lease_until.is_(None),
    alert_notifications.c.lease_until <= sa.bindparam("b_now"),
)
_DUE_IDS = (
    sa.select(alert_notifications.c.id)
    .where(
        alert_notifications.c.status == "pending",
        alert_notifications.c.due_at <= sa.bindparam("b_now"),
        _FREE,
    )
    .order_by(alert_notifications.c.due_at, alert_notifications.c.id)
    .limit(sa.bindparam("b_limit"))
)


def due_notification_ids(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Pending notifications due at ``now`` that no worker holds, oldest first."""
    return list(conn.execute(_DUE_IDS, {"b_now": now, "b_limit": limit}).scalars())


def next_due(conn: Connection) -> datetime | None:
    """The earliest time a pending notification may be attempted (a held lease delays it)."""
    n = alert_notifications.c
    when = sa.case((n.lease_until > n.due_at, n.lease_until), else_=n.due_at)
    earliest = sa.type_coerce(sa.func.min(when), Timestamp)
    return conn.execute(sa.select(earliest).where(n.status == "pending")).scalar()


_LEASE = (
    alert_notifications.update()
    .where(
        alert_notifications.c.id == sa.bindparam("b_id"),
        alert_notifications.c.status == "pending",
        _FREE,
    )
    .values(lease_until=sa.bindparam("b_until"))
    .returning(*alert_notifications.c)
)
_NOTIFICATION = sa.select(alert_notifications).where(
    alert_notifications.c.id == sa.bindparam("b_id")
)


def lease(
    conn: Connection, notification_id: int, now: datetime, until: datetime
) -> RowMapping | None:
    """Take a due notification for sending: its row, or ``None`` when another worker holds it."""
    params = {"b_id": notification_id, "b_now": now, "b_until": until}
    return conn.execute(_LEASE, params).mappings().first()


def notification_row(conn: Connection, notification_id: int) -> RowMapping:
    return conn.execute(_NOTIFICATION, {"b_id": notification_id}).mappings().one()


def get_notification(conn: Connection, notification_id: int) -> Notification | None:
    row = (
        conn.execute(
            sa.select(alert_notifications, alert_groups.c.key)
            .outerjoin(alert_groups, alert_groups.c.id == alert_notifications.c.group_id)
            .where(alert_notifications.c.id == notification_id)
        )
        .mappings()
        .first()
    )
    return _notification(row, row["key"] or "") if row else None


_UPDATE_NOTIFICATION = alert_notifications.update().where(
    alert_notifications.c.id == sa.bindparam("b_id")
)
_FINISH_ATTEMPTED = _UPDATE_NOTIFICATION.values(attempts=alert_notifications.c.attempts + 1)


def freeze(
    conn: Connection, notification_id: int, payload: bytes, alert_ids: Sequence[int], now: datetime
) -> None:
    """Fix the message body at the first attempt: every retry sends exactly these bytes."""
    values = {"payload": payload, "alert_ids": list(alert_ids), "frozen_at": now}
    conn.execute(_UPDATE_NOTIFICATION, values | {"b_id": notification_id})


def finish(
    conn: Connection,
    notification_id: int,
    status: NotificationStatus,
    now: datetime,
    error: str = "",
    attempted: bool = True,
) -> None:
    """Close a notification: delivered, dead-lettered or suppressed (nothing left to say)."""
    values: dict[str, Any] = {
        "b_id": notification_id,
        "status": status,
        "lease_until": None,
        "last_error": error[:2000],
    }
    if status == "delivered":
        values["delivered_at"] = now
    elif status == "dead":
        values["dead_at"] = now
    conn.execute(_FINISH_ATTEMPTED if attempted else _UPDATE_NOTIFICATION, values)


def reschedule(conn: Connection, notification_id: int, due_at: datetime, error: str) -> None:
    """Record a failed attempt and when to try again."""
    conn.execute(
        alert_notifications.update()
        .where(alert_notifications.c.id == notification_id)
        .values(
            attempts=alert_notifications.c.attempts + 1,
            due_at=due_at,
            lease_until=None,
            last_error=error[:2000],
        )
    )


def requeue(conn: Connection, notification_id: int, now: datetime) -> bool:
    """Give a dead letter another round of attempts (an operator fixed the receiver)."""
    return bool(
        conn.execute(
            alert_notifications.update()
            .where(
                alert_notifications.c.id == notification_id,
                alert_notifications.c.status == "dead",
            )
            .values(status="pending", attempts=0, due_at=now, dead_at=None, lease_until=None)
        ).rowcount
    )


def list_notifications(
    conn: Connection,
    *,
    statuses: Sequence[NotificationStatus] = (),
    alert_id: int | None = None,
    limit: int = 100,
) -> list[Notification]:
    """Outbox rows newest first; ``statuses=("dead",)`` is the dead-letter view."""
    query = sa.select(alert_notifications, alert_groups.c.key).outerjoin(
        alert_groups, alert_groups.c.id == alert_notifications.c.group_id
    )
    if statuses:
        query = query.where(alert_notifications.c.status.in_(list(statuses)))
    rows = conn.execute(
        query.order_by(alert_notifications.c.id.desc()).limit(max(1, min(limit, 10_000)))
    ).mappings()
    found = [_notification(r, r["key"] or "") for r in rows]
    if alert_id is not None:
        found = [n for n in found if alert_id in n.alert_ids]
    return found


# --- silences -------------------------------------------------------------------------------


def _matchers(stored: Any) -> tuple[SilenceMatcher, ...]:
    # a {label: value} object: equality matchers (how the first silences were written)
    if isinstance(stored, dict):
        return tuple(SilenceMatcher(name=k, value=v) for k, v in stored.items())
    return tuple(SilenceMatcher(name=m["name"], op=m["op"], value=m["value"]) for m in stored)


def _silence(row: RowMapping) -> Silence:
    return Silence(
        id=row["id"],
        matchers=_matchers(row["matchers"]),
        created_by=row["created_by"],
        reason=row["reason"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_at=row["created_at"],
        expired_by=row["expired_by"],
    )


def insert_silence(conn: Connection, silence: Silence, now: datetime) -> Silence:
    new_id = conn.execute(
        alert_silences.insert()
        .values(
            matchers=[msgspec.structs.asdict(m) for m in silence.matchers],
            created_by=silence.created_by,
            reason=silence.reason,
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_at=now,
            expired_by="",
        )
        .returning(alert_silences.c.id)
    ).scalar_one()
    return msgspec.structs.replace(silence, id=new_id, created_at=now)


_ACTIVE_SILENCES = (
    sa.select(alert_silences)
    .where(
        alert_silences.c.starts_at <= sa.bindparam("b_now"),
        alert_silences.c.ends_at > sa.bindparam("b_now"),
    )
    .order_by(alert_silences.c.id)
)


def active_silences(conn: Connection, now: datetime) -> list[Silence]:
    return [_silence(r) for r in conn.execute(_ACTIVE_SILENCES, {"b_now": now}).mappings()]


def list_silences(conn: Connection, *, include_expired: bool, now: datetime) -> list[Silence]:
    query = sa.select(alert_silences).order_by(alert_silences.c.id.desc())
    if not include_expired:
        query = query.where(alert_silences.c.ends_at > now)
    return [_silence(r) for r in conn.execute(query.limit(1000)).mappings()]


def expire_silence(conn: Connection, silence_id: int, by: str, now: datetime) -> bool:
    return bool(
        conn.execute(
            alert_silences.update()
            .where(alert_silences.c.id == silence_id, alert_silences.c.ends_at > now)
            .values(ends_at=now, expired_by=by[:200])
        ).rowcount
    )
