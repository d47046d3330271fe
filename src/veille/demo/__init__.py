"""The bundled demo: a synthetic stream (see :mod:`veille.demo.generate`) and starter rules.

:class:`DemoSource` replays the stream at a watchable pace, shifting every time so that the
stream ends "now": conversations look recent and the follow window behaves as in real life.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from veille.clock import Clock, utcnow
from veille.model import RawItem
from veille.sources.base import Batch
from veille.sources.replay import ReplaySource

DATA = Path(str(resources.files("veille") / "data"))
DEMO_STREAM = DATA / "demo" / "stream.jsonl.gz"
INIT = DATA / "init"
"""What ``veille init`` writes: ``veille.toml`` and ``rules/{fr,nl,de,en}.toml``."""
STARTER_RULES = INIT / "rules"


class DemoSource:
    """The demo stream, paced at ``rate`` posts per second, re-timed to end now."""

    name = "demo"

    def __init__(
        self, *, rate: float | None = 40.0, path: Path = DEMO_STREAM, clock: Clock = utcnow
    ) -> None:
        self.path = path
        self.clock = clock
        self._replay = ReplaySource(path, name=self.name, rate=rate, clock=clock)

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """The whole stream every time (re-timed, so a cursor would not mean much)."""
        shift = self.clock() - self._last_time()
        decoder = msgspec.json.Decoder(dict[str, Any])
        encoder = msgspec.json.Encoder()
        async for batch in self._replay.stream(None):
            items = []
            for item in batch.items:
                post = decoder.decode(item.payload)
                post["created_at"] = _shift(post["created_at"], shift)
                items.append(msgspec.structs.replace(item, payload=encoder.encode(post)))
            yield Batch(items, cursor=batch.cursor, rejected=batch.rejected)

    def _last_time(self) -> datetime:
        with gzip.open(self.path, "rt", encoding="utf-8") as lines:
            return max(
                datetime.fromisoformat(msgspec.json.decode(line)["created_at"])
                for line in lines
                if line.strip()
            )


def _shift(value: str, by: timedelta) -> str:
    return (datetime.fromisoformat(value) + by).isoformat()


def demo_items(limit: int | None = None) -> list[RawItem]:
    """The demo stream as raw items, unpaced and not re-timed (tests, benchmarks)."""
    with gzip.open(DEMO_STREAM, "rb") as stream:
        lines = [line.rstrip(b"\n") for line in stream if line.strip()]
    now = utcnow()
    return [
        RawItem(
            source="demo", platform="generic", payload=line, received_at=now, origin=f"line {n}"
        )
        for n, line in enumerate(lines[:limit], start=1)
    ]
