"""The alert engine: applies the pure policy to the store, one transaction per step.

``submit`` turns signals into alerts and queues their notifications in the same transaction;
``tick`` runs the timers (repeat, escalation, auto-resolve); ``claim`` hands due notifications
to the delivery worker with their message frozen; ``delivered``/``failed`` record outcomes.
Operators act through ``acknowledge``, ``resolve``, ``assign``, ``note`` and silences.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from veille.alert import policy, render
from veille.alert.retry import next_attempt_delay
from veille.clock import Clock, utcnow
from veille.config import AlertsSettings
from veille.model import (
    Alert,
    AlertSignal,
    NotificationReason,
    Severity,
    Silence,
    SilenceMatcher,
)
from veille.store import alerts as store
from veille.store.engine import WRITE

MAX_SILENCE = timedelta(days=90)
"""A silence always expires; three months at most, so nobody mutes a rule and forgets it."""


class AlertError(ValueError):
    """An operator action that cannot be done, with the reason in words."""


class Outgoing(msgspec.Struct, frozen=True, kw_only=True):
    """A notification leased to a worker: send ``payload`` to ``receiver`` with this key."""

    id: int
    receiver: str
    idempotency_key: str
    payload: bytes
    attempts: int
    """Failed attempts so far."""
    created_at: datetime


class AlertEngine:
    """The alert engine over one database; safe to share between tasks of one process."""

    def __init__(
        self,
        db: sa.Engine,
        settings: AlertsSettings,
        clock: Clock = utcnow,
        on_due: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.on_due = on_due
        """Called after a step queued a notification that is already due (wakes the worker)."""
        self._receivers = {r.name for r in settings.receivers}

    # --- input ------------------------------------------------------------------------------

    def submit(self, signals: Iterable[AlertSignal]) -> list[Alert]:
        """Turn signals into alerts and queue their notifications, all in one transaction.

        Returns the alerts that are news (new, or more severe than before). Signals below
        ``min_severity`` are ignored; a signal marked ``resolved`` resolves its alert.
        """
        return self._submit(signals, lease=False)[0]

    def submit_and_lease(
        self, signals: Iterable[AlertSignal]
    ) -> tuple[list[Alert], list[Outgoing]]:
        """:meth:`submit`, and in the same transaction lease to the caller the notifications it
        made due at once, composed and frozen as :meth:`claim` would.

        This is the hot path of an urgent alert: the in-process worker sends them right after
        the commit, with no claim transaction (and no wait for the database's write lock) in
        between. Nothing changes for durability: the rows are written, leased as if claimed.
        """
        return self._submit(signals, lease=True)

    def _submit(
        self, signals: Iterable[AlertSignal], *, lease: bool
    ) -> tuple[list[Alert], list[Outgoing]]:
        now = self.clock()
        floor = policy.rank(self.settings.min_severity)
        news: list[Alert] = []
        due: list[int] = []
        leased: list[Outgoing] = []
        with self._write() as conn:
            for raw in signals:
                if not raw.resolved and policy.rank(raw.severity) < floor:
                    continue
                signal = policy.bounded(raw)
                existing = store.active_alert(conn, policy.fingerprint(signal))
                if signal.resolved:
                    if existing is not None:
                        self._resolve(conn, existing, signal.source or "source", now)
                    continue
                if existing is None:
                    alert = policy.new_alert(signal, now)
                    alert = store.insert_alert(
                        conn, alert, policy.escalation_at(alert, self.settings)
                    )
                    store.add_event(
                        conn, alert.id, now, "veille", "created", "; ".join(alert.reasons)
                    )
                else:
                    alert, worse = policy.merge(existing, signal, now)
                    if not worse:
                        store.update_alert(conn, alert)
                        continue
                    store.update_alert(
                        conn, alert, escalate_at=policy.escalation_at(alert, self.settings)
                    )
                    store.add_event(conn, alert.id, now, "veille", "updated", alert.severity)
                news.append(alert)
                due += self._enqueue(conn, alert, now, new=existing is None)
            if lease and due:
                leased = self._lease(conn, due, now)
        if news:
            # the worker looks again: an alert may also have joined a notification already
            # due, or made the next one due sooner than the worker planned to look
            self._wake()
        return news, leased

    def _enqueue(self, conn: Connection, alert: Alert, now: datetime, new: bool) -> list[int]:
        """Add ``alert`` (``new``: created in this transaction) to its groups; open a
        notification where none is waiting.

        Returns the notifications it opened that are due at once."""
        due_now: list[int] = []
        labels = policy.labels_of(alert)
        for target in policy.targets(alert, self.settings):
            key, group_labels = target.group(labels)
            group = store.group_for(
                conn,
                key=key,
                receiver=target.receiver,
                route=target.route,
                labels=group_labels,
                repeat_interval=target.timing.repeat_interval,
                now=now,
            )
            store.add_member(conn, group.id, alert.id, new=new)
            if store.open_notification(conn, group.id) is None:
                due = policy.first_due(group.created_at, group.last_sent_at, now, target.timing)
                nid = store.insert_notification(
                    conn,
                    receiver=target.receiver,
                    reason="group",
                    due_at=due,
                    now=now,
                    group_id=group.id,
                )
                if due <= now:
                    due_now.append(nid)
        return due_now

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite: no lock upgrade halfway)."""
        with self.db.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    def _wake(self) -> None:
        if self.on_due is not None:
            self.on_due()

    # --- timers -----------------------------------------------------------------------------

    def tick(self) -> int:
        """Run the timers due at ``now``: auto-resolve, escalations, repeats.

        Returns how many notifications it queued. Safe to call often and from several
        processes: every step is conditional on the state it changes.
        """
        now = self.clock()
        queued = 0
        with self._write() as conn:
            for alert in store.stale_alerts(conn, now - self.settings.resolve_after):
                self._resolve(conn, alert, "auto", now)
            esc = self.settings.escalation
            for alert in store.due_escalations(conn, now):
                alert.escalated_at = now
                store.update_alert(conn, alert, escalate_at=None)
                who = ", ".join(esc.receivers) if esc else ""
                store.add_event(conn, alert.id, now, "veille", "escalated", who)
                for receiver in esc.receivers if esc else ():
                    store.insert_notification(
                        conn,
                        receiver=receiver,
                        reason="escalation",
                        due_at=now,
                        now=now,
                        alert_id=alert.id,
                    )
                    queued += 1
            for group_id in store.groups_to_repeat(conn, now):
                group = store.lock_group(conn, group_id)
                store.update_group(conn, group_id, repeat_at=None)
                store.insert_notification(
                    conn,
                    receiver=group.receiver,
                    reason="repeat",
                    due_at=now,
                    now=now,
                    group_id=group_id,
                )
                queued += 1
        if queued:
            self._wake()
        return queued

    def next_due(self) -> datetime | None:
        """When the earliest pending notification may be attempted."""
        with self.db.connect() as conn:
            return store.next_due(conn)

    # --- delivery side ----------------------------------------------------------------------

    def claim(self, limit: int = 32) -> list[Outgoing]:
        """Lease due notifications to the caller, composing (and freezing) new ones.

        A notification whose alerts were all acknowledged, resolved, silenced or inhibited in
        the meantime is closed as ``suppressed`` instead of sent.
        """
        now = self.clock()
        # Look first without the write lock: most wake-ups find nothing left to take.
        with self.db.connect() as conn:
            if not store.due_notification_ids(conn, now, 1):
                return []
        with self._write() as conn:
            return self._lease(conn, store.due_notification_ids(conn, now, limit), now)

    def _lease(self, conn: Connection, ids: Iterable[int], now: datetime) -> list[Outgoing]:
        """Lease ``ids`` (those still free) in this transaction; compose the new ones."""
        lease_until = now + self.settings.delivery.lease
        claimed: list[Outgoing] = []
        silences: list[Silence] | None = None
        for nid in ids:
            row = store.lease(conn, nid, now, lease_until)
            if row is None:
                continue
            if row["receiver"] not in self._receivers:
                store.finish(
                    conn,
                    nid,
                    "dead",
                    now,
                    f"receiver {row['receiver']!r} is not configured in [alerts]",
                    attempted=False,
                )
                continue
            body = row["payload"]
            if body is None:
                if silences is None:
                    silences = store.active_silences(conn, now)
                body = self._compose(conn, row, silences, now)
                if body is None:
                    store.finish(conn, nid, "suppressed", now, attempted=False)
                    continue
            claimed.append(
                Outgoing(
                    id=nid,
                    receiver=row["receiver"],
                    idempotency_key=row["idempotency_key"],
                    payload=body,
                    attempts=row["attempts"],
                    created_at=row["created_at"],
                )
            )
        return claimed

    def _compose(
        self,
        conn: Connection,
        row: RowMapping,
        silences: Sequence[Silence],
        now: datetime,
    ) -> bytes | None:
        reason: NotificationReason = row["reason"]
        nid = int(row["id"])
        group_key, group_labels = "", {}
        if reason == "escalation":
            alert = store.get_alert(conn, int(row["alert_id"]))
            candidates = [alert] if alert is not None else []
            kept = self._still_worth_sending(conn, candidates, silences, now)
            firing = len(kept)
        else:
            group = store.lock_group(conn, int(row["group_id"]))
            group_key, group_labels = group.key, group.labels
            candidates = store.members(conn, group.id, pending_only=reason == "group")
            store.clear_pending(conn, group.id, (a.id for a in candidates))
            kept = self._still_worth_sending(conn, candidates, silences, now)
            if not kept:
                if reason == "repeat":
                    store.update_group(conn, group.id, repeat_at=None)
                return None
            store.update_group(
                conn, group.id, last_sent_at=now, repeat_at=now + group.repeat_interval
            )
            firing = store.firing_members(conn, group.id)
        if not kept:
            return None
        body = render.payload(
            notification_id=nid,
            idempotency_key=str(row["idempotency_key"]),
            reason=reason,
            receiver=str(row["receiver"]),
            group_key=group_key,
            group_labels=group_labels,
            alerts=kept,
            firing=firing,
            created_at=now,
            base_url=self.settings.base_url,
        )
        store.freeze(conn, nid, body, [a.id for a in kept], now)
        return body

    def _still_worth_sending(
        self,
        conn: Connection,
        candidates: Sequence[Alert],
        silences: Sequence[Silence],
        now: datetime,
    ) -> list[Alert]:
        """Drop alerts acknowledged, resolved, silenced or inhibited since they were queued."""
        kept: list[Alert] = []
        rules = self.settings.inhibit
        floor: Severity = min(
            (r.source_min_severity for r in rules), key=policy.rank, default="critical"
        )
        for alert in candidates:
            if not policy.notifiable(alert):
                continue
            silence = policy.silenced_by(alert, silences, now)
            if silence is not None:
                store.add_event(
                    conn,
                    alert.id,
                    now,
                    "veille",
                    "silenced",
                    f"silence #{silence.id} by {silence.created_by}: {silence.reason}",
                )
                continue
            if rules:
                scope = (
                    alert.conversation if all("conversation" in r.equal for r in rules) else None
                )
                if scope == "":
                    kept.append(alert)
                    continue
                others = store.firing_at_least(conn, floor, conversation=scope)
                by = policy.inhibited_by(alert, others, rules)
                if by is not None:
                    store.add_event(
                        conn,
                        alert.id,
                        now,
                        "veille",
                        "inhibited",
                        f"muted by alert #{by.id} ({by.severity}): {by.title}",
                    )
                    continue
            kept.append(alert)
        return kept

    def delivered(self, *notification_ids: int) -> None:
        """Record successful deliveries (one transaction): these are never sent again."""
        with self._write() as conn:
            now = self.clock()
            for notification_id in notification_ids:
                store.finish(conn, notification_id, "delivered", now)

    def failed(
        self,
        notification_id: int,
        error: str,
        *,
        retry_after: timedelta | None = None,
        permanent: bool = False,
    ) -> str:
        """Record a failed attempt; schedule a retry or move it to the dead letters.

        Returns the new status: ``"pending"`` (will retry) or ``"dead"``.
        """
        now = self.clock()
        delivery = self.settings.delivery
        with self._write() as conn:
            row = store.notification_row(conn, notification_id)
            attempts = row["attempts"] + 1
            too_old = now - row["created_at"] >= delivery.max_age
            if permanent or attempts >= delivery.max_attempts or too_old:
                why = (
                    "permanent error"
                    if permanent
                    else (
                        f"gave up after {attempts} attempts"
                        if not too_old
                        else f"undelivered after {delivery.max_age}"
                    )
                )
                store.finish(conn, notification_id, "dead", now, f"{why}: {error}")
                return "dead"
            delay = next_attempt_delay(attempts, delivery, retry_after)
            store.reschedule(conn, notification_id, now + delay, error)
            return "pending"

    def requeue(self, notification_id: int, by: str) -> None:
        """Send a dead-lettered notification again (after the receiver was fixed)."""
        with self._write() as conn:
            if not store.requeue(conn, notification_id, self.clock()):
                raise AlertError(f"notification {notification_id} is not a dead letter")
            row = store.notification_row(conn, notification_id)
            for alert_id in row["alert_ids"]:
                store.add_event(
                    conn, alert_id, self.clock(), by, "requeued", f"notification {notification_id}"
                )
        self._wake()

    # --- operators --------------------------------------------------------------------------

    def _get(self, conn: Connection, alert_id: int) -> Alert:
        alert = store.get_alert(conn, alert_id)
        if alert is None:
            raise AlertError(f"no alert with id {alert_id}")
        return alert

    def acknowledge(self, alert_id: int, by: str, note: str = "") -> Alert:
        """Someone is on it: no more repeats or escalation for this alert."""
        by = _actor(by)
        now = self.clock()
        with self._write() as conn:
            alert = self._get(conn, alert_id)
            if alert.status != "firing":
                raise AlertError(f"alert {alert_id} is {alert.status}, not firing")
            alert.status = "acknowledged"
            alert.acknowledged_by, alert.acknowledged_at = by, now
            store.update_alert(conn, alert, escalate_at=None)
            store.add_event(conn, alert_id, now, by, "acknowledged", note)
            return alert

    def resolve(self, alert_id: int, by: str, note: str = "") -> Alert:
        """Close an alert; a later signal with the same fingerprint opens a new one."""
        by = _actor(by)
        now = self.clock()
        with self._write() as conn:
            alert = self._get(conn, alert_id)
            if alert.status == "resolved":
                raise AlertError(f"alert {alert_id} is already resolved")
            alert = self._resolve(conn, alert, by, now, note)
            return alert

    def _resolve(
        self, conn: Connection, alert: Alert, by: str, now: datetime, note: str = ""
    ) -> Alert:
        alert.status = "resolved"
        alert.resolved_by, alert.resolved_at = by, now
        store.update_alert(conn, alert, escalate_at=None)
        store.add_event(conn, alert.id, now, by, "resolved", note)
        return alert

    def assign(self, alert_id: int, assignee: str, by: str) -> Alert:
        by = _actor(by)
        now = self.clock()
        with self._write() as conn:
            alert = self._get(conn, alert_id)
            alert.assignee = assignee.strip()[:200]
            store.update_alert(conn, alert)
            store.add_event(conn, alert_id, now, by, "assigned", alert.assignee)
            return alert

    def note(self, alert_id: int, by: str, text: str) -> None:
        by = _actor(by)
        if not text.strip():
            raise AlertError("a note needs some text")
        with self._write() as conn:
            self._get(conn, alert_id)
            store.add_event(conn, alert_id, self.clock(), by, "note", text.strip())

    def silence(
        self,
        matchers: Mapping[str, str] | Iterable[SilenceMatcher | str],
        *,
        by: str,
        reason: str,
        duration: timedelta | None = None,
        ends_at: datetime | None = None,
        starts_at: datetime | None = None,
    ) -> Silence:
        """Mute alerts satisfying every matcher until it expires.

        ``matchers``: ``{label: value}`` (equality), or matchers and their text
        (``rule=~fr\\..*``, ``platform!=demo`` …)."""
        by = _actor(by)
        now = self.clock()
        clean = _matchers(matchers)
        if not reason.strip():
            raise AlertError("a silence needs a reason")
        start = starts_at or now
        end = ends_at or (start + duration if duration is not None else None)
        if end is None:
            raise AlertError("a silence needs a duration or an end time")
        if end <= max(start, now):
            raise AlertError("a silence must end in the future, after it starts")
        if end - start > MAX_SILENCE:
            raise AlertError(f"a silence lasts at most {MAX_SILENCE.days} days")
        silence = Silence(
            matchers=clean,
            created_by=by,
            reason=reason.strip()[:1000],
            starts_at=start,
            ends_at=end,
        )
        with self._write() as conn:
            return store.insert_silence(conn, silence, now)

    def expire_silence(self, silence_id: int, by: str) -> None:
        with self._write() as conn:
            if not store.expire_silence(conn, silence_id, _actor(by), self.clock()):
                raise AlertError(f"no active silence with id {silence_id}")


def _matchers(
    given: Mapping[str, str] | Iterable[SilenceMatcher | str],
) -> tuple[SilenceMatcher, ...]:
    """The checked matchers of a new silence; ``AlertError`` saying what is wrong."""
    if isinstance(given, Mapping):
        given = [SilenceMatcher(name=str(k).strip(), value=str(v)) for k, v in given.items()]
    try:
        found = tuple(
            m if isinstance(m, SilenceMatcher) else policy.parse_matcher(m) for m in given
        )
        for matcher in found:
            policy.check_matcher(matcher)
    except ValueError as exc:
        raise AlertError(str(exc)) from None
    if not found:
        raise AlertError("a silence needs at least one matcher (label=value)")
    if len(found) > policy.MAX_MATCHERS:
        raise AlertError(f"a silence has at most {policy.MAX_MATCHERS} matchers")
    if all(policy.matches_empty(m) for m in found):
        raise AlertError(
            "a silence must say what it mutes: at least one matcher must need a value "
            f"(these hold even for an alert without the label: {', '.join(m.text for m in found)})"
        )
    return found


def _actor(name: str) -> str:
    name = name.strip()
    if not name:
        raise AlertError("say who you are (--by)")
    return name[:200]
