"""Helpers the API routers share: the app's services, cursors and filtered pagination."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Query, Request

from veille.web.context import Web
from veille.web.errors import ApiError

T = TypeVar("T")

MAX_SCAN = 20_000
"""Most rows one filtered page may read before giving up (and answering what it found)."""


def get_web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(get_web)]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
RowRef = Annotated[int, Path(ge=1, le=2**62, description="A row id")]
"""Ids in paths: bounded, so no number reaches the database that it cannot hold."""
Cursor = Annotated[str | None, Query(max_length=64, description="The `next` of the previous page")]


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The position a cursor stands for; a malformed cursor is a 400, not a 500."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value = int(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "cursor is not one this API gave out", code="bad_cursor") from exc
    if value < 0 or value > 10**12:
        raise ApiError(400, "cursor is not one this API gave out", code="bad_cursor")
    return value


def filtered_page(
    fetch: Callable[[int], Sequence[T]],
    keep: Callable[[T], bool],
    offset: int,
    limit: int,
) -> tuple[list[T], str | None]:
    """A page of the items ``keep`` accepts, from a source only able to give "the first n".

    ``offset`` counts rows of the unfiltered source; the returned cursor does too.
    """
    want = offset + limit + 1
    while True:
        rows = fetch(min(want, offset + MAX_SCAN))
        page: list[T] = []
        position = offset
        for row in rows[offset:]:
            position += 1
            if keep(row):
                page.append(row)
                if len(page) == limit:
                    break
        exhausted = len(rows) < min(want, offset + MAX_SCAN)
        if len(page) == limit or exhausted or want >= offset + MAX_SCAN:
            more = position < len(rows) or not exhausted
            return page, encode_cursor(position) if more else None
        want *= 4
