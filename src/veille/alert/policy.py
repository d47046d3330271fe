"""The alert policy: pure decisions about routing, grouping, silences, inhibition and timers.

Nothing here does I/O or reads the wall clock: every function takes ``now`` (or the values it
needs) and returns a decision, so the semantics are tested exhaustively with a fake clock. The
engine applies these decisions to the store.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import re2
from msgspec.structs import replace

from veille.config import AlertInhibition, AlertRoute, AlertsSettings
from veille.model import (
    SEVERITIES,
    Alert,
    AlertSignal,
    MatchOp,
    Severity,
    Silence,
    SilenceMatcher,
)

BUILTIN_LABELS = ("kind", "severity", "rule", "conversation", "platform", "source")
"""Labels every alert has; free ``labels`` of a signal add to them but never replace them."""

MAX_TITLE = 300
MAX_EXCERPT = 1000
MAX_REASONS = 20
MAX_REASON = 300
MAX_LABELS = 32
MAX_LABEL = 300


_RANK: dict[str, int] = {name: i for i, name in enumerate(SEVERITIES)}


def rank(severity: Severity | str) -> int:
    """Order of a severity: ``info`` 0 … ``critical`` 4."""
    return _RANK[severity]


def fingerprint(signal: AlertSignal) -> str:
    """The identity that folds repeated signals into one alert.

    By default one alert per (kind, rule, conversation, post): the same post seen again (a
    replay, an edit) updates its alert instead of raising a new one.
    """
    if signal.fingerprint:
        return signal.fingerprint[:128]
    parts: tuple[str, ...] = (
        signal.kind,
        signal.rule,
        signal.conversation,
        signal.platform,
        signal.native_id,
    )
    if signal.kind in ("trend", "source") and not signal.native_id:
        parts += (signal.source,)
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def bounded(signal: AlertSignal) -> AlertSignal:
    """The signal with every free-text field cut to its bound: no producer floods a message."""
    labels = dict(list(signal.labels.items())[:MAX_LABELS])
    return replace(
        signal,
        title=_cut(signal.title, MAX_TITLE),
        reasons=tuple(_cut(r, MAX_REASON) for r in signal.reasons[:MAX_REASONS]),
        excerpt=_cut(signal.excerpt, MAX_EXCERPT),
        spans=tuple(s for s in signal.spans if 0 <= s[0] <= s[1] <= MAX_EXCERPT)[:100],
        tags=tuple(_cut(t, MAX_LABEL) for t in signal.tags[:MAX_LABELS]),
        labels={_cut(k, MAX_LABEL): _cut(v, MAX_LABEL) for k, v in labels.items()},
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def labels_of(alert: Alert | AlertSignal) -> dict[str, str]:
    """The label set used for routing, grouping, silences and inhibition."""
    labels = dict(alert.labels)
    labels.update(
        kind=alert.kind,
        severity=alert.severity,
        rule=alert.rule,
        conversation=alert.conversation,
        platform=alert.platform,
        source=alert.source,
    )
    return labels


@dataclass(frozen=True, slots=True)
class Timing:
    """The three Alertmanager timers in force for one route."""

    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta


@dataclass(frozen=True, slots=True)
class Target:
    """One receiver an alert goes to, with the grouping and timers of the route that chose it."""

    receiver: str
    route: int
    """Index of the route in ``[[alerts.routes]]``; -1 for the default receivers."""
    group_by: tuple[str, ...]
    timing: Timing

    def group(self, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """The group key and group labels of an alert with ``labels`` at this target."""
        values = {name: labels.get(name, "") for name in self.group_by}
        body = "\x1f".join(f"{k}={v}" for k, v in values.items())
        digest = hashlib.sha256(f"{self.receiver}\x1e{self.route}\x1e{body}".encode()).hexdigest()
        return digest[:32], values


def route_matches(route: AlertRoute, alert: Alert | AlertSignal) -> bool:
    """Whether every condition of ``route`` holds for ``alert`` (an empty condition holds)."""
    if rank(alert.severity) < rank(route.min_severity):
        return False
    if route.kinds and alert.kind not in route.kinds:
        return False
    if route.rules and alert.rule not in route.rules:
        return False
    if route.tags and not set(route.tags) & set(alert.tags):
        return False
    labels = labels_of(alert)
    return all(labels.get(k) == v for k, v in route.match.items())


def targets(alert: Alert | AlertSignal, settings: AlertsSettings) -> list[Target]:
    """Receivers for ``alert``: routes in order, the first match wins unless it says continue.

    Falls back to ``default_receivers`` when no route matched. A receiver reached by two routes
    is notified once, through the first.
    """
    chosen: list[Target] = []
    seen: set[str] = set()

    def add(receivers: Iterable[str], index: int, route: AlertRoute | None) -> None:
        timing = Timing(
            group_wait=_pick(route.group_wait if route else None, settings.group_wait),
            group_interval=_pick(route.group_interval if route else None, settings.group_interval),
            repeat_interval=_pick(
                route.repeat_interval if route else None, settings.repeat_interval
            ),
        )
        group_by = tuple(
            settings.group_by if route is None or route.group_by is None else route.group_by
        )
        for name in receivers:
            if name not in seen:
                seen.add(name)
                chosen.append(Target(name, index, group_by, timing))

    for index, route in enumerate(settings.routes):
        if route_matches(route, alert):
            add(route.receivers, index, route)
            if not route.continue_:
                break
    if not chosen:
        add(settings.default_receivers, -1, None)
    return chosen


def _pick(value: timedelta | None, default: timedelta) -> timedelta:
    return default if value is None else value


MAX_MATCHERS = 20
MAX_PATTERN = 300
_LABEL_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_OPS: tuple[MatchOp, ...] = ("=~", "!~", "!=", "=")
_NEGATED: dict[MatchOp, MatchOp] = {"!=": "=", "!~": "=~", "=": "!=", "=~": "!~"}


def parse_matcher(text: str) -> SilenceMatcher:
    """``label=value``, ``label!=value``, ``label=~regex`` or ``label!~regex`` as a matcher;
    ``ValueError`` saying what is wrong otherwise (the regex is checked too)."""
    stripped = text.strip()
    end = 0
    while end < len(stripped) and stripped[end] in _LABEL_NAME:
        end += 1
    name, rest = stripped[:end], stripped[end:].lstrip()
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if not name or op is None:
        raise ValueError(
            f"matcher {stripped[:80]!r}: write label=value, label!=value, label=~regex "
            "or label!~regex"
        )
    matcher = SilenceMatcher(name=name, op=op, value=rest[len(op) :].strip())
    check_matcher(matcher)
    return matcher


def check_matcher(matcher: SilenceMatcher) -> None:
    """Raise ``ValueError`` when ``matcher`` cannot be used (bounds, a regex RE2 refuses)."""
    if not matcher.name or len(matcher.name) > 100 or set(matcher.name) - _LABEL_NAME:
        raise ValueError(f"matcher {matcher.text[:80]!r}: the label name is not valid")
    if matcher.op not in _OPS:
        raise ValueError(f"matcher {matcher.text[:80]!r}: unknown operator {matcher.op!r}")
    if len(matcher.value) > MAX_PATTERN:
        raise ValueError(f"matcher on {matcher.name!r}: value over {MAX_PATTERN} characters")
    if matcher.op in ("=~", "!~"):
        try:
            _regex(matcher.value)
        except re2.error as exc:
            raise ValueError(
                f"matcher {matcher.text[:80]!r}: not an RE2 expression: {exc}"
            ) from None


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> re2._Regexp:
    # RE2: linear time and bounded memory, so no silence can slow the engine down
    options = re2.Options()
    options.max_mem = 1 << 20
    options.log_errors = False
    return re2.compile(pattern, options)


def matcher_holds(matcher: SilenceMatcher, value: str) -> bool:
    """Whether one label value satisfies ``matcher`` (a regex must match the whole value)."""
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    found = _regex(matcher.value).fullmatch(value) is not None
    return found if matcher.op == "=~" else not found


def matches_empty(matcher: SilenceMatcher) -> bool:
    """Whether ``matcher`` holds for a missing (empty) label: such a matcher alone would mute
    every alert, so a silence needs at least one that does not."""
    return matcher_holds(matcher, "")


def silence_matches(silence: Silence, alert: Alert, now: datetime) -> bool:
    """Whether ``silence`` is in force at ``now`` and every matcher holds for the alert."""
    if not (silence.starts_at <= now < silence.ends_at) or not silence.matchers:
        return False
    labels = labels_of(alert)
    for matcher in silence.matchers:
        if matcher.name == "tag":
            # a set of tags: "tag!=x" means no tag is x, not that some tag is something else
            negative = matcher.op in ("!=", "!~")
            wanted = replace(matcher, op=_NEGATED[matcher.op]) if negative else matcher
            if any(matcher_holds(wanted, tag) for tag in alert.tags) == negative:
                return False
        elif not matcher_holds(matcher, labels.get(matcher.name, "")):
            return False
    return True


def silenced_by(alert: Alert, silences: Iterable[Silence], now: datetime) -> Silence | None:
    """The first silence muting ``alert`` at ``now``, if any."""
    return next((s for s in silences if silence_matches(s, alert, now)), None)


def inhibited_by(
    alert: Alert, firing: Iterable[Alert], rules: Sequence[AlertInhibition]
) -> Alert | None:
    """A firing alert that mutes ``alert``: serious enough, sharing the ``equal`` labels.

    With the default rule a critical alert mutes lower-severity ones in the same conversation.
    An alert never inhibits itself, and labels that are empty on both sides do not count as
    shared (two alerts without a conversation are not "in the same conversation").
    """
    mine = labels_of(alert)
    for other in firing:
        if other.id == alert.id or other.status == "resolved":
            continue
        theirs = labels_of(other)
        for rule in rules:
            if rank(other.severity) < rank(rule.source_min_severity):
                continue
            if rank(alert.severity) >= rank(rule.target_below):
                continue
            if all(mine.get(k) and mine.get(k) == theirs.get(k) for k in rule.equal):
                return other
    return None


def first_due(
    group_created: datetime, last_sent: datetime | None, now: datetime, timing: Timing
) -> datetime:
    """When the next notification of a group that just received an alert may go out.

    A group never notified waits ``group_wait`` from its creation; afterwards the group waits
    until ``group_interval`` after its last notification, so one window carries one message.
    """
    if last_sent is None:
        return max(now, group_created + timing.group_wait)
    return max(now, last_sent + timing.group_interval)


def repeat_due(last_sent: datetime, timing: Timing) -> datetime:
    """When alerts of a group still firing and unacknowledged are sent again."""
    return last_sent + timing.repeat_interval


def notifiable(alert: Alert) -> bool:
    """Whether an alert may still produce a notification (not acknowledged, not resolved)."""
    return alert.status == "firing"


def escalation_at(alert: Alert, settings: AlertsSettings) -> datetime | None:
    """When ``alert`` escalates if nobody acknowledges it, or ``None`` if it never does."""
    esc = settings.escalation
    if esc is None or not esc.receivers or rank(alert.severity) < rank(esc.min_severity):
        return None
    return alert.first_seen + esc.after


def merge(alert: Alert, signal: AlertSignal, now: datetime) -> tuple[Alert, bool]:
    """Fold a repeated signal into its alert; says whether it is news worth a notification.

    News means the severity went up: the same post seen again at the same severity is counted,
    not re-sent. A worse signal re-opens an acknowledged alert: it fires again, unacknowledged
    (the acknowledgement stays in the alert's events), so notifications, repeats, escalation
    and every view treat it as the open alert it is again.
    """
    worse = rank(signal.severity) > rank(alert.severity)
    reopened = worse and alert.status == "acknowledged"
    reasons = tuple(dict.fromkeys((*alert.reasons, *signal.reasons)))[:MAX_REASONS]
    updated = replace(
        alert,
        status="firing" if reopened else alert.status,
        acknowledged_by="" if reopened else alert.acknowledged_by,
        acknowledged_at=None if reopened else alert.acknowledged_at,
        severity=signal.severity if worse else alert.severity,
        title=signal.title if worse else alert.title,
        reasons=reasons,
        count=alert.count + 1,
        last_seen=now,
        tags=tuple(dict.fromkeys((*alert.tags, *signal.tags)))[:MAX_LABELS],
    )
    return updated, worse


def new_alert(signal: AlertSignal, now: datetime, alert_id: int = 0) -> Alert:
    """A fresh alert from a (bounded) signal."""
    return Alert(
        id=alert_id,
        fingerprint=fingerprint(signal),
        kind=signal.kind,
        severity=signal.severity,
        title=signal.title,
        reasons=signal.reasons,
        rule=signal.rule,
        conversation=signal.conversation,
        platform=signal.platform,
        native_id=signal.native_id,
        source=signal.source,
        tags=signal.tags,
        labels=signal.labels,
        url=signal.url,
        excerpt=signal.excerpt,
        spans=signal.spans,
        first_seen=now,
        last_seen=now,
        observed_at=signal.observed_at,
    )
