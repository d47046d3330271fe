"""Server-sent events (``text/event-stream``) read from a bounded line stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec


class Event(msgspec.Struct, frozen=True):
    """One dispatched event: its type (``message`` when unnamed) and its data lines joined."""

    event: str
    data: bytes


async def events(lines: AsyncIterator[bytes], limit: int) -> AsyncIterator[Event | None]:
    """Events from SSE lines; ``None`` for a comment (a heartbeat proves the link is alive).

    An event whose data grows past ``limit`` bytes is dropped whole rather than buffered.
    """
    name = ""
    data: list[bytes] = []
    size = 0
    async for line in lines:
        if not line:
            if data:
                yield Event(name or "message", b"\n".join(data))
            name, data, size = "", [], 0
            continue
        if line.startswith(b":"):
            yield None
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"event":
            name = value.decode("utf-8", errors="replace")
        elif field == b"data":
            size += len(value)
            if size > limit:
                name, data, size = "", [], 0
                continue
            data.append(value)
