"""Opening a database: SQLite in WAL mode (the default) or PostgreSQL through psycopg 3."""

from __future__ import annotations

# isort: off
# Before the first import of sqlite3 in the process: SQLite takes its process-wide settings only
# before it starts (see the module).
from veille.store import sqlite_setup  # noqa: F401

# isort: on
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

Synchronous = Literal["off", "normal", "full", "extra"]

WRITE: Final = {"veille_write": True}
"""Execution options of a writing connection: on SQLite its transaction starts with
``BEGIN IMMEDIATE``, so it takes the write lock up front instead of failing halfway."""

SQLITE_PRAGMAS: Final = {
    "page_size": "8192",
    "journal_mode": "wal",
    "foreign_keys": "on",
    "temp_store": "memory",
    "cache_size": "-65536",
    "mmap_size": str(256 * 1024 * 1024),
    "wal_autocheckpoint": "2000",
}
"""Applied to every SQLite connection (``synchronous`` comes from the settings).

``page_size`` takes effect only when the database file is created (before WAL is on): with 8 KiB
pages the posts and full-text inserts cost the same as with the 4 KiB default on a small
database and less as it grows (bench/store.py: 19.0 against 18.9 µs per post over 20,000 posts,
19.6 against 24.3 over 80,000). WAL lets readers run beside the single writer; 64 MiB of page
cache and memory-mapped reads keep the unique index hot; a checkpoint every 2000 pages (16 MiB)
halves the number of fsyncs of the default while bounding the WAL file."""

STATEMENT_CACHE: Final = 256
"""Prepared statements each SQLite connection keeps (the ``sqlite3`` default is 128): the
key lookups of ``veille.store.sql.Dialect.select_in`` come in 16 padded sizes each."""


@contextmanager
def write_transaction(engine: Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that writes: committed on exit, rolled back on error.

    On SQLite a plain ``engine.begin()`` starts a deferred transaction; when it first reads and
    then writes while another connection wrote, SQLite answers "database is locked" at once
    instead of waiting, so every writer goes through here (``BEGIN IMMEDIATE``).
    """
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        yield conn


# The sqlite3 module binds int, float, str and bytes directly, but looks every other value
# (None, bool) up through the adapter protocol: two failed attribute lookups per parameter,
# which made None and bool ~7x dearer to bind than an int (the posts row has ten of them).
# Registered adapters short-cut that lookup; they return what sqlite3 would bind anyway
# (NULL for None, 0/1 for a bool), so nothing stored changes.
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))  # a C callable
sqlite3.register_adapter(bool, int)


class _WriteGate:
    """First come, first served among one process's writers of one SQLite file.

    SQLite hands its write lock to whoever polls at the right moment (the busy timeout sleeps
    and retries): a writer that commits and begins again at once — the pipeline working off a
    backlog — keeps it for ever, and the alert engine's other writers give up with "database is
    locked". Queued here, a writer waits only for the writers of this process before it.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._queue: deque[threading.Event] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._queue.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ended
                return True
            self._queue.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._queue:
                self._queue.popleft().set()  # the gate passes straight to the next writer
            else:
                self._held = False


_gates: dict[str, _WriteGate] = {}
_gates_mutex = threading.Lock()


def _gate_of(database: str) -> _WriteGate:
    """The process's gate for a database file (engines on the same file share it)."""
    key = str(Path(database).expanduser().resolve())
    with _gates_mutex:
        return _gates.setdefault(key, _WriteGate())


class _GatedConnection(sqlite3.Connection):
    """A SQLite connection that holds its file's write gate from ``BEGIN IMMEDIATE`` until its
    transaction ends (commit, rollback, or the connection closing)."""

    gate: _WriteGate | None = None
    holding = False

    def enter_gate(self, timeout: float) -> bool:
        if self.gate is None or self.holding:
            return True
        self.holding = self.gate.acquire(timeout)
        return self.holding

    def leave_gate(self) -> None:
        if self.holding and self.gate is not None:
            self.holding = False
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_gate()


class StoreError(RuntimeError):
    """The database cannot be used as asked (bad URL, unsupported engine, newer schema …)."""


def create_engine(
    url: str, *, synchronous: Synchronous = "normal", busy_timeout: float = 30.0
) -> Engine:
    """An engine for ``url``: ``sqlite:///path`` or ``postgresql+psycopg://user@host/db``.

    On SQLite ``synchronous=normal`` survives a killed process with every committed batch; a
    power cut may lose the last batches, but never splits one from its cursor (``full`` fsyncs
    every commit).
    """
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"store url {url!r} is not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, synchronous, busy_timeout)
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", ""):
            raise StoreError(f"store url {url!r}: use the psycopg driver (postgresql+psycopg://)")
        return sa.create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            connect_args={"connect_timeout": int(busy_timeout)},
        )
    raise StoreError(f"store url {url!r}: only sqlite and postgresql are supported")


def _sqlite_engine(url: sa.URL, synchronous: Synchronous, busy_timeout: float) -> Engine:
    database = url.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # The default pool keeps connections (and their 64 MiB page caches) between batches.
    engine = sa.create_engine(
        url,
        connect_args={
            "timeout": busy_timeout,
            "factory": _GatedConnection,
            "cached_statements": STATEMENT_CACHE,
        },
    )
    gate = None if memory else _gate_of(database)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (see _begin): pysqlite's implicit transactions are off.
        dbapi_connection.isolation_level = None
        dbapi_connection.gate = gate
        cursor = dbapi_connection.cursor()
        for name, value in SQLITE_PRAGMAS.items():
            if memory and name in ("journal_mode", "mmap_size"):
                continue
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        if not connection.get_execution_options().get("veille_write", False):
            connection.exec_driver_sql("BEGIN")
            return
        dbapi = connection.connection.dbapi_connection
        gated = dbapi if isinstance(dbapi, _GatedConnection) else None
        if gated is not None and not gated.enter_gate(busy_timeout):
            locked = sqlite3.OperationalError("database is locked (by this process's writers)")
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, locked)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if gated is not None:
                gated.leave_gate()
            raise

    return engine
