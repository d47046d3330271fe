"""``veille alerts``: the alert inbox from the terminal — list, show, acknowledge, resolve,
assign, note, silence, dead letters — plus ``check`` for the ``[alerts]`` configuration and
``deliver`` to run the delivery worker on its own.

Alert titles and excerpts come from posts: they are printed as plain text with control
characters made visible, never as markup.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import signal as signals
from datetime import timedelta
from typing import Any

import click
import pydantic
from rich.console import Console
from rich.table import Table
from rich.text import Text

from veille.alert.engine import AlertEngine, AlertError
from veille.alert.policy import parse_matcher
from veille.config import Settings, load_settings, parse_duration
from veille.model import SEVERITIES, AlertStatus
from veille.store import alerts as store
from veille.store import create_engine
from veille.store.audit import AuditLog
from veille.store.migrate import ensure_current

STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def _settings() -> Settings:
    try:
        return load_settings()
    except pydantic.ValidationError as exc:
        raise click.ClickException(f"veille.toml: {exc}") from None


def _engine(settings: Settings) -> AlertEngine:
    db = create_engine(settings.store.url, synchronous=settings.store.synchronous)
    ensure_current(db)
    return AlertEngine(db, settings.alerts)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _me() -> str:
    return os.environ.get("VEILLE_USER") or _os_user()


def _audit(
    engine: AlertEngine, by: str, action: str, target: str, reason: str = "", **detail: Any
) -> None:
    """Write the act to the audit log, as the dashboard does for the same act: ``by`` is the
    actor, and the OS account that ran the command is kept beside it."""
    AuditLog(engine.db).append(
        by,
        action,
        target,
        reason=reason,
        detail={"via": "cli", "os_user": _os_user(), **detail},
    )


def _plain(text: str, limit: int = 200) -> Text:
    from veille.cli.rules import visible

    shown = visible(text)
    return Text(shown if len(shown) <= limit else shown[: limit - 1] + "…")


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def alerts() -> None:
    """The alert inbox: list, acknowledge, silence and resolve (docs/alerting.md)."""


@alerts.command("check")
@click.option("--config", "path", type=click.Path(dir_okay=False), help="Default: veille.toml.")
def check_cmd(path: str | None) -> None:
    """Validate the [alerts] section: receivers, routes, secrets, Apprise URLs."""
    from veille.alert.checks import check

    try:
        settings = load_settings(path)
    except pydantic.ValidationError as exc:
        raise click.ClickException(f"{path or 'veille.toml'}: {exc}") from None
    problems, notes = check(settings.alerts)
    for line in notes:
        click.echo(line)
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo("alerts configuration OK")


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True, help="Resolved alerts too.")
@click.option("--severity", type=click.Choice(SEVERITIES), default="info", help="At least this.")
@click.option("--kind", type=click.Choice(["rule", "urgent", "trend", "source"]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def list_cmd(show_all: bool, severity: str, kind: str | None, limit: int) -> None:
    """Open alerts, newest first."""
    engine = _engine(_settings())
    statuses: tuple[AlertStatus, ...] = () if show_all else ("firing", "acknowledged")
    with engine.db.connect() as conn:
        found = store.list_alerts(
            conn,
            statuses=statuses,
            min_severity=severity,  # type: ignore[arg-type]
            kind=kind or "",
            limit=limit,
        )
    table = Table(box=None)
    for column in ("id", "severity", "status", "kind", "title", "conversation", "count", "last"):
        table.add_column(column)
    for a in found:
        table.add_row(
            str(a.id),
            Text(a.severity, style=STYLE[a.severity]),
            a.status + (f" ({a.acknowledged_by})" if a.acknowledged_by else ""),
            a.kind,
            _plain(a.title, 60),
            _plain(a.conversation, 40),
            str(a.count),
            a.last_seen.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table if found else "no alerts")


@alerts.command("show")
@click.argument("alert_id", type=int)
def show_cmd(alert_id: int) -> None:
    """One alert: why it fired, its text, its history and its notifications."""
    engine = _engine(_settings())
    with engine.db.connect() as conn:
        a = store.get_alert(conn, alert_id)
        if a is None:
            raise click.ClickException(f"no alert with id {alert_id}")
        history = store.events(conn, alert_id)
        sent = store.list_notifications(conn, alert_id=alert_id, limit=1000)
    console = Console()
    console.print(Text(f"#{a.id} [{a.severity}] ", style=STYLE[a.severity]) + _plain(a.title))
    console.print(Text(f"status: {a.status}   kind: {a.kind}   rule: {a.rule}   seen {a.count}×"))
    for reason in a.reasons:
        console.print(Text("why: ") + _plain(reason))
    if a.conversation:
        console.print(Text("conversation: ") + _plain(a.conversation))
    if a.url:
        console.print(Text("post: ") + _plain(a.url))
    if a.excerpt:
        console.print(Text("text: ") + _plain(a.excerpt, 1000))
    for e in history:
        line = f"{e.at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action}"
        console.print(Text(line + " ") + _plain(e.text))
    for n in sent:
        err = f" — {n.last_error}" if n.last_error else ""
        console.print(
            Text(f"notification {n.id} → {n.receiver}: {n.status}, {n.attempts} attempt(s){err}")
        )


def _act(action: str, alert_id: int, by: str, note: str, reason: str) -> None:
    engine = _engine(_settings())
    try:
        getattr(engine, action)(alert_id, by=by, note=note)
    except AlertError as exc:
        raise _fail(exc) from None
    _audit(engine, by, f"alert.{action}", f"alert {alert_id}", reason or note)


by_option = click.option(
    "--as",
    "--by",
    "by",
    default=_me,
    show_default="$VEILLE_USER or your login name",
    help="Who does it, as the alert history and the audit log record it.",
)
reason_option = click.option("--reason", default="", help="Why, for the audit log.")


@alerts.command("ack")
@click.argument("alert_id", type=int)
@by_option
@click.option("--note", default="", help="Why, or what happens next.")
@reason_option
def ack_cmd(alert_id: int, by: str, note: str, reason: str) -> None:
    """Acknowledge: someone is on it (stops repeats and escalation)."""
    _act("acknowledge", alert_id, by, note, reason)
    click.echo(f"alert {alert_id} acknowledged by {by}")


@alerts.command("resolve")
@click.argument("alert_id", type=int)
@by_option
@click.option("--note", default="", help="What was done.")
@reason_option
def resolve_cmd(alert_id: int, by: str, note: str, reason: str) -> None:
    """Resolve: the matter is closed."""
    _act("resolve", alert_id, by, note, reason)
    click.echo(f"alert {alert_id} resolved by {by}")


@alerts.command("assign")
@click.argument("alert_id", type=int)
@click.argument("assignee")
@by_option
@reason_option
def assign_cmd(alert_id: int, assignee: str, by: str, reason: str) -> None:
    """Give an alert to someone."""
    engine = _engine(_settings())
    try:
        engine.assign(alert_id, assignee, by=by)
    except AlertError as exc:
        raise _fail(exc) from None
    _audit(engine, by, "alert.assign", f"alert {alert_id}", reason or assignee, assignee=assignee)
    click.echo(f"alert {alert_id} assigned to {assignee}")


@alerts.command("note")
@click.argument("alert_id", type=int)
@click.argument("text")
@by_option
@reason_option
def note_cmd(alert_id: int, text: str, by: str, reason: str) -> None:
    """Add a note to an alert's history."""
    engine = _engine(_settings())
    try:
        engine.note(alert_id, by, text)
    except AlertError as exc:
        raise _fail(exc) from None
    _audit(engine, by, "alert.note", f"alert {alert_id}", reason or text)
    click.echo(f"note added to alert {alert_id}")


@alerts.group("silence")
def silence() -> None:
    """Mute alerts matching labels for a while (always with a reason, always expiring)."""


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", required=True, help="How long: 30m, 2h, 1d …")
@click.option("--reason", required=True, help="Why (kept with the silence).")
@by_option
def silence_add(matchers: tuple[str, ...], duration: str, reason: str, by: str) -> None:
    """Add a silence: every MATCHER must hold — label=value, label!=value, label=~regex,
    label!~regex (RE2, whole value) on rule, conversation, kind, severity, platform, source,
    tag … e.g. `veille alerts silence add 'rule=~fr\\..*' platform!=demo --for 2h --reason …`."""
    try:
        parsed = [parse_matcher(m) for m in matchers]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="MATCHERS") from None
    length = parse_duration(duration)
    if not isinstance(length, timedelta):
        raise click.BadParameter(f"{duration!r}: write 30m, 2h, 1d …", param_hint="--for")
    engine = _engine(_settings())
    try:
        s = engine.silence(parsed, by=by, reason=reason, duration=length)
    except AlertError as exc:
        raise _fail(exc) from None
    matchers_text = [m.text for m in s.matchers]
    _audit(
        engine,
        by,
        "silence.create",
        f"silence {s.id}",
        reason,
        matchers=matchers_text,
        duration=duration,
    )
    click.echo(f"silence {s.id} until {s.ends_at:%Y-%m-%d %H:%M} UTC")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Expired silences too.")
def silence_list(show_all: bool) -> None:
    """Silences in force (or all)."""
    engine = _engine(_settings())
    with engine.db.connect() as conn:
        found = store.list_silences(conn, include_expired=show_all, now=engine.clock())
    table = Table(box=None)
    for column in ("id", "matchers", "by", "reason", "from", "until"):
        table.add_column(column)
    for s in found:
        table.add_row(
            str(s.id),
            _plain(" ".join(m.text for m in s.matchers), 60),
            _plain(s.created_by, 30),
            _plain(s.reason, 60),
            f"{s.starts_at:%Y-%m-%d %H:%M}",
            f"{s.ends_at:%Y-%m-%d %H:%M}" + (f" (ended by {s.expired_by})" if s.expired_by else ""),
        )
    Console().print(table if found else "no silences")


@silence.command("expire")
@click.argument("silence_id", type=int)
@by_option
@reason_option
def silence_expire(silence_id: int, by: str, reason: str) -> None:
    """End a silence now."""
    engine = _engine(_settings())
    try:
        engine.expire_silence(silence_id, by=by)
    except AlertError as exc:
        raise _fail(exc) from None
    _audit(engine, by, "silence.expire", f"silence {silence_id}", reason)
    click.echo(f"silence {silence_id} expired")


@alerts.command("dead")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def dead_cmd(limit: int) -> None:
    """Dead letters: notifications that could not be delivered, with the last error."""
    engine = _engine(_settings())
    with engine.db.connect() as conn:
        found = store.list_notifications(conn, statuses=("dead",), limit=limit)
    table = Table(box=None)
    for column in ("id", "receiver", "reason", "alerts", "attempts", "created", "last error"):
        table.add_column(column)
    for n in found:
        table.add_row(
            str(n.id),
            n.receiver,
            n.reason,
            ",".join(map(str, n.alert_ids)),
            str(n.attempts),
            f"{n.created_at:%Y-%m-%d %H:%M}",
            _plain(n.last_error, 80),
        )
    Console().print(table if found else "no dead letters")


@alerts.command("retry")
@click.argument("notification_id", type=int)
@by_option
@reason_option
def retry_cmd(notification_id: int, by: str, reason: str) -> None:
    """Send a dead letter again (after fixing the receiver)."""
    engine = _engine(_settings())
    try:
        engine.requeue(notification_id, by=by)
    except AlertError as exc:
        raise _fail(exc) from None
    _audit(engine, by, "notification.requeue", f"notification {notification_id}", reason)
    click.echo(f"notification {notification_id} queued again")


@alerts.command("deliver")
def deliver_cmd() -> None:
    """Run the delivery worker and timers until interrupted (beside or instead of veille run)."""
    from veille.alert.service import AlertService

    settings = _settings()
    db = create_engine(settings.store.url, synchronous=settings.store.synchronous)
    ensure_current(db)
    try:
        service = AlertService(db, settings.alerts)
    except ValueError as exc:
        raise _fail(exc) from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signals.SIGINT, signals.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    click.echo("delivering alerts (Ctrl-C to stop)")
    asyncio.run(main())
