"""Backoff with jitter and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from veille.alert.retry import backoff, next_attempt_delay, parse_retry_after
from veille.config import AlertDelivery

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
DELIVERY = AlertDelivery(backoff_initial=timedelta(seconds=1), backoff_max=timedelta(minutes=5))


@given(st.integers(1, 200), st.integers(0, 2**32))
def test_backoff_doubles_with_equal_jitter_up_to_the_ceiling(attempt: int, seed: int) -> None:
    delay = backoff(attempt, DELIVERY, random.Random(seed)).total_seconds()
    full = min(300.0, 2.0 ** (attempt - 1))
    assert full / 2 <= delay <= full


def test_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    assert len({backoff(5, DELIVERY, rng) for _ in range(20)}) > 10


@given(st.integers(1, 30), st.integers(0, 10**6))
def test_retry_after_is_honoured_up_to_its_cap(attempt: int, wait: int) -> None:
    delay = next_attempt_delay(attempt, DELIVERY, timedelta(seconds=wait), random.Random(0))
    assert delay >= min(timedelta(seconds=wait), DELIVERY.retry_after_max)
    assert delay <= max(DELIVERY.retry_after_max, DELIVERY.backoff_max)


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", NOW) == timedelta(seconds=30)
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", NOW) == timedelta(0)
    for bad in (None, "", "soon", "-5", "1.5", "Thu, 99 Foo", "9" * 50):
        got = parse_retry_after(bad, NOW)
        assert got is None or got <= timedelta(seconds=10**8)
