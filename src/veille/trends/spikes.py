"""Spike detection: the last hour against the previous twelve, robust to daily cycles.

Volume: the expected count of the last hour is the median of the previous 12 hours, scaled by
the *daily-cycle factor* — how the same hour compared with its own previous 12 hours on each
earlier day we have (median over up to 7 days). A morning rush that happens every day is
therefore expected, not a spike. The deviation is a z-score on Anscombe's square-root scale
(Poisson counting noise, near-normal even for small counts), widened when the baseline hours
spread more than Poisson.

Negative share: the share of negative posts in the last hour against the pooled share of the
previous 12 hours, as a binomial z-score, with a minimum rise in percentage points.

Every check also needs a minimum volume, so three posts instead of one never page anyone.
Pure functions over hourly counts: the store supplies the series, the caller the clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime
from statistics import median
from typing import Final, Literal

import msgspec

Sensitivity = Literal["low", "medium", "high"]
SpikeKind = Literal["volume", "negative_share"]
BASELINE_HOURS: Final = 12
DAY: Final = 24
MAX_DAYS: Final = 7


class Thresholds(msgspec.Struct, frozen=True):
    """What a spike must exceed at one sensitivity level."""

    z: float
    """Deviation from the expectation, in noise units."""
    ratio: float
    """Observed / expected volume (with +1 smoothing)."""
    min_volume: int
    """Posts in the last hour, at least."""
    negative_z: float
    negative_rise: float
    """Rise of the negative share, in share points (0.15 = 15 points)."""


THRESHOLDS: Final[dict[Sensitivity, Thresholds]] = {
    "low": Thresholds(z=6.0, ratio=3.0, min_volume=30, negative_z=5.0, negative_rise=0.25),
    "medium": Thresholds(z=4.5, ratio=2.0, min_volume=15, negative_z=4.0, negative_rise=0.15),
    "high": Thresholds(z=3.5, ratio=1.5, min_volume=12, negative_z=3.5, negative_rise=0.10),
}
"""``low`` sensitivity raises only on large, sure spikes; ``high`` raises on smaller ones."""


class Spike(msgspec.Struct, frozen=True, kw_only=True):
    """One detected spike and the figures that explain it."""

    kind: SpikeKind
    observed: float
    """Posts in the last hour (volume) or negative share of the last hour."""
    expected: float
    """What the baseline predicted for that hour."""
    z: float
    ratio: float = 0.0
    daily_factor: float = 1.0
    """How much the daily cycle raised (above 1) or lowered the expectation."""
    sensitivity: Sensitivity = "medium"
    at: datetime | None = None
    """Start of the hour that spiked."""


def _noise_sd(values: Sequence[float]) -> float:
    """Robust standard deviation of hour-to-hour noise: the MAD of first differences / sqrt 2.

    Differences cancel a slow trend (the baseline hours of a daily cycle trend up or down),
    so a ramp is not mistaken for noise.
    """
    diffs = [b - a for a, b in itertools.pairwise(values)]
    centre = median(diffs)
    return median(abs(d - centre) for d in diffs) * 1.4826 / math.sqrt(2)


PRIOR: Final = 5.0
"""Pseudo-count pulling the daily-cycle factor to 1 when counts are small (noise, not cycle)."""


def daily_factor(volumes: Sequence[float]) -> float:
    """How the same hour compared with its previous 12 h on earlier days (median over days).

    ``volumes`` ends with the hour under test. Each day's ratio uses the hour and its two
    neighbours against three times the median of the 12 hours before, shrunk towards 1 by
    :data:`PRIOR`; 1.0 when there is less than a day of history.
    """
    factors = []
    last = len(volumes) - 1
    for day in range(1, MAX_DAYS + 1):
        hour = last - day * DAY
        if hour - BASELINE_HOURS < 0 or hour + 1 > last:
            break
        base = median(volumes[hour - BASELINE_HOURS : hour])
        window = volumes[hour - 1] + volumes[hour] + volumes[hour + 1]
        factors.append((window + PRIOR) / (3 * base + PRIOR))
    if not factors:
        return 1.0
    return min(4.0, max(0.25, median(factors)))


def volume_spike(
    volumes: Sequence[float], sensitivity: Sensitivity = "medium", at: datetime | None = None
) -> Spike | None:
    """A volume spike in the last element of hourly ``volumes``, or None.

    Needs at least 13 hours; 37 or more lets the daily cycle be accounted for.
    """
    if len(volumes) < BASELINE_HOURS + 1:
        return None
    limits = THRESHOLDS[sensitivity]
    observed = float(volumes[-1])
    baseline = volumes[-BASELINE_HOURS - 1 : -1]
    centre = median(baseline)
    factor = daily_factor(volumes)
    expected = centre * factor
    # Anscombe's transform makes Poisson counts near-normal even in the tail of small means;
    # a baseline noisier than Poisson (MAD above sqrt(mean)) widens the unit further.
    overdispersion = (_noise_sd(baseline) * factor) ** 2 / max(expected, 1.0)
    z = (2 * (math.sqrt(observed + 0.375) - math.sqrt(expected + 0.375))) / math.sqrt(
        max(1.0, overdispersion)
    )
    ratio = (observed + 1) / (expected + 1)
    if observed < limits.min_volume or z < limits.z or ratio < limits.ratio:
        return None
    return Spike(
        kind="volume",
        observed=observed,
        expected=round(expected, 2),
        z=round(z, 2),
        ratio=round(ratio, 2),
        daily_factor=round(factor, 3),
        sensitivity=sensitivity,
        at=at,
    )


def negative_share_spike(
    volumes: Sequence[int],
    negatives: Sequence[int],
    sensitivity: Sensitivity = "medium",
    at: datetime | None = None,
) -> Spike | None:
    """A rise of the negative share in the last hour against the previous 12, or None."""
    if len(volumes) < BASELINE_HOURS + 1 or len(negatives) != len(volumes):
        return None
    limits = THRESHOLDS[sensitivity]
    n = volumes[-1]
    if n < limits.min_volume:
        return None
    share = negatives[-1] / n
    base_n = sum(volumes[-BASELINE_HOURS - 1 : -1])
    base_neg = sum(negatives[-BASELINE_HOURS - 1 : -1])
    # With little history, assume a neutral-leaning prior rather than a share of zero.
    p0 = (base_neg + 1) / (base_n + 4)
    p0 = min(0.98, max(0.02, p0))
    z = (share - p0) / math.sqrt(p0 * (1 - p0) / n)
    if z < limits.negative_z or share - p0 < limits.negative_rise:
        return None
    return Spike(
        kind="negative_share",
        observed=round(share, 4),
        expected=round(p0, 4),
        z=round(z, 2),
        sensitivity=sensitivity,
        at=at,
    )
