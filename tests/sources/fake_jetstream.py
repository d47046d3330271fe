"""A Jetstream stand-in on 127.0.0.1 that replays recorded events and misbehaves on request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve


@dataclass
class Chaos:
    """What to do on the n-th connection (1-based), after ``after`` messages sent on it."""

    after: int
    action: str  # "drop" (abrupt close), "close" (clean close), "stall", "malformed"


@dataclass
class FakeJetstream:
    events: list[bytes]
    chaos: dict[int, Chaos] = field(default_factory=dict)
    oldest_index: int = 0
    """Replay buffer: events before this index are no longer available for a cursor."""
    connections: int = 0
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        decoded = [orjson.loads(e) for e in self.events]
        self._times = [e["time_us"] for e in decoded]
        self._collections = [(e.get("commit") or {}).get("collection") for e in decoded]

    def times(self) -> list[int]:
        return self._times

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        number = self.connections
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        self.queries.append(query)
        start = self.oldest_index
        if "cursor" in query:
            cursor = int(query["cursor"][0])
            times = self.times()
            start = next((i for i, t in enumerate(times) if t >= cursor), len(times))
            start = max(start, self.oldest_index)
        chaos = self.chaos.get(number)
        wanted = set(query.get("wantedCollections", []))
        sent = 0
        for index in range(start, len(self.events)):
            event = self.events[index]
            collection = self._collections[index]
            if wanted and collection is not None and collection not in wanted:
                continue  # Jetstream filters commits server-side; identity/account always pass
            if chaos and sent == chaos.after:
                if chaos.action == "drop":
                    ws.transport.abort()
                    return
                if chaos.action == "close":
                    await ws.close()
                    return
                if chaos.action == "stall":
                    await ws.wait_closed()
                    return
                if chaos.action == "malformed":
                    await ws.send('{"did": "did:plc:x", "kind": "commit", "commit": [')
            await ws.send(event.decode())
            sent += 1
            if sent % 50 == 0:
                await asyncio.sleep(0)  # share the loop with the client, as a network would
        with contextlib.suppress(Exception):
            await ws.wait_closed()


@contextlib.asynccontextmanager
async def running(fake: FakeJetstream) -> AsyncIterator[FakeJetstream]:
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fake.url = f"ws://127.0.0.1:{port}/subscribe"
        yield fake
