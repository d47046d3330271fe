"""Many rows through one SQLite statement, without holding the interpreter lock.

The batch writer runs in a thread of the main process, beside the event loop that reads the
sources and decodes what the worker processes send back. Python's ``executemany`` binds every
value while it holds the interpreter lock and lets it go only inside each ``sqlite3_step``, so
binding thousands of new posts a batch is serialised with the event loop's work: timed end to
end, the writer thread waited ~8 µs per post for the lock on top of its ~20 µs of CPU.
:func:`executemany` reads the values once with the lock held and then binds and steps every row
without it (``store/_sqlitec.c``). Where the compiled helper is missing, or Python's ``sqlite3``
calls another SQLite library than the one it was built against, the cursor does the same work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

_sqlitec: Any
try:
    import _sqlite3

    from veille.store import _sqlitec  # type: ignore[attr-defined,no-redef]
except ImportError:  # no compiler or SQLite headers at install time: the cursor does it
    _sqlitec = None


def _compiled_usable() -> bool:
    if _sqlitec is None:
        return False
    path = getattr(_sqlite3, "__file__", None)
    return path is not None and bool(_sqlitec.same_library(path))


COMPILED: Final = _compiled_usable()
"""Whether :func:`executemany` releases the interpreter lock (the compiled helper is built
and calls the same SQLite as Python's ``sqlite3``)."""


def executemany(
    connection: Any, sql: str, rows: Sequence[tuple[Any, ...]], *, bytes_as_text: bool = False
) -> int:
    """Run ``sql`` once per row on ``connection`` (a ``sqlite3.Connection``, in the caller's
    transaction) and return the number of rows it changed.

    Values are ``None``, ``int``, ``float``, ``str`` or ``bytes``; with ``bytes_as_text`` bytes
    are UTF-8 (the caller checked) and written as text: a raw payload is stored as it was read,
    never decoded into a ``str``. Errors are those of Python's ``sqlite3`` (``IntegrityError``
    …); as with its ``executemany``, the rows before a failing one stay written in the
    transaction. Any other DB-API connection (PostgreSQL) gets the rows through its cursor.
    """
    if COMPILED and isinstance(connection, sqlite3.Connection):
        return int(_sqlitec.executemany(connection, sql, rows, bytes_as_text))
    if bytes_as_text:
        rows = [
            tuple(v.decode() if isinstance(v, bytes) else v for v in row)
            if any(isinstance(v, bytes) for v in row)
            else row
            for row in rows
        ]
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, rows)
        return max(int(cursor.rowcount), 0)
    finally:
        cursor.close()
