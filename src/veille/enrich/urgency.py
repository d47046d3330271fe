"""Urgency: findings, rule severity, the author's reach and the conversation's speed → severity.

Points add up, each with the words an operator reads ("call to violence + names a protected
officer + 3,000 followers"):

* each kind of finding counts once, with its configured points (a hit scoring under 0.8 counts
  half); a threat together with a protected person adds a bonus;
* the most severe matching rule adds its severity's points;
* reach and velocity only *amplify*: they add points when something else already did, so a
  harmless post from a large account stays ``info``.

The severity is the highest threshold the total reaches. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from veille.config import UrgencySettings
from veille.model import SEVERITIES, Finding, Severity, Urgency

_KIND_REASONS = {
    "national_id": "national register number",
    "iban": "bank account number",
    "payment_card": "payment card number",
    "phone": "phone number",
    "email": "e-mail address",
    "licence_plate": "licence plate",
    "gps": "GPS coordinates",
    "address": "street address",
}
_STRONG = 0.8


def _finding_reason(finding: Finding) -> str:
    if finding.kind == "threat":
        return finding.explanation or "threat or call to violence"
    if finding.kind in ("protected_name", "doxxing", "confidential"):
        return finding.explanation or finding.kind
    return _KIND_REASONS.get(finding.kind, finding.kind.replace("_", " "))


def score_urgency(
    findings: Iterable[Finding],
    *,
    rules: Sequence[tuple[str, Severity]] = (),
    followers: int | None = None,
    velocity: float | None = None,
    settings: UrgencySettings | None = None,
) -> Urgency:
    """Severity and reasons of one post.

    ``rules`` are the ``(rule id, severity)`` of the rules it matched; ``followers`` is the
    author's audience; ``velocity`` the posts per minute of its conversation, when known.
    """
    cfg = settings or UrgencySettings()
    total = 0.0
    reasons: list[str] = []
    best: dict[str, Finding] = {}
    for finding in findings:
        if finding.is_verdict and finding.label != "threat":
            continue  # "none", "mention", sentiment …: not urgent by themselves
        if finding.kind not in cfg.points:
            continue
        kept = best.get(finding.kind)
        if kept is None or finding.score > kept.score:
            best[finding.kind] = finding
    for kind, finding in sorted(best.items(), key=lambda kv: -cfg.points[kv[0]]):
        points = cfg.points[kind] * (1.0 if finding.score >= _STRONG else 0.5)
        if points > 0:
            total += points
            reasons.append(_finding_reason(finding))
    if "threat" in best and ("protected_name" in best or "doxxing" in best):
        total += cfg.protected_threat_points
        reasons.append("threat against a protected person")

    if rules:
        rule, severity = max(rules, key=lambda r: SEVERITIES.index(r[1]))
        points = cfg.rule_points.get(severity, 0)
        if points > 0:
            total += points
            more = f" and {len(rules) - 1} more" if len(rules) > 1 else ""
            reasons.append(f"rule {rule!r} ({severity}){more}")

    if total > 0:
        reach = _tier(cfg.followers, followers)
        if reach is not None and followers is not None:
            total += reach
            reasons.append(f"{followers:,} followers")
        speed = _tier(cfg.velocity, velocity)
        if speed is not None and velocity is not None:
            total += speed
            reasons.append(f"conversation at {velocity:g} posts/min")

    return Urgency(severity=_severity(total, cfg), score=round(total, 2), reasons=tuple(reasons))


def _tier(tiers: Sequence[tuple[float, float]], value: float | None) -> float | None:
    if value is None:
        return None
    reached = [points for bound, points in tiers if value >= bound]
    return max(reached) if reached else None


def _severity(total: float, cfg: UrgencySettings) -> Severity:
    severity: Severity = "info"
    for name in SEVERITIES[1:]:
        bound = cfg.thresholds.get(name)
        if bound is not None and total >= bound:
            severity = name
    return severity
