"""``veille alerts check``: find what would stop an alert reaching someone, before it matters."""

from __future__ import annotations

from veille.alert.channels import build_channel
from veille.alert.policy import rank
from veille.config import AlertsSettings


def check(settings: AlertsSettings) -> tuple[list[str], list[str]]:
    """Problems (the configuration cannot work as written) and notes (a summary of routing)."""
    problems: list[str] = []
    notes: list[str] = []
    for receiver in settings.receivers:
        try:
            build_channel(receiver)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            where = receiver.url or f"{len(receiver.urls)} Apprise URL(s)"
            notes.append(f"receiver {receiver.name}: {receiver.type} → {where}")
    catch_all = None
    for i, route in enumerate(settings.routes):
        if catch_all is not None:
            problems.append(
                f"routes[{i}] is never reached: routes[{catch_all}] matches every alert and "
                "does not continue"
            )
        empty = not (route.kinds or route.rules or route.tags or route.match)
        floor = rank(route.min_severity) <= rank(settings.min_severity)
        if empty and floor and not route.continue_ and catch_all is None:
            catch_all = i
        notes.append(f"routes[{i}]: severity ≥ {route.min_severity} → {', '.join(route.receivers)}")
    if not settings.receivers:
        notes.append("no receivers: alerts are kept in the inbox only")
    elif not settings.routes and not settings.default_receivers:
        problems.append("receivers are configured but no route or default_receivers uses them")
    esc = settings.escalation
    if esc is not None and not esc.receivers:
        problems.append("escalation has no receivers")
    if settings.group_interval.total_seconds() <= 0:
        problems.append("group_interval must be positive")
    if settings.repeat_interval < settings.group_interval:
        problems.append("repeat_interval is shorter than group_interval")
    for route in settings.routes:
        if route.group_interval is not None and route.group_interval.total_seconds() <= 0:
            problems.append(f"route to {', '.join(route.receivers)}: group_interval must be > 0")
    notes.append(
        f"alerts from severity {settings.min_severity}; grouped by {', '.join(settings.group_by)}; "
        f"group_wait {settings.group_wait}, group_interval {settings.group_interval}, "
        f"repeat_interval {settings.repeat_interval}"
    )
    return problems, notes
