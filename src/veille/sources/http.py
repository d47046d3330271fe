"""HTTP helpers for the polling and streaming connectors: bounded bodies and honest errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import httpx

from veille import __version__
from veille.sources.live import RateLimited, SourceError, parse_retry_after

USER_AGENT: Final = f"veille/{__version__}"


def client(
    timeout: float | httpx.Timeout,
    user_agent: str = USER_AGENT,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An HTTP client with a timeout on every phase; redirects are not followed blindly."""
    return httpx.AsyncClient(
        timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        headers={"User-Agent": user_agent, **(headers or {})},
        follow_redirects=False,
        transport=transport,
    )


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Turn a non-2xx answer into a SourceError carrying the server's Retry-After hint."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429:
        raise RateLimited(f"{what}: HTTP 429 rate limited", retry_after)
    raise SourceError(f"{what}: HTTP {status} {response.reason_phrase}".rstrip(), retry_after)


async def read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
    """The whole body of a streamed response, refusing one larger than ``limit`` bytes."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise SourceError(f"{what}: body of {declared} bytes exceeds the {limit} byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise SourceError(f"{what}: body exceeds the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def lines(response: httpx.Response, limit: int, what: str) -> AsyncIterator[bytes]:
    """The lines of a streamed body (without their ending), each at most ``limit`` bytes.

    ``aiter_lines`` would buffer a line without end; a hostile or broken server cannot make
    this one hold more than ``limit`` bytes.
    """
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line, buffer = buffer[:cut], buffer[cut + 1 :]
            yield line.rstrip(b"\r")
        if len(buffer) > limit:
            raise SourceError(f"{what}: a line exceeds the {limit} byte limit")
    if buffer:
        yield buffer.rstrip(b"\r")
