"""Fixtures shared by the whole suite."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from veille.testing import FakeClock, NatsServer, PostgresServer

# Property tests check behaviour, not speed (speed is measured in bench/): no per-example
# deadline, which a busy machine would otherwise turn into random failures.
settings.register_profile("veille", deadline=None)
settings.load_profile("veille")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout: public fixtures, labelled data and hostile input."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (it lives beside the checkout)")
    return SHARED_DATA


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- databases -------------------------------------------------------------------------------
# `db_url` gives each test a fresh, migrated database, once on SQLite and once on a real
# PostgreSQL 15 (marked `pg`) started on loopback for the session by `pg_server`. Use it for
# anything that talks to the store; `pg_url` alone when a test needs PostgreSQL only.


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole session (initdb as `postgres` if root)."""
    try:
        server = PostgresServer()
    except FileNotFoundError as exc:
        pytest.skip(f"PostgreSQL is not installed ({exc}); scripts/test installs it")
    with server:
        yield server


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """Name of a database migrated to the head once, copied for each test."""
    from veille.store.engine import create_engine
    from veille.store.migrate import upgrade

    name = "veille_template"
    engine = create_engine(pg_server.create_database(name))
    upgrade(engine)
    engine.dispose()
    return name


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> str:
    """URL of a fresh PostgreSQL database at the current schema."""
    return pg_server.create_database(f"t{next(_databases)}", template=pg_template)


_databases = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once for SQLite (in tmp_path) and once for PostgreSQL."""
    if request.param == "pg":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'veille.db'}"


# -- NATS ------------------------------------------------------------------------------------


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh ``nats-server -js`` on 127.0.0.1 (a free port, a temporary store) for one test.

    A missing binary fails the test (it is never skipped): scripts/test installs nats-server.
    """
    try:
        server = NatsServer()
    except FileNotFoundError as exc:
        pytest.fail(f"{exc}; scripts/test installs it")
    with server:
        yield server
