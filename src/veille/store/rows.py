"""Rows of a bulk insert cut to the columns worth binding.

The batch writer inserts thousands of new posts per statement. Most leave many columns at
their default (no URL, no quote, no edit …); a column that every row of a statement leaves at
its default is left out of the insert, the database then writing that default itself. Binding
those values cost 13,100 machine instructions per post in an insert-only count; the whole store
share fell by 9,000 with the Python cut, 11,100 with the compiled one (callgrind,
docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

Row = tuple[Any, ...]


def lean_python(
    rows: list[Row], defaults: Sequence[tuple[int, Any]]
) -> tuple[tuple[int, ...], list[Row]]:
    """The positions of the columns to insert (those not at their default in every row), and
    ``rows`` cut to them; ``defaults`` pairs a column's position with its default value."""
    if not rows:
        raise ValueError("lean() needs at least one row")
    width = len(rows[0])
    for number, row in enumerate(rows):
        if not isinstance(row, tuple) or len(row) != width:
            raise ValueError(f"lean() row {number} is not a tuple of {width} values")
    columns = list(zip(*rows, strict=True))
    dropped = {at for at, default in defaults if all(v == default for v in columns[at])}
    kept = tuple(at for at in range(width) if at not in dropped)
    if not dropped:
        return kept, rows
    return kept, list(zip(*[columns[at] for at in kept], strict=True))


try:
    # The same answers with a pointer comparison per value instead of a Python call (~6,000
    # machine instructions per post for the 18 columns the writer checks).
    from veille.store._rowsc import lean as lean  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - pip install -e . builds it
    lean = lean_python

COMPILED: Final = lean is not lean_python
