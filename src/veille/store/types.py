"""Column types that mean the same on SQLite and PostgreSQL.

Times are timezone-aware UTC ``datetime`` values everywhere in Python. PostgreSQL keeps them as
``timestamptz``; SQLite keeps them as integer microseconds since the Unix epoch, which sorts,
compares and indexes exactly and costs eight bytes. Lists and maps are kept as JSON text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from sqlalchemy import BigInteger, DateTime, Dialect, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)


def aware(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_micros_python(value: datetime) -> int:
    """Microseconds since the Unix epoch (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _MICRO


try:
    # The same answers without a timedelta division (every stored post's times go through it).
    from veille.store._timec import to_micros as to_micros  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - pip install -e . builds it
    to_micros = to_micros_python


def from_micros(value: int) -> datetime:
    """The aware UTC datetime for a count of microseconds since the Unix epoch."""
    return EPOCH + timedelta(microseconds=value)


class Timestamp(TypeDecorator[datetime]):
    """An aware UTC datetime: ``timestamptz`` on PostgreSQL, epoch microseconds on SQLite."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return aware(value)
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return aware(value)
        return from_micros(int(value))


class JSONText(TypeDecorator[Any]):
    """A JSON value (list, map, string, number) kept as text, identical on both engines."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return orjson.dumps(value).decode()

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return orjson.loads(value)


def time_binder(dialect_name: str) -> Any:
    """The function that turns a datetime into the driver value for raw DB-API statements."""
    if dialect_name == "postgresql":
        return aware
    return to_micros
