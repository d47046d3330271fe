"""Rows through one SQLite statement with the interpreter lock released (``store/_sqlitec.c``):
the same rows, counts and errors as Python's ``executemany``."""

from __future__ import annotations

import _sqlite3
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.store import _timec, bulk  # type: ignore[attr-defined]
from veille.store.bulk import executemany

pytestmark = pytest.mark.skipif(not bulk.COMPILED, reason="the compiled helper is not built")

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c)"
INSERT = "INSERT INTO t (id, a, b, c) VALUES (?, ?, ?, ?)"
VALUE = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",))),  # no lone surrogates
    st.binary(),
)


def connect(path: str = ":memory:") -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(TABLE)
    return connection


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = connect()
    yield connection
    connection.close()


def test_the_compiled_helper_is_in_use() -> None:
    assert bulk.COMPILED


def test_only_the_sqlite_library_python_calls_is_trusted(tmp_path: Path) -> None:
    """The handle of a connection may only go to the library that made it: a module that is
    not loaded, or does not call this SQLite, is refused (the cursor is used instead)."""
    assert bulk._sqlitec.same_library(_sqlite3.__file__)
    assert not bulk._sqlitec.same_library(str(tmp_path / "absent.so"))
    assert not bulk._sqlitec.same_library(_timec.__file__)  # loaded, without SQLite


@given(st.lists(st.tuples(VALUE, VALUE, VALUE), min_size=1, max_size=20))
def test_stores_what_the_cursor_stores(values: list[tuple[Any, Any, Any]]) -> None:
    rows = [(number, *row) for number, row in enumerate(values)]
    compiled, cursor = connect(), connect()
    try:
        assert executemany(compiled, INSERT, rows) == len(rows)
        cursor.executemany(INSERT, rows)
        read = "SELECT id, a, typeof(a), b, typeof(b), c, typeof(c) FROM t ORDER BY id"
        assert compiled.execute(read).fetchall() == cursor.execute(read).fetchall()
    finally:
        compiled.close()
        cursor.close()


def test_counts_only_the_rows_written(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO t (id, a) VALUES (2, 'kept')")
    sql = INSERT + " ON CONFLICT (id) DO NOTHING"
    assert executemany(db, sql, [(1, "x", None, None), (2, "y", None, None)]) == 1
    assert db.execute("SELECT a FROM t WHERE id = 2").fetchone() == ("kept",)


@pytest.mark.parametrize("compiled", [True, False])
def test_bytes_as_text_are_written_as_text(
    db: sqlite3.Connection, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "COMPILED", compiled)
    rows = [(1, "café".encode(), b"", None), (2, "plain", "é".encode(), 3)]
    assert executemany(db, INSERT, rows, bytes_as_text=True) == 2
    read = "SELECT a, typeof(a), b, typeof(b) FROM t ORDER BY id"
    assert db.execute(read).fetchall() == [
        ("café", "text", "", "text"),
        ("plain", "text", "é", "text"),
    ]


def test_an_empty_list_runs_nothing(db: sqlite3.Connection) -> None:
    assert executemany(db, "not even SQL", []) == 0


def test_writes_inside_the_callers_transaction(db: sqlite3.Connection) -> None:
    db.execute("BEGIN")
    executemany(db, INSERT, [(1, "a", None, None)])
    assert db.in_transaction
    db.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_conflict_raises_integrity_error_and_keeps_the_rows_before(
    db: sqlite3.Connection,
) -> None:
    db.execute("BEGIN")
    rows = [(1, "a", None, None), (2, "b", None, None), (1, "again", None, None)]
    with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: t\.id") as caught:
        executemany(db, INSERT, rows)
    assert caught.value.sqlite_errorcode == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
    assert db.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
    db.execute("ROLLBACK")


@pytest.mark.parametrize(
    ("sql", "rows", "error", "message"),
    [
        (INSERT, [(1, 2)], sqlite3.ProgrammingError, "takes 4 values, the rows hold 2"),
        (INSERT, [(1, 2, 3, 4), (5, 6)], ValueError, "row 1 is not a tuple of 4 values"),
        (INSERT, [[1, 2, 3, 4]], TypeError, "row 0 is a list, not a tuple"),
        (INSERT, [(1, [2], 3, 4)], TypeError, "row 0, value 1: type list is not supported"),
        (INSERT, [(1, 2**64, 3, 4)], OverflowError, "row 0, value 1"),
        (INSERT, [(1, "\udc80", 3, 4)], UnicodeEncodeError, "surrogates not allowed"),
        ("INSERT INTO nowhere VALUES (?)", [(1,)], sqlite3.OperationalError, "no such table"),
        ("  -- nothing", [(1,)], sqlite3.ProgrammingError, "holds no statement"),
    ],
)
def test_bad_input_is_refused_with_what_and_where(
    db: sqlite3.Connection, sql: str, rows: list[Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        executemany(db, sql, rows)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_closed_connection_is_refused() -> None:
    connection = connect()
    connection.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        executemany(connection, INSERT, [(1, 2, 3, 4)])


def test_other_connections_go_through_their_cursor() -> None:
    class Recording:
        def __init__(self, real: sqlite3.Connection) -> None:
            self.real, self.cursors = real, 0

        def cursor(self) -> sqlite3.Cursor:
            self.cursors += 1
            return self.real.cursor()

    real = connect()
    proxy = Recording(real)
    assert executemany(proxy, INSERT, [(1, "a", None, None), (2, "b", None, None)]) == 2
    assert proxy.cursors == 1
    assert real.execute("SELECT count(*) FROM t").fetchone() == (2,)
    real.close()
