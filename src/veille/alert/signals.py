"""What feeds the alert engine from the pipeline: rule matches with a severity and the
detectors' urgency, turned into :class:`~veille.model.AlertSignal` after each store commit.

Trend spikes and silent sources build their signals themselves (kinds ``trend`` and
``source``) and call :meth:`AlertService.submit` directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from veille.alert.policy import MAX_EXCERPT, rank
from veille.alert.service import AlertService
from veille.model import PERSONAL_KINDS, AlertSignal, Enrichment, Match, Post, Severity, Span
from veille.pipeline import Stored


@dataclass(frozen=True)
class RuleInfo:
    """What an alert needs to know of a rule."""

    severity: Severity = "medium"
    name: str = ""
    tags: tuple[str, ...] = ()


def excerpt(
    text: str, highlight: Sequence[Span], mask: Sequence[tuple[Span, str]] = ()
) -> tuple[str, tuple[Span, ...]]:
    """A bounded piece of ``text`` around the first highlight, personal data replaced by
    ``⟨kind⟩``; returns it with the highlights moved to its offsets."""
    start = max(0, (highlight[0][0] if highlight else 0) - MAX_EXCERPT // 3)
    end = min(len(text), start + MAX_EXCERPT - 20)
    cuts = sorted([(s, e, f"⟨{kind}⟩") for (s, e), kind in mask if start <= s < e <= end])
    out: list[str] = []
    pos = start
    shifts: list[tuple[int, int]] = []  # (original offset, delta after it)
    delta = 0
    for s, e, label in cuts:
        if s < pos:
            continue
        out += [text[pos:s], label]
        delta += len(label) - (e - s)
        shifts.append((e, delta))
        pos = e
    out.append(text[pos:end])
    body = "".join(out)

    def moved(offset: int) -> int:
        d = 0
        for at, shift in shifts:
            if offset >= at:
                d = shift
        return offset - start + d

    spans = tuple(
        (moved(s), moved(e))
        for s, e in highlight
        if start <= s < e <= end and not any(cs < e and s < ce for cs, ce, _ in cuts)
    )
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    spans = tuple((s + len(prefix), e + len(prefix)) for s, e in spans)
    return prefix + body + suffix, spans


def _conversation(post: Post) -> str:
    root = post.root_id or (post.native_id if post.reply_to is None else post.reply_to)
    return f"{post.platform}:{root}"


def signals_for_post(
    post: Post,
    matches: Iterable[Match],
    enrichment: Enrichment | None,
    rules: Mapping[str, RuleInfo],
    conversation: str = "",
) -> list[AlertSignal]:
    """The alert signals one stored post raises: one per matched rule, one for urgency."""
    conversation = conversation or _conversation(post)
    mask = [
        (span, f.kind)
        for f in (enrichment.hits() if enrichment else ())
        if f.kind in PERSONAL_KINDS
        for span in f.spans
    ]
    common = {
        "conversation": conversation,
        "platform": post.platform,
        "native_id": post.native_id,
        "url": post.url,
        "observed_at": post.received_at,
    }
    signals: list[AlertSignal] = []
    for match in matches:
        info = rules.get(match.rule, RuleInfo())
        text, spans = excerpt(post.text, match.spans, mask)
        terms = ", ".join(sorted(match.terms))[:200]
        name = info.name or match.rule
        signals.append(
            AlertSignal(
                kind="rule",
                severity=info.severity,
                title=f"Rule “{name}” matched",
                reasons=(f"rule {name} matched {terms}" if terms else f"rule {name} matched",),
                rule=match.rule,
                tags=info.tags,
                excerpt=text,
                spans=spans,
                **common,  # type: ignore[arg-type]
            )
        )
    if enrichment is not None and _urgent(enrichment):
        urgency = enrichment.urgency
        threat = enrichment.verdict("threat")
        highlight = threat.spans if threat and threat.label == "threat" else ()
        text, spans = excerpt(post.text, highlight, mask)
        kinds = tuple(sorted({f.kind for f in enrichment.hits()}))
        headline = urgency.reasons[0] if urgency.reasons else "urgent post"
        signals.append(
            AlertSignal(
                kind="urgent",
                severity=urgency.severity,
                title=f"Urgent: {headline}",
                reasons=urgency.reasons,
                rule="urgency",
                tags=kinds,
                excerpt=text,
                spans=spans,
                **common,  # type: ignore[arg-type]
            )
        )
    return signals


def _urgent(enrichment: Enrichment) -> bool:
    """Whether the detectors make this post urgent: something found, and a severity.

    An urgency made of rule severity alone (and reach) raises no alert of its own: the rule
    alerts already say it, and a second alert for the same reason is noise."""
    threat = enrichment.verdict("threat")
    found = (threat is not None and threat.label == "threat") or bool(enrichment.hits())
    return found and rank(enrichment.urgency.severity) > rank("info")


class AlertHook:
    """The pipeline's after-store hook: what was just committed becomes alerts."""

    def __init__(self, service: AlertService, rules: Mapping[str, RuleInfo]) -> None:
        self.service = service
        self.rules = dict(rules)
        self._floor = rank(service.engine.settings.min_severity)

    async def __call__(self, stored: Stored) -> None:
        signals: list[AlertSignal] = []
        enrichments = list(stored.enrichments)
        for i, post in enumerate(stored.posts):
            matches = stored.matches[i] if i < len(stored.matches) else ()
            enrichment = enrichments[i] if i < len(enrichments) else None
            worth = any(
                rank(self.rules.get(m.rule, RuleInfo()).severity) >= self._floor for m in matches
            ) or (
                enrichment is not None
                and rank(enrichment.urgency.severity) >= self._floor
                and _urgent(enrichment)
            )
            if worth:
                signals += signals_for_post(post, matches, enrichment, self.rules)
        if signals:
            await self.service.submit(signals)
