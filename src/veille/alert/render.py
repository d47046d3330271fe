"""What a notification says: the webhook JSON body (schema in docs/alerting.md) and its text.

A message names what matched and why, and links to the conversation in the dashboard. Post
text is data: it travels as JSON strings and is never interpreted as markup by veille.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from veille.alert.policy import rank
from veille.model import Alert, NotificationReason

SCHEMA_VERSION = 1
MAX_ALERTS_IN_MESSAGE = 50
"""A message lists at most this many alerts; the rest are counted, so no window floods a phone."""


def conversation_link(base_url: str, conversation: str) -> str:
    """The dashboard page of a conversation."""
    return f"{base_url.rstrip('/')}/conversations/{quote(conversation, safe='')}"


def alert_link(base_url: str, alert_id: int) -> str:
    """The dashboard page of an alert (its history, acknowledgement, notes)."""
    return f"{base_url.rstrip('/')}/alerts/{alert_id}"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def alert_json(alert: Alert, base_url: str) -> dict[str, Any]:
    """One alert as it appears in the webhook body."""
    links = {"alert": alert_link(base_url, alert.id)}
    if alert.conversation:
        links["conversation"] = conversation_link(base_url, alert.conversation)
    if alert.url:
        links["post"] = alert.url
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "reasons": list(alert.reasons),
        "rule": alert.rule,
        "conversation": alert.conversation,
        "post": {"platform": alert.platform, "native_id": alert.native_id, "url": alert.url},
        "source": alert.source,
        "tags": list(alert.tags),
        "labels": dict(alert.labels),
        "excerpt": alert.excerpt,
        "spans": [list(s) for s in alert.spans],
        "count": alert.count,
        "first_seen": _time(alert.first_seen),
        "last_seen": _time(alert.last_seen),
        "observed_at": _time(alert.observed_at),
        "links": links,
    }


def headline(alerts: Sequence[Alert], reason: NotificationReason, total: int) -> str:
    """The subject line: severity, what, how many."""
    top = max(alerts, key=lambda a: rank(a.severity))
    prefix = {"group": "", "repeat": "Still firing: ", "escalation": "ESCALATION, unacknowledged: "}
    more = f" (+{total - 1} more)" if total > 1 else ""
    return f"[{top.severity.upper()}] {prefix[reason]}{top.title}{more}"


def body_text(alerts: Sequence[Alert], base_url: str, total: int) -> str:
    """A plain-text body for chat and e-mail channels: what matched, why, where to look."""
    lines: list[str] = []
    for alert in alerts:
        lines.append(f"- [{alert.severity}] {alert.title}")
        if alert.reasons:
            lines.append(f"  why: {'; '.join(alert.reasons)}")
        if alert.rule:
            lines.append(f"  rule: {alert.rule}")
        if alert.excerpt:
            lines.append(f"  text: {alert.excerpt[:280]}")
        if alert.conversation:
            lines.append(f"  conversation: {conversation_link(base_url, alert.conversation)}")
        lines.append(f"  alert: {alert_link(base_url, alert.id)}")
    if total > len(alerts):
        lines.append(f"… and {total - len(alerts)} more alerts in this group.")
    return "\n".join(lines)


def payload(
    *,
    notification_id: int,
    idempotency_key: str,
    reason: NotificationReason,
    receiver: str,
    group_key: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[Alert],
    firing: int,
    created_at: datetime,
    base_url: str,
) -> bytes:
    """The JSON body of one notification (schema version 1, see docs/alerting.md)."""
    shown = list(alerts[:MAX_ALERTS_IN_MESSAGE])
    body = {
        "version": SCHEMA_VERSION,
        "id": notification_id,
        "idempotency_key": idempotency_key,
        "reason": reason,
        "receiver": receiver,
        "group": {"key": group_key, "labels": dict(group_labels)},
        "title": headline(alerts, reason, len(alerts)),
        "text": body_text(shown, base_url, len(alerts)),
        "alerts": [alert_json(a, base_url) for a in shown],
        "truncated": len(alerts) - len(shown),
        "counts": {"in_message": len(alerts), "firing_in_group": firing},
        "created_at": _time(created_at),
    }
    return orjson.dumps(body)
