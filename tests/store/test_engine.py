"""Opening databases: URLs, SQLite pragmas, write transactions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from veille.store import StoreError, create_engine
from veille.store.engine import WRITE, write_transaction


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://h/db", "only sqlite and postgresql"),
        ("postgresql+psycopg2://h/db", "use the psycopg driver"),
    ],
)
def test_bad_urls_are_explained(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        create_engine(url)


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/sub/dir/v.db", synchronous="full")
    with engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 2
    assert (tmp_path / "sub" / "dir" / "v.db").exists()
    engine.dispose()


def test_write_transactions_take_the_lock_up_front(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/v.db", busy_timeout=0.2)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    with engine.connect().execution_options(**WRITE) as first, first.begin():
        # A second writer is refused at BEGIN, before it has done any work.
        with (
            engine.connect().execution_options(**WRITE) as second,
            pytest.raises(sa.exc.OperationalError, match="locked"),
        ):
            second.begin()
        # Readers are not blocked by the writer.
        with engine.connect() as reader:
            assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    engine.dispose()


def test_a_write_transaction_that_reads_first_waits_for_the_other_writer(tmp_path: Path) -> None:
    # A deferred transaction that reads, then writes after another connection committed, fails
    # at once with "database is locked" (its snapshot is stale); write_transaction waits instead.
    engine = create_engine(f"sqlite:///{tmp_path}/v.db", busy_timeout=10)
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    errors: list[BaseException] = []
    started = threading.Event()

    def read_then_write() -> None:
        started.set()
        try:
            with write_transaction(engine) as conn:
                n = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", (n,))
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    with write_transaction(engine) as other:
        other.exec_driver_sql("INSERT INTO t VALUES ('other')")
        worker = threading.Thread(target=read_then_write)
        worker.start()
        started.wait()
        time.sleep(0.2)  # let the worker reach its read (if it were deferred)
    worker.join()
    assert errors == []
    with engine.connect() as conn:
        assert sorted(conn.exec_driver_sql("SELECT x FROM t").scalars(), key=str) == [1, "other"]
    engine.dispose()


def test_a_writer_that_begins_again_at_once_does_not_starve_the_others(tmp_path: Path) -> None:
    # SQLite alone hands its lock to whoever polls at the right moment: a writer committing and
    # beginning again back to back (the pipeline under a backlog) kept it for ever, and another
    # thread's write gave up with "database is locked". The process's writers now take turns.
    engine = create_engine(f"sqlite:///{tmp_path}/v.db", busy_timeout=3)
    other = create_engine(f"sqlite:///{tmp_path}/v.db", busy_timeout=3)  # same file, own pool
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    stop = threading.Event()
    hogged = threading.Event()

    def hog() -> None:
        while not stop.is_set():
            with write_transaction(engine) as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES ('hog')")
                hogged.set()
                time.sleep(0.05)  # work inside the transaction

    worker = threading.Thread(target=hog)
    worker.start()
    try:
        hogged.wait()
        for _ in range(5):
            with write_transaction(other) as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES ('other')")
    finally:
        stop.set()
        worker.join()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t WHERE x = 'other'").scalar() == 5
    engine.dispose()
    other.dispose()
