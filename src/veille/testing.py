"""Helpers that tests and users share: a controllable clock and other stand-ins for the outside."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path


class FakeClock:
    """A clock that only moves when told to; call it like :func:`veille.clock.utcnow`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        """Move the clock forward and return the new time."""
        self.now += timedelta(seconds=seconds, **delta)
        return self.now


class PostgresServer:
    """A throw-away PostgreSQL server on loopback, in a temporary directory.

    Used by the test suite's ``pg_url`` fixture (``tests/conftest.py``) and usable on its own::

        with PostgresServer() as server:
            url = server.create_database("demo")   # postgresql+psycopg://…/demo

    ``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` system
    user (``runuser``). Durability is switched off: this is for tests only.
    """

    def __init__(self, bindir: str | None = None) -> None:
        self.bindir = Path(bindir) if bindir else find_postgres_bindir()
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="veille-pg-"))
        self._as_postgres = os.geteuid() == 0
        self._started = False

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        """initdb, then start the server and wait until it accepts connections."""
        if self._as_postgres:
            shutil.chown(self.datadir, "postgres", "postgres")
        data = str(self.datadir / "data")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            data,
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.datadir / "log"),
            "start",
        )
        self._started = True
        return self

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (optionally as a copy of ``template``) and return its URL."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            clause = f" TEMPLATE {template}" if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._started:
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )
            self._started = False
        shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def find_postgres_bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are (Debian keeps them out of PATH)."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return found[-1].parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
