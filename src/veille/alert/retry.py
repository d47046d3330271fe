"""When to try a failed delivery again: exponential backoff with jitter, and ``Retry-After``."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from veille.config import AlertDelivery


def backoff(attempt: int, delivery: AlertDelivery, rng: random.Random | None = None) -> timedelta:
    """Delay before attempt ``attempt + 1`` after ``attempt`` failures (``attempt`` ≥ 1).

    Doubles from ``backoff_initial`` up to ``backoff_max``, then draws uniformly from the upper
    half ("equal jitter"): retries of many notifications spread out instead of arriving in
    waves at a receiver that is just coming back.
    """
    initial = delivery.backoff_initial.total_seconds()
    ceiling = delivery.backoff_max.total_seconds()
    full = min(ceiling, initial * 2 ** min(max(attempt - 1, 0), 62))
    draw = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=full * draw)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as a delay, or ``None`` if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=min(int(text[:9]), 10**8))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(timedelta(0), when - now)


def next_attempt_delay(
    attempt: int,
    delivery: AlertDelivery,
    retry_after: timedelta | None = None,
    rng: random.Random | None = None,
) -> timedelta:
    """The wait before the next attempt: the receiver's ``Retry-After`` when it gave one
    (capped by ``retry_after_max``), never less than our own backoff."""
    delay = backoff(attempt, delivery, rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, delivery.retry_after_max))
    return delay
