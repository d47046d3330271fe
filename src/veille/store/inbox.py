"""Reads the live inbox needs: which alerts changed since the last look (from alert events).

Every change an operator or the engine makes to an alert writes an ``alert_events`` row, so
"what changed" is "events after the last one seen"; the dashboard polls this cheaply (one
indexed range query) and pushes the changed alerts to browsers over server-sent events.
"""

from __future__ import annotations

import sqlalchemy as sa

from veille.model import Alert
from veille.store.alerts import alert_events, get_alerts


def last_event(engine: sa.Engine) -> int:
    """Id of the newest alert event (0 when there is none)."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.max(alert_events.c.id))).scalar()
    return int(value or 0)


def changed_since(engine: sa.Engine, event_id: int, limit: int = 200) -> tuple[int, list[Alert]]:
    """Alerts with an event after ``event_id`` (oldest change first) and the new last event."""
    e = alert_events.c
    query = sa.select(e.id, e.alert_id).where(e.id > event_id).order_by(e.id).limit(limit)
    with engine.connect() as conn:
        rows = list(conn.execute(query))
        if not rows:
            return event_id, []
        order: dict[int, int] = {}
        for row in rows:
            order.pop(row.alert_id, None)
            order[row.alert_id] = row.id
        found = {a.id: a for a in get_alerts(conn, list(order))}
    return rows[-1].id, [found[i] for i in order if i in found]
