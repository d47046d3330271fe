"""Property tests of the pure alert policy: routing, grouping, silences, inhibition, timers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.alert import policy
from veille.config import AlertInhibition
from veille.model import SEVERITIES, Alert, AlertSignal, Silence, SilenceMatcher

from .conftest import settings, signal

T0 = datetime(2026, 1, 1, tzinfo=UTC)
severities = st.sampled_from(SEVERITIES)
names = st.sampled_from(["a", "b", "c", ""])
seconds = st.integers(min_value=0, max_value=10 * 86400)


def alert(**fields: Any) -> Alert:
    base: dict[str, Any] = {
        "id": 1,
        "fingerprint": "f",
        "kind": "rule",
        "severity": "high",
        "title": "t",
        "conversation": "c1",
        "rule": "r",
        "first_seen": T0,
        "last_seen": T0,
    }
    base.update(fields)
    return Alert(**base)


alerts = st.builds(
    alert,
    id=st.integers(1, 50),
    severity=severities,
    conversation=names,
    rule=names,
    platform=names,
    tags=st.lists(names, max_size=3).map(tuple),
    status=st.sampled_from(["firing", "acknowledged", "resolved"]),
)


def three_receivers(routes: list[dict[str, Any]], **more: Any) -> Any:
    return settings(
        receivers=[
            {"name": n, "type": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}
            for n in ("hook", "duty", "chat")
        ],
        routes=routes,
        **more,
    )


# --- routing --------------------------------------------------------------------------------


@given(alerts)
def test_first_matching_route_wins_unless_it_continues(a: Alert) -> None:
    cfg = three_receivers(
        [
            {"receivers": ["duty"], "min_severity": "critical"},
            {"receivers": ["chat"], "rules": ["a"], "continue": True},
            {"receivers": ["hook"], "min_severity": "medium"},
        ],
        default_receivers=[],
    )
    got = [t.receiver for t in policy.targets(a, cfg)]
    if a.severity == "critical":
        assert got == ["duty"]
    else:
        expected = (["chat"] if a.rule == "a" else []) + (
            ["hook"] if policy.rank(a.severity) >= policy.rank("medium") else []
        )
        assert got == expected


@given(alerts)
def test_unrouted_alerts_go_to_default_receivers_once(a: Alert) -> None:
    cfg = three_receivers(
        [{"receivers": ["duty", "duty"], "kinds": ["trend"]}], default_receivers=["hook", "hook"]
    )
    got = [t.receiver for t in policy.targets(a, cfg)]
    assert got == ["hook"]  # a rule alert never matches the trend route; duplicates collapse


@given(alerts, alerts)
def test_group_key_depends_only_on_group_by_labels(a: Alert, b: Alert) -> None:
    target = policy.targets(a, settings())[0]
    key_a, labels_a = target.group(policy.labels_of(a))
    key_b, labels_b = target.group(policy.labels_of(b))
    same = (a.conversation, a.rule) == (b.conversation, b.rule)
    assert (key_a == key_b) == same
    assert labels_a == {"conversation": a.conversation, "rule": a.rule}
    assert (labels_a == labels_b) == same


def test_route_can_override_grouping_and_timers() -> None:
    cfg = three_receivers(
        [
            {
                "receivers": ["duty"],
                "group_by": ["rule"],
                "group_wait": "30s",
                "repeat_interval": "1h",
            }
        ]
    )
    (target,) = policy.targets(alert(), cfg)
    assert target.group_by == ("rule",)
    assert target.timing.group_wait == timedelta(seconds=30)
    assert target.timing.group_interval == cfg.group_interval
    assert target.timing.repeat_interval == timedelta(hours=1)


# --- fingerprints and bounds ------------------------------------------------------------------


@given(st.text(max_size=5), st.text(max_size=5), st.text(max_size=5))
def test_fingerprint_tells_posts_apart_and_is_stable(rule: str, conv: str, post: str) -> None:
    one = signal(rule=rule, conversation=conv, native_id=post)
    assert policy.fingerprint(one) == policy.fingerprint(
        signal(rule=rule, conversation=conv, native_id=post, title="other")
    )
    assert policy.fingerprint(one) != policy.fingerprint(
        signal(rule=rule, conversation=conv, native_id=post + "x")
    )


def test_bounded_cuts_every_free_text_field() -> None:
    big = signal(
        title="t" * 10_000,
        excerpt="e" * 10_000,
        reasons=tuple("r" * 1000 for _ in range(100)),
        labels={f"k{i}": "v" * 1000 for i in range(100)},
        tags=tuple(str(i) for i in range(100)),
        spans=((0, 5), (5, 10_000), (-1, 3)),
    )
    small = policy.bounded(big)
    assert len(small.title) == policy.MAX_TITLE
    assert len(small.excerpt) == policy.MAX_EXCERPT
    assert len(small.reasons) == policy.MAX_REASONS
    assert all(len(r) <= policy.MAX_REASON for r in small.reasons)
    assert len(small.labels) == len(small.tags) == policy.MAX_LABELS
    assert small.spans == ((0, 5),)


def test_free_labels_never_replace_builtin_ones() -> None:
    labels = policy.labels_of(signal(labels={"severity": "info", "team": "cyber"}))
    assert labels["severity"] == "high"
    assert labels["team"] == "cyber"


# --- silences ---------------------------------------------------------------------------------


matchers = st.builds(
    SilenceMatcher,
    name=st.sampled_from(["rule", "conversation", "tag", "platform", "missing"]),
    op=st.sampled_from(["=", "!=", "=~", "!~"]),
    value=st.sampled_from(["a", "b", "", "a|b", ".*", "[ab]", "b.*"]),
)


def holds(m: SilenceMatcher, value: str) -> bool:
    """A reference for one label: Python's re, anchored, on these simple patterns."""
    if m.op in ("=", "!="):
        return (value == m.value) == (m.op == "=")
    return (re.fullmatch(m.value, value) is not None) == (m.op == "=~")


@given(alerts, st.lists(matchers, max_size=3), seconds, seconds, seconds)
def test_silence_mutes_exactly_matching_alerts_while_in_force(
    a: Alert, conditions: list[SilenceMatcher], start: int, length: int, at: int
) -> None:
    s = Silence(
        matchers=tuple(conditions),
        created_by="x",
        reason="y",
        starts_at=T0 + timedelta(seconds=start),
        ends_at=T0 + timedelta(seconds=start + length),
    )
    now = T0 + timedelta(seconds=at)
    labels = policy.labels_of(a)

    def satisfied(m: SilenceMatcher) -> bool:
        if m.name != "tag":
            return holds(m, labels.get(m.name, ""))
        # over the set of tags: "=" / "=~" need one tag that matches, "!=" / "!~" need none
        positive = SilenceMatcher(name="tag", op="=~" if "~" in m.op else "=", value=m.value)
        return any(holds(positive, t) for t in a.tags) == (m.op in ("=", "=~"))

    in_force = start <= at < start + length
    expected = bool(conditions) and all(satisfied(m) for m in conditions) and in_force
    assert policy.silence_matches(s, a, now) == expected


@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    st.sampled_from(["=", "!="]),
    # "a=~x" is the regex operator, so a plain value cannot start with "~".
    st.text(max_size=40).map(str.strip).filter(lambda v: not v.startswith("~")),
)
def test_matchers_read_back_as_written(name: str, op: str, value: str) -> None:
    m = policy.parse_matcher(f"{name}{op}{value}")
    assert (m.name, m.op, m.value) == (name, op, value)
    assert policy.parse_matcher(m.text) == m


def test_bad_matchers_say_which_and_how_to_write_them() -> None:
    for text in ("nolabel", "=value", "ru le=x", "rule=~(unclosed", "rule~x"):
        with pytest.raises(ValueError, match="matcher"):
            policy.parse_matcher(text)
    assert policy.parse_matcher(" rule =~ fr\\..* ").text == "rule=~fr\\..*"


# --- inhibition -------------------------------------------------------------------------------


@given(alerts, st.lists(alerts, max_size=6))
def test_critical_mutes_lower_alerts_in_the_same_conversation_only(
    target: Alert, others: list[Alert]
) -> None:
    rules = [AlertInhibition()]
    by = policy.inhibited_by(target, others, rules)
    expected = any(
        o.id != target.id
        and o.status != "resolved"
        and o.severity == "critical"
        and target.severity != "critical"
        and target.conversation != ""
        and o.conversation == target.conversation
        for o in others
    )
    assert (by is not None) == expected
    if by is not None:
        assert by.severity == "critical"
        assert by.conversation == target.conversation


def test_an_alert_never_inhibits_itself() -> None:
    a = alert(severity="critical")
    assert policy.inhibited_by(a, [a], [AlertInhibition(target_below="critical")]) is None


# --- timers -----------------------------------------------------------------------------------


@given(seconds, st.none() | seconds, seconds, seconds, st.integers(1, 3600))
def test_one_notification_per_group_window(
    created: int, last: int | None, now: int, wait: int, interval: int
) -> None:
    timing = policy.Timing(timedelta(seconds=wait), timedelta(seconds=interval), timedelta(hours=4))
    last_sent = None if last is None else T0 + timedelta(seconds=last)
    at = T0 + timedelta(seconds=now)
    due = policy.first_due(T0 + timedelta(seconds=created), last_sent, at, timing)
    assert due >= at
    if last_sent is None:
        assert due >= T0 + timedelta(seconds=created + wait)
        assert due == max(at, T0 + timedelta(seconds=created + wait))
    else:
        assert due >= last_sent + timing.group_interval
        assert due == max(at, last_sent + timing.group_interval)


@given(severities, st.integers(0, 7200))
def test_escalation_time_only_for_serious_alerts(severity: str, after: int) -> None:
    cfg = three_receivers(
        [], escalation={"after": f"{after}s", "min_severity": "high", "receivers": ["duty"]}
    )
    a = alert(severity=severity)
    when = policy.escalation_at(a, cfg)
    if policy.rank(severity) >= policy.rank("high"):
        assert when == T0 + timedelta(seconds=after)
    else:
        assert when is None
    assert policy.escalation_at(a, settings()) is None  # no escalation configured


# --- merging repeated signals -----------------------------------------------------------------


@given(severities, severities, st.sampled_from(["firing", "acknowledged"]))
def test_merge_counts_repeats_and_reports_only_worse_as_news(
    old: str, new: str, status: str
) -> None:
    acked: dict[str, Any] = (
        {"acknowledged_by": "op", "acknowledged_at": T0} if status == "acknowledged" else {}
    )
    a = alert(severity=old, status=status, reasons=("one",), **acked)
    s: AlertSignal = signal(severity=new, reasons=("one", "two"))
    merged, news = policy.merge(a, s, T0 + timedelta(minutes=1))
    worse = policy.rank(new) > policy.rank(old)
    assert news == worse
    assert merged.count == 2
    assert merged.last_seen == T0 + timedelta(minutes=1)
    assert merged.severity == (new if worse else old)
    assert merged.reasons == ("one", "two")
    assert merged.status == ("firing" if worse else status)
    # re-opened: no longer acknowledged; otherwise the acknowledgement stands
    reopened = worse and status == "acknowledged"
    assert (merged.acknowledged_by, merged.acknowledged_at) == (
        ("", None) if reopened else (a.acknowledged_by, a.acknowledged_at)
    )
