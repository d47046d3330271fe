"""Silent sources: a live source that has not delivered anything for too long raises an alert.

Pure: it reads health snapshots and a clock, and returns :class:`~veille.model.AlertSignal`
objects of kind ``source`` for the alert engine: one when a source falls silent, one
``resolved`` when data comes back. Signals share a fingerprint per source, so a restarted
``veille run`` that raises the same silence again updates the open alert instead of adding one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from veille.clock import Clock, utcnow
from veille.model import AlertSignal
from veille.sources.health import SourceHealth, State


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


class SilenceWatch:
    """Remembers which sources are silent, to signal only when that changes."""

    def __init__(
        self, thresholds: Mapping[str, float], default: float, clock: Clock = utcnow
    ) -> None:
        if default <= 0 or any(t <= 0 for t in thresholds.values()):
            raise ValueError("silence thresholds must be positive seconds")
        self.thresholds = dict(thresholds)
        self.default = default
        self._clock = clock
        self._first_seen: dict[str, datetime] = {}
        self.silent: set[str] = set()

    def check(self, report: Sequence[SourceHealth]) -> list[AlertSignal]:
        """The signals due now: newly silent sources, and silent ones that spoke again."""
        now = self._clock()
        signals: list[AlertSignal] = []
        for health in report:
            if health.state is State.DISABLED:
                continue
            first = self._first_seen.setdefault(health.name, now)
            heard = health.last_event_at or first
            quiet = (now - heard).total_seconds()
            limit = self.thresholds.get(health.name, self.default)
            if quiet > limit and health.name not in self.silent:
                self.silent.add(health.name)
                signals.append(self._signal(health, quiet, limit, resolved=False))
            elif quiet <= limit and health.name in self.silent:
                self.silent.discard(health.name)
                signals.append(self._signal(health, quiet, limit, resolved=True))
        return signals

    def _signal(
        self, health: SourceHealth, quiet: float, limit: float, resolved: bool
    ) -> AlertSignal:
        if resolved:
            title = f"Source {health.name} receives data again"
        else:
            title = f"Source {health.name} silent for {_minutes(quiet)}: veille is blind to it"
        reasons = [f"no event for more than {_minutes(limit)}", f"state: {health.state.value}"]
        if health.last_error:
            reasons.append(f"last error: {health.last_error[:200]}")
        return AlertSignal(
            kind="source",
            severity="high",
            title=title,
            reasons=tuple(reasons),
            rule=health.name,
            platform=health.platform,
            source=health.name,
            observed_at=self._clock(),
            fingerprint=f"source:{health.name}",
            resolved=resolved,
        )
