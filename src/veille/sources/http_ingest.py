"""HTTP ingest: other systems POST posts to veille (JSON or JSON Lines, bearer token).

``POST /ingest`` takes one generic JSON post, a JSON array of them, or JSON Lines
(``Content-Type: application/x-ndjson``). The answer waits until the posts are durably stored
(at most ``ack_seconds``) so a client that got ``200`` may forget them:

- ``200 {"received": n, "stored": k, "quarantined": [{"origin", "stage", "error"}]}``: stored;
  the payloads that failed a stage are kept in quarantine and listed with their error;
- ``202 {"received": n}``: queued, not yet stored when the wait ran out;
- ``400`` the body is not JSON; ``401`` bad token; ``413`` body or item count over the bound;
  ``415`` another content type;
- ``429`` (``Retry-After``) the pipeline is behind: try again later; ``503`` it is not running
  or is shutting down.

The router mounts in the web app; ``veille run`` serves it standalone when the web app is absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import msgspec
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from veille.bus.memory import Channel, ChannelClosed
from veille.clock import Clock, utcnow
from veille.model import Quarantined, RawItem
from veille.sources.base import Batch

JSON_TYPES = frozenset({"application/json"})
JSONL_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/json-lines",
    }
)


class HttpIngestSource:
    """A Source fed by HTTP requests: each accepted request becomes one Batch."""

    def __init__(
        self,
        *,
        token: str,
        name: str = "http",
        platform: str = "generic",
        max_body_bytes: int = 8 << 20,
        max_items: int = 10_000,
        queue_requests: int = 8,
        enqueue_seconds: float = 1.0,
        ack_seconds: float = 10.0,
        clock: Clock = utcnow,
    ) -> None:
        if len(token) < 16:
            raise ValueError("HTTP ingest needs a bearer token of at least 16 characters")
        self.name = name
        self.platform = platform
        self.max_body_bytes = max_body_bytes
        self.max_items = max_items
        self.enqueue_seconds = enqueue_seconds
        self.ack_seconds = ack_seconds
        self.clock = clock
        self._token = token.encode()
        self._queue: Channel[Batch] = Channel(queue_requests, name=f"{name} requests")
        self._pending: dict[int, asyncio.Future[list[Quarantined]]] = {}
        self._running = False
        self._started = asyncio.Event()
        self._requests = 0

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Hand over accepted requests until :meth:`close`; HTTP has nothing to resume."""
        self._running = True
        self._started.set()
        try:
            async for batch in self._queue:
                yield batch
        finally:
            self._running = False

    @property
    def running(self) -> bool:
        """Whether a pipeline is taking this source's batches (requests get 503 before)."""
        return self._running and not self._queue.closed

    async def started(self) -> None:
        """Wait until a pipeline takes this source's batches."""
        await self._started.wait()

    def close(self) -> None:
        """Refuse new requests (503); requests already queued are still handed over."""
        self._queue.close()

    def stored(self, batch: Batch, quarantined: Sequence[Quarantined]) -> None:
        """The pipeline stored ``batch``: answer the request that is waiting for it."""
        waiter = self._pending.pop(id(batch), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(list(quarantined))

    def router(self) -> APIRouter:
        """``POST /ingest``, to mount in an application."""
        router = APIRouter()
        router.add_api_route(
            "/ingest",
            self.ingest,
            methods=["POST"],
            summary="Submit posts (generic JSON, array or JSON Lines)",
            response_class=JSONResponse,
        )
        return router

    async def ingest(self, request: Request) -> Response:
        """Authenticate, bound, split and queue a request's posts; answer once stored."""
        if not self._authorised(request.headers.get("authorization", "")):
            return _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        if not self.running:
            return _error(503, "ingest is not running (starting or shutting down)", _RETRY)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in JSON_TYPES and media not in JSONL_TYPES:
            return _error(415, "send application/json or application/x-ndjson (JSON Lines)")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return _error(413, f"body over {self.max_body_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body_bytes:
                return _error(413, f"body over {self.max_body_bytes} bytes")
        self._requests += 1
        try:
            payloads = list(_split_json(bytes(body)) if media in JSON_TYPES else _split_lines(body))
        except ValueError as exc:
            return _error(400, str(exc))
        if len(payloads) > self.max_items:
            return _error(413, f"{len(payloads)} items: at most {self.max_items} per request")
        if not payloads:
            return JSONResponse({"received": 0, "stored": 0, "quarantined": []})
        received = self.clock()
        request_no = self._requests
        batch = Batch(
            [
                RawItem(
                    source=self.name,
                    platform=self.platform,
                    payload=payload,
                    received_at=received,
                    origin=f"request {request_no} {where}",
                )
                for where, payload in payloads
            ]
        )
        waiter: asyncio.Future[list[Quarantined]] = asyncio.get_running_loop().create_future()
        self._pending[id(batch)] = waiter
        try:
            queued = await self._enqueue(batch)
        except ChannelClosed:
            queued = None
        if not queued:
            self._pending.pop(id(batch), None)
            if queued is None:
                return _error(503, "ingest is shutting down", _RETRY)
            return _error(429, "veille is behind: retry later", _RETRY)
        try:
            quarantined = await asyncio.wait_for(asyncio.shield(waiter), self.ack_seconds)
        except TimeoutError:
            return JSONResponse({"received": len(payloads)}, status_code=202)
        return JSONResponse(
            {
                "received": len(payloads),
                "stored": len(payloads) - len(quarantined),
                "quarantined": [
                    {"origin": q.error.partition(": ")[0], "stage": q.stage, "error": q.error}
                    for q in quarantined
                ],
            }
        )

    async def _enqueue(self, batch: Batch) -> bool:
        if self._queue.try_put(batch):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.put(batch), self.enqueue_seconds)
            return True
        return False

    def _authorised(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._token
        )


_RETRY = {"Retry-After": "1"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _split_json(body: bytes) -> Iterator[tuple[str, bytes]]:
    """One object, or the elements of an array, each as its own raw payload."""
    try:
        if body.lstrip()[:1] == b"[":
            elements = msgspec.json.decode(body, type=list[msgspec.Raw])
            for index, element in enumerate(elements):
                yield f"item {index}", bytes(element)
        else:
            msgspec.json.decode(body, type=msgspec.Raw)
            yield "item 0", body
    except msgspec.DecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("body is not valid JSON: nested too deeply") from None


def _split_lines(body: bytearray) -> Iterator[tuple[str, bytes]]:
    """Every non-blank line; each is decoded (or quarantined) on its own further down."""
    for number, line in enumerate(bytes(body).split(b"\n"), start=1):
        if line.strip():
            yield f"line {number}", line.removesuffix(b"\r")


def create_app(source: HttpIngestSource) -> FastAPI:
    """A minimal application serving only the ingest endpoint (when the web app is absent)."""
    app = FastAPI(title="veille ingest", docs_url=None, redoc_url=None)
    app.include_router(source.router())
    return app


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to the pipeline, which drains first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: Any, host: str, port: int) -> None:
    """Serve ``app`` until cancelled (the caller owns shutdown)."""
    server = QuietServer(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    try:
        await server.serve()
    finally:
        server.should_exit = True
