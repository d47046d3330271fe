"""Replay a JSON Lines file (plain or ``.gz``) or standard input, resumably.

One line is one payload (a generic JSON post unless another platform is named). The resume
cursor is the byte offset just past the last line of a batch, so a restarted replay seeks there
and goes on; on standard input (a pipe) it skips that many bytes, which is right when the same
stream is piped again. Lines longer than ``max_line_bytes`` are quarantined (their first bytes
and the reason), never buffered whole. With ``follow`` the file is tailed like ``tail -f``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from veille.clock import Clock, utcnow
from veille.model import Quarantined, RawItem
from veille.sources.base import Batch

STDIN = "-"
_CHUNK = 1 << 18
_REJECT_PREFIX = 4096


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class ReplayError(ValueError):
    """The replay cannot start (missing file, bad cursor)."""


class ReplaySource:
    """JSON Lines from a file or stdin, as batches of RawItems with a byte-offset cursor."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        platform: str = "generic",
        batch_size: int = 500,
        max_line_bytes: int = 1 << 20,
        follow: bool = False,
        poll_seconds: float = 0.5,
        rate: float | None = None,
        clock: Clock = utcnow,
    ) -> None:
        if batch_size < 1 or max_line_bytes < 1:
            raise ValueError("batch_size and max_line_bytes must be positive")
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.path = STDIN if str(path) == STDIN else Path(path).resolve()
        self.name = name or ("replay:stdin" if self.path == STDIN else f"replay:{self.path}")
        self.platform = platform
        # Paced replays go out in small batches so the stream looks continuous.
        self.batch_size = batch_size if rate is None else max(1, min(batch_size, int(rate / 10)))
        self.max_line_bytes = max_line_bytes
        self.follow = follow
        self.poll_seconds = poll_seconds
        self.rate = rate
        self.clock = clock

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Yield batches from byte offset ``cursor`` (``None``: the start) to the end."""
        offset = self._start(cursor)
        line_no = 0 if offset else 1
        buffer = b""
        skipping = False  # inside an over-long line, discarding up to its newline
        items: list[RawItem] = []
        rejected: list[Quarantined] = []
        loop = asyncio.get_running_loop()
        started, sent = loop.time(), 0
        async for chunk in self._chunks(offset):
            if chunk is not None:
                if skipping:
                    newline = chunk.find(b"\n")
                    if newline < 0:
                        offset += len(chunk)
                        continue
                    offset += newline + 1
                    line_no += 1
                    chunk = chunk[newline + 1 :]
                    skipping = False
                buffer += chunk
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                received = self.clock()
                for line in lines:
                    end = offset + len(line) + 1
                    origin = f"line {line_no}" if line_no else f"byte {offset}"
                    if len(line) > self.max_line_bytes:
                        rejected.append(self._too_long(line, origin, received))
                    elif line and not line.isspace():  # strip() would copy every line
                        items.append(
                            RawItem(
                                source=self.name,
                                platform=self.platform,
                                payload=line.removesuffix(b"\r"),
                                received_at=received,
                                origin=origin,
                            )
                        )
                    offset = end
                    if line_no:
                        line_no += 1
                    if len(items) >= self.batch_size:
                        yield Batch(items, cursor=str(offset), rejected=rejected)
                        items, rejected = [], []
                        sent += self.batch_size
                        await self._pace(loop, started, sent)
                if len(buffer) > self.max_line_bytes:
                    origin = f"line {line_no}" if line_no else f"byte {offset}"
                    rejected.append(self._too_long(buffer, origin, received))
                    offset += len(buffer)
                    buffer, skipping = b"", True
            if chunk is None and (items or rejected):
                # No more input for now: hand over the partial batch rather than sit on it.
                yield Batch(items, cursor=str(offset), rejected=rejected)
                sent += len(items)
                items, rejected = [], []
                await self._pace(loop, started, sent)
        if buffer.strip() and not skipping:
            # A last line without its newline is still a line.
            origin = f"line {line_no}" if line_no else f"byte {offset}"
            items.append(
                RawItem(
                    source=self.name,
                    platform=self.platform,
                    payload=buffer.removesuffix(b"\r"),
                    received_at=self.clock(),
                    origin=origin,
                )
            )
            offset += len(buffer)
        if items or rejected:
            yield Batch(items, cursor=str(offset), rejected=rejected)

    def _start(self, cursor: str | None) -> int:
        if cursor is None:
            return 0
        if not cursor.isdigit():
            raise ReplayError(f"{self.name}: cursor {cursor!r} is not a byte offset")
        offset = int(cursor)
        if self.path != STDIN and not str(self.path).endswith(".gz"):
            size = self._path().stat().st_size
            if offset > size:
                raise ReplayError(
                    f"{self.name}: cursor {offset} is past the end of the file ({size} bytes); "
                    "was the file replaced? Replay it from the start."
                )
        return offset

    def _path(self) -> Path:
        assert isinstance(self.path, Path)
        if not self.path.is_file():
            raise ReplayError(f"{self.name}: no such file: {self.path}")
        return self.path

    def _too_long(self, line: bytes, origin: str, at: datetime) -> Quarantined:
        return Quarantined(
            source=self.name,
            stage="source",
            error=f"{origin}: line longer than {self.max_line_bytes} bytes "
            f"(only its first {_REJECT_PREFIX} bytes are kept)",
            payload=line[:_REJECT_PREFIX],
            at=at,
            platform=self.platform,
        )

    async def _pace(self, loop: asyncio.AbstractEventLoop, started: float, sent: int) -> None:
        if self.rate is not None:
            ahead = sent / self.rate - (loop.time() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def _chunks(self, offset: int) -> AsyncIterator[bytes | None]:
        """Raw bytes from ``offset``; ``None`` whenever no more input is ready right now."""
        if self.path == STDIN:
            fd = sys.stdin.fileno()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                with os.fdopen(os.dup(fd), "rb") as file:
                    file.seek(offset)
                    async for chunk in self._file_chunks(file):
                        yield chunk
            else:
                async for chunk in _pipe_chunks(fd, offset):
                    yield chunk
            return
        path = self._path()
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                _skip(file, offset)
                async for chunk in self._file_chunks(file):
                    yield chunk
            return
        with path.open("rb") as file:
            file.seek(offset)
            async for chunk in self._file_chunks(file):
                yield chunk

    async def _file_chunks(self, file: _Readable) -> AsyncIterator[bytes | None]:
        # A local file read does not block the loop for long: no thread needed.
        while True:
            chunk = file.read(_CHUNK)
            if chunk:
                yield chunk
                await asyncio.sleep(0)  # let the rest of the pipeline run between chunks
                continue
            if not self.follow:
                return
            yield None
            await asyncio.sleep(self.poll_seconds)


def _skip(file: _Readable, count: int) -> None:
    while count > 0:
        data = file.read(min(count, _CHUNK))
        if not data:
            return
        count -= len(data)


async def _pipe_chunks(fd: int, skip: int) -> AsyncIterator[bytes | None]:
    """Read a pipe in a daemon thread (a blocked read must never hold up shutdown)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(maxsize=4)

    def reader() -> None:
        def hand_over(data: bytes | BaseException) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(data), loop).result()

        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
            try:
                for data in _read_all(fd):
                    hand_over(data)
            except OSError as exc:
                hand_over(exc)
            hand_over(b"")

    threading.Thread(target=reader, name="veille-stdin", daemon=True).start()
    while True:
        data = await queue.get()
        if isinstance(data, BaseException):
            raise ReplayError(f"replay:stdin: read failed: {data}") from data
        if not data:
            return
        if skip:
            cut = min(skip, len(data))
            data, skip = data[cut:], skip - cut
        if data:
            yield data
        if queue.empty():
            yield None


def _read_all(fd: int) -> Iterator[bytes]:
    while data := os.read(fd, _CHUNK):
        yield data
