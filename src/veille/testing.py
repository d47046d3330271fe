"""Helpers that tests and users share: a controllable clock and other stand-ins for the outside."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
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


class NatsServer:
    """A throw-away ``nats-server -js`` on loopback with its store in a temporary directory.

    Used by the ``nats_url`` test fixture and the bus benchmark::

        with NatsServer() as server:
            url = server.url   # nats://127.0.0.1:PORT
    """

    def __init__(
        self, binary: str | None = None, *, port: int | None = None, jetstream: bool = True
    ) -> None:
        found = binary or shutil.which("nats-server")
        if not found:
            raise FileNotFoundError(
                "nats-server is not installed (Debian: apt-get install nats-server)"
            )
        self.binary = found
        self.port = port or free_port()
        self.storedir = Path(tempfile.mkdtemp(prefix="veille-nats-"))
        self.jetstream = jetstream
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        """Start the server (same port and store as before, after a :meth:`kill`) and wait
        until it accepts connections."""
        command = [self.binary, "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            command += ["-js", "-sd", str(self.storedir)]
        with (self.storedir / "log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited: {(self.storedir / 'log').read_text()[-2000:]}"
                )
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port} within 30 s")

    def kill(self) -> None:
        """Stop the server at once (its store stays, for a restart)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        """Stop the server and remove its store."""
        self.kill()
        shutil.rmtree(self.storedir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ReceivedRequest:
    """One HTTP request a :class:`FakeWebhookReceiver` read, and how it answered."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.answer = ""
        """``"200"``, ``"500"``, ``"429"``, ``"hang"`` or ``"close"``."""
        self.at = 0.0
        """``time.monotonic()`` when the body was fully read."""


class FakeWebhookReceiver:
    """A misbehaving HTTP receiver on 127.0.0.1 for delivery tests and the latency benchmark.

    ``behave(n, request)`` picks the answer to the n-th request (0-based): ``"200"``,
    ``"500"``, ``"429"`` (with ``Retry-After: 1``), ``"hang"`` (never answers) or ``"close"``
    (drops the connection before answering). Every request is recorded in ``requests``.
    """

    def __init__(self, behave: Callable[[int, ReceivedRequest], str] | None = None) -> None:
        self.behave = behave or (lambda n, request: "200")
        self.requests: list[ReceivedRequest] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self) -> list[ReceivedRequest]:
        """The requests answered with 200."""
        return [r for r in self.requests if r.answer == "200"]

    async def __aenter__(self) -> FakeWebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                answer = self.behave(len(self.requests), request)
                request.answer = answer
                self.requests.append(request)
                self.arrived.set()
                if answer == "close":
                    return
                if answer == "hang":
                    await reader.read()  # until the client gives up and closes
                    return
                extra = "Retry-After: 1\r\n" if answer == "429" else ""
                reply = {"200": "OK", "429": "Too Many Requests"}.get(answer, "Server Error")
                writer.write(
                    f"HTTP/1.1 {answer} {reply}\r\nContent-Length: 0\r\n{extra}\r\n".encode()
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> ReceivedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = ReceivedRequest(method, path, headers, body)
        request.at = time.monotonic()
        return request


_TEXT_KEYS = frozenset({"text", "content", "selftext", "body", "title", "summary"})


def recorded_texts(folder: Path, limit: int = 5_000) -> list[str]:
    """The distinct post texts (``text``, ``content``, ``body`` … fields) of the recorded JSON
    and JSON Lines payloads under ``folder``, in file order: real posts for benchmarks and
    equivalence tests. Files that do not parse are skipped."""
    found: dict[str, None] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _TEXT_KEYS and isinstance(value, str) and value.strip():
                    found[value] = None
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(folder.rglob("*.json*")):
        if len(found) >= limit or path.suffix not in (".json", ".jsonl"):
            continue
        try:
            raw = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in raw.splitlines() if path.suffix == ".jsonl" else [raw]:
            try:
                walk(json.loads(line))
            except ValueError:
                continue
    return list(found)[:limit]
