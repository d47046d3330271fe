"""A small HTTP/1.1 server on 127.0.0.1 for connector tests: scripted answers, streamed bodies,
dropped connections and stalls, with every request recorded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))


class Drop(Exception):
    """Raised by a streamed body to cut the connection abruptly."""


@dataclass
class Response:
    status: int = 200
    body: bytes | AsyncIterator[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class FakeHttp:
    handler: Handler
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    key, value = line.split(":", 1)
                    headers[key.strip().lower()] = value.strip()
            body = b""
            if int(headers.get("content-length", "0")):
                body = await reader.readexactly(int(headers["content-length"]))
            request = Request(method, target, headers, body)
            self.requests.append(request)
            response = await self.handler(request)
            reason = {200: "OK", 304: "Not Modified", 429: "Too Many Requests"}.get(
                response.status, "Status"
            )
            out = [f"HTTP/1.1 {response.status} {reason}"]
            for key, value in response.headers.items():
                out.append(f"{key}: {value}")
            streamed = not isinstance(response.body, bytes)
            if streamed:
                out.append("Transfer-Encoding: chunked")
            else:
                out.append(f"Content-Length: {len(response.body)}")  # type: ignore[arg-type]
            out.append("Connection: close")
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            if isinstance(response.body, bytes):
                writer.write(response.body)
            else:
                try:
                    async for chunk in response.body:
                        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        await writer.drain()
                except Drop:
                    writer.transport.abort()
                    return
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def running(fake: FakeHttp) -> AsyncIterator[FakeHttp]:
    server = await asyncio.start_server(fake._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)
