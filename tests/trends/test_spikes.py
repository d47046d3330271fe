"""Spike detection on synthetic series: known spikes found, flat and cyclic noise left alone."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.trends.spikes import (
    THRESHOLDS,
    Sensitivity,
    daily_factor,
    negative_share_spike,
    volume_spike,
)

LEVELS: tuple[Sensitivity, ...] = ("low", "medium", "high")


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method for small means, a rounded normal for large ones (no numpy needed)."""
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def cyclic(hours: int, mean: float, amplitude: float, seed: int) -> list[int]:
    """Hourly counts with a daily cycle (quiet at night, busy in the day) and Poisson noise."""
    rng = random.Random(seed)
    return [
        poisson(rng, mean * (1 + amplitude * math.sin(2 * math.pi * (h % 24 - 6) / 24)))
        for h in range(hours)
    ]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("mean", [3.0, 20.0, 200.0])
def test_flat_noisy_series_raise_no_spike(level: Sensitivity, mean: float) -> None:
    series = cyclic(24 * 21, mean, 0.0, seed=int(mean) + 1)
    found = [t for t in range(40, len(series)) if volume_spike(series[: t + 1], level)]
    assert found == []


@pytest.mark.parametrize("level", LEVELS)
def test_daily_cycles_are_not_spikes(level: Sensitivity) -> None:
    # Busy days ten times quieter at night: the morning rise is steep every day.
    series = cyclic(24 * 21, 40.0, 0.9, seed=7)
    found = [t for t in range(24 * 2, len(series)) if volume_spike(series[: t + 1], level)]
    assert found == []


def test_the_morning_rise_would_be_a_spike_without_the_daily_factor() -> None:
    series = cyclic(24 * 10, 40.0, 0.9, seed=7)
    rises = [t for t in range(13, 24) if volume_spike(series[: t + 1], "high")]
    assert rises, "the first day has no history: its morning rise looks like a spike"
    assert daily_factor(series[: 24 * 8 + 9]) > 1.5


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", range(5))
def test_known_spikes_are_found(level: Sensitivity, seed: int) -> None:
    series = cyclic(24 * 5, 20.0, 0.5, seed=seed)
    hour = 24 * 4 + 14
    series[hour] = series[hour] * 4 + 40
    spike = volume_spike(series[: hour + 1], level)
    assert spike is not None
    assert spike.kind == "volume"
    assert spike.observed == series[hour]
    assert spike.z >= THRESHOLDS[level].z
    assert spike.ratio >= THRESHOLDS[level].ratio


def test_sensitivity_levels_are_ordered() -> None:
    """A moderate spike is seen at high sensitivity, not at low."""
    series = [20] * 40
    series[-1] = 45
    assert volume_spike(series, "high") is not None
    assert volume_spike(series, "low") is None


def test_small_counts_never_spike() -> None:
    series = [0] * 20 + [5]
    assert all(volume_spike(series, level) is None for level in LEVELS)


def test_too_little_history_gives_no_answer() -> None:
    assert volume_spike([0] * 5 + [500]) is None
    assert negative_share_spike([10] * 5, [1] * 5) is None


def test_negative_share_spike_and_its_absence() -> None:
    rng = random.Random(3)
    volumes = [poisson(rng, 40) for _ in range(30)]
    negatives = [sum(rng.random() < 0.2 for _ in range(v)) for v in volumes]
    assert all(
        negative_share_spike(volumes[: t + 1], negatives[: t + 1], level) is None
        for t in range(13, 30)
        for level in LEVELS
    )
    volumes.append(40)
    negatives.append(28)  # 70 % negative against about 20 %
    spike = negative_share_spike(volumes, negatives, "medium")
    assert spike is not None
    assert spike.kind == "negative_share"
    assert spike.observed == 0.7
    assert 0.1 < spike.expected < 0.3


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=0, max_size=200))
def test_any_series_gives_a_spike_or_none(series: list[int]) -> None:
    for level in LEVELS:
        spike = volume_spike(series, level)
        assert spike is None or spike.observed >= THRESHOLDS[level].min_volume
        negs = [v // 3 for v in series]
        assert negative_share_spike(series, negs, level) is None or series[-1] > 0
