"""Times as SQLite keeps them: the compiled conversion answers exactly like the pure-Python one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.store import types
from veille.store.types import from_micros, to_micros_python

OFFSETS = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
)
ZONES = st.one_of(st.none(), st.just(UTC), st.builds(timezone, OFFSETS))


def test_compiled_conversion_is_in_use() -> None:
    assert types.to_micros is not to_micros_python


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=ZONES))
def test_compiled_and_python_conversions_agree(value: datetime) -> None:
    assert types.to_micros(value) == to_micros_python(value)


@given(st.integers(min_value=-62_000_000_000_000_000, max_value=253_000_000_000_000_000))
def test_round_trip(micros: int) -> None:
    assert types.to_micros(from_micros(micros)) == micros


def test_known_values_and_bad_input() -> None:
    assert types.to_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert types.to_micros(datetime(1969, 12, 31, 23, 59, 59, 999999)) == -1
    brussels = timezone(timedelta(hours=1))
    assert types.to_micros(datetime(2026, 3, 1, 13, 0, tzinfo=brussels)) == types.to_micros(
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    )
    with pytest.raises(TypeError, match="datetime"):
        types.to_micros("2026-03-01")  # type: ignore[arg-type]
