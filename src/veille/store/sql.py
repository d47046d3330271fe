"""Dialect helpers shared by the store's writers: bulk key lookups and portable upserts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from veille.store.types import from_micros

Key = tuple[str, str]

CHUNK: Final = 500
"""Values per ``IN (…)`` lookup."""


class Dialect:
    """What differs between SQLite and PostgreSQL in the raw statements we write."""

    def __init__(self, engine: sa.Engine) -> None:
        self.dialect = engine.dialect
        self.name = engine.dialect.name
        self.sqlite = self.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def select_in(
        self, conn: sa.Connection, sql: str, platform: str, values: list[str], tail: str = ""
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (ending in ``WHERE platform = … AND <column>``, then ``tail``) for
        each value, with the raw DB-API cursor: the lookups run once per batch over up to
        thousands of keys."""
        cursor = conn.connection.cursor()
        try:
            for chunk in chunks(values):
                if self.sqlite:
                    # Padded to one of a few sizes (repeating a value changes no result of
                    # IN) so the statement is prepared once, not once per batch: preparing
                    # costs ~1,000 machine instructions per value, binding one ~450.
                    size = padded_size(len(chunk))
                    marks = ",".join("?" * size)
                    padding = [chunk[-1]] * (size - len(chunk))
                    cursor.execute(f"{sql} IN ({marks}){tail}", (platform, *chunk, *padding))
                else:
                    cursor.execute(f"{sql} = ANY(%s){tail}", (platform, chunk))
                yield from cursor.fetchall()
        finally:
            cursor.close()

    def insert_ignore(self, table: sa.Table) -> Any:
        """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect."""
        insert = sqlite_insert if self.sqlite else pg_insert
        return insert(table).on_conflict_do_nothing()

    def where_platform(self, select: str, column: str, *, also: str = "") -> str:
        """``select`` restricted to one platform, to the rows matching the condition ``also``
        (when given) and (by :meth:`select_in`) to a set of values of ``column``."""
        # Our own constant SQL text; every value is bound.
        condition = f"{also} AND " if also else ""
        return f"{select} WHERE platform = {self.mark} AND {condition}{column}"


def next_ids(conn: sa.Connection, table: str, count: int) -> list[int]:
    """``count`` fresh row ids of ``table`` (whose key is ``id``), for rows the caller inserts
    with explicit ids: SQLite continues after the largest (the writer holds the write lock from
    ``BEGIN IMMEDIATE``), PostgreSQL draws them from the column's sequence."""
    if count <= 0:
        return []
    if conn.dialect.name == "sqlite":
        # Our own constant table name.
        top = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar_one()  # noqa: S608
        return list(range(top + 1, top + 1 + count))
    rows = conn.exec_driver_sql(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "  # noqa: S608
        "FROM generate_series(1, %s)",
        (count,),
    ).all()
    return [row[0] for row in rows]


def by_platform(keys: Iterable[Key]) -> list[tuple[str, list[str]]]:
    """``keys`` grouped by platform, each id once, in first-seen order (not sorted: SQLite
    orders an ``IN`` list itself, so sorting thousands of ids per batch was wasted work)."""
    grouped: dict[str, dict[str, None]] = {}
    for platform, native in keys:
        ids = grouped.get(platform)
        if ids is None:
            grouped[platform] = ids = {}
        ids[native] = None
    return [(platform, list(ids)) for platform, ids in grouped.items()]


def padded_size(count: int) -> int:
    """The number of values an ``IN`` list of ``count`` values is padded to: the next power of
    two up to 64, then the next multiple of 50 (at most :data:`CHUNK`)."""
    if count <= 64:
        return 1 << max(0, count - 1).bit_length()
    return min(CHUNK, -(-count // 50) * 50)


def chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def as_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return from_micros(int(value))
