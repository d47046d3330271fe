"""Source health: what each live source is doing, and what veille is blind to.

Every live connector owns a :class:`HealthTracker` and reports to it as it connects, receives,
backs off and fails. :func:`health_report` gives the dashboard and ``veille sources`` one
snapshot per source. A *gap* is a period whose data no resume could fill: it is recorded with
its reason, never hidden.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

import msgspec

from veille.clock import Clock, utcnow

MAX_GAPS: Final = 100
"""Recent gaps kept per source in memory (older ones live in the store)."""
FAILING_AFTER: Final = 3
"""Consecutive failed attempts after which a backing-off source is reported as failing."""


class State(StrEnum):
    """Where a source stands, from the point of view of someone relying on it."""

    STARTING = "starting"
    CONNECTED = "connected"
    BACKING_OFF = "backing off"
    FAILING = "failing"
    DISABLED = "disabled"


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    """A period from which data may be missing, and why."""

    start: datetime
    end: datetime
    reason: str


class SourceHealth(msgspec.Struct, kw_only=True):
    """One source's health at one moment, as shown to people and stored."""

    name: str
    platform: str
    state: State
    since: datetime
    """When the source entered its current state."""
    last_event_at: datetime | None = None
    events_per_minute: float = 0.0
    lag_seconds: float | None = None
    """How far the newest post received lags behind real time."""
    last_error: str = ""
    last_error_at: datetime | None = None
    cursor: str | None = None
    gaps: list[Gap] = msgspec.field(default_factory=list)
    detail: str = ""


class HealthTracker:
    """Mutable health of one source; thread-safe so a dashboard thread can read a snapshot."""

    def __init__(self, name: str, platform: str, clock: Clock = utcnow) -> None:
        self.name = name
        self.platform = platform
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._state = State.STARTING
        self._since = now
        self._last_event_at: datetime | None = None
        self._lag: float | None = None
        self._last_error = ""
        self._last_error_at: datetime | None = None
        self._cursor: str | None = None
        self._gaps: deque[Gap] = deque(maxlen=MAX_GAPS)
        self._failures = 0
        self._detail = ""
        self._minute: deque[tuple[datetime, int]] = deque()
        self.events_total = 0

    def _set_state(self, state: State) -> None:
        if state is not self._state:
            self._state = state
            self._since = self._clock()

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    def connected(self, detail: str = "") -> None:
        """A connection (or a successful poll) is established."""
        with self._lock:
            self._failures = 0
            self._detail = detail
            self._set_state(State.CONNECTED)

    def events(self, count: int = 1, newest_created_at: datetime | None = None) -> None:
        """``count`` payloads arrived; ``newest_created_at`` measures the lag behind real time."""
        if count <= 0:
            return
        with self._lock:
            now = self._clock()
            self._last_event_at = now
            self.events_total += count
            self._minute.append((now, count))
            if newest_created_at is not None:
                self._lag = max(0.0, (now - newest_created_at).total_seconds())

    def failed(self, error: str, retry_in: float | None) -> None:
        """An attempt failed; ``retry_in`` seconds until the next one (None: giving up)."""
        with self._lock:
            self._failures += 1
            self._last_error = error[:500]
            self._last_error_at = self._clock()
            if retry_in is None:
                self._set_state(State.FAILING)
                self._detail = "gave up"
            else:
                failing = self._failures >= FAILING_AFTER
                self._set_state(State.FAILING if failing else State.BACKING_OFF)
                self._detail = f"retry in {retry_in:.1f}s (attempt {self._failures})"

    def disabled(self, reason: str) -> None:
        """The source is switched off (configuration, missing credentials)."""
        with self._lock:
            self._detail = reason
            self._set_state(State.DISABLED)

    def cursor(self, cursor: str | None) -> None:
        """The resume cursor of the last batch handed to the pipeline."""
        with self._lock:
            self._cursor = cursor

    def gap(self, start: datetime, end: datetime, reason: str) -> None:
        """Data between ``start`` and ``end`` may be missing and no resume can fetch it."""
        with self._lock:
            self._gaps.append(Gap(start=start, end=end, reason=reason[:500]))

    @property
    def gaps(self) -> list[Gap]:
        """The recorded gaps, oldest first."""
        with self._lock:
            return list(self._gaps)

    def snapshot(self) -> SourceHealth:
        """The health as of now, events per minute over the last 60 seconds."""
        with self._lock:
            now = self._clock()
            horizon = now - timedelta(minutes=1)
            while self._minute and self._minute[0][0] < horizon:
                self._minute.popleft()
            return SourceHealth(
                name=self.name,
                platform=self.platform,
                state=self._state,
                since=self._since,
                last_event_at=self._last_event_at,
                events_per_minute=float(sum(n for _, n in self._minute)),
                lag_seconds=self._lag,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                cursor=self._cursor,
                gaps=list(self._gaps),
                detail=self._detail,
            )


class HealthRegistry:
    """The trackers of the sources running in this process, by name."""

    def __init__(self) -> None:
        self._trackers: dict[str, HealthTracker] = {}
        self._lock = threading.Lock()

    def tracker(self, name: str, platform: str, clock: Clock = utcnow) -> HealthTracker:
        """The tracker for ``name``, created on first use."""
        with self._lock:
            found = self._trackers.get(name)
            if found is None:
                found = self._trackers[name] = HealthTracker(name, platform, clock)
            return found

    def report(self) -> list[SourceHealth]:
        """A snapshot of every tracked source, sorted by name."""
        with self._lock:
            trackers = sorted(self._trackers.values(), key=lambda t: t.name)
        return [t.snapshot() for t in trackers]


REGISTRY: Final = HealthRegistry()
"""Trackers of this process; live sources register here unless given another registry."""


def health_report(registry: HealthRegistry = REGISTRY) -> list[SourceHealth]:
    """Health of every live source of this process: the function the dashboard calls."""
    return registry.report()
