"""The insert rows of a round's new posts, cut to the columns worth binding.

The batch writer inserts thousands of new posts per statement. Most leave many columns at
their default (no URL, no quote, no edit …); a column that every row of a statement leaves at
its default is left out of the insert, the database then writing that default itself (binding
those values cost 13,100 machine instructions per post in an insert-only count, callgrind,
docs/benchmarks.md). :func:`post_rows` builds the rows (28 values, in ``writer._POST_COLUMNS``
order) and cuts them (:func:`lean`); compiled (``store/_rowsc.c``), it reads the fields of the
``Post`` and ``Author`` structs from their slots and builds no full-width tuple.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from veille.model import Author, Post

Row = tuple[Any, ...]

EMPTY_JSON: Final = "[]"
"""The stored form of an empty list of hashtags, mentions or links (the columns' default)."""


def lean(rows: list[Row], defaults: Sequence[tuple[int, Any]]) -> tuple[tuple[int, ...], list[Row]]:
    """The positions of the columns to insert (those not at their default in every row), and
    ``rows`` cut to them; ``defaults`` pairs a column's position with its default value."""
    if not rows:
        raise ValueError("lean() needs at least one row")
    width = len(rows[0])
    for number, row in enumerate(rows):
        if not isinstance(row, tuple) or len(row) != width:
            raise ValueError(f"lean() row {number} is not a tuple of {width} values")
    columns = list(zip(*rows, strict=True))
    dropped = {at for at, default in defaults if all(v == default for v in columns[at])}
    kept = tuple(at for at in range(width) if at not in dropped)
    if not dropped:
        return kept, rows
    return kept, list(zip(*[columns[at] for at in kept], strict=True))


def post_rows_python(
    posts: Sequence[Post],
    fresh: list[int],
    indices: Sequence[int],
    ids: list[int],
    roots: Sequence[str],
    folded: Sequence[str] | None,
    payloads: Sequence[bytes | str | None] | None,
    post_ids: list[int | None],
    stored: Any,
    to_time: Callable[[Any], Any],
    dumps: Callable[[Any], bytes],
    fold: Callable[[str], str],
    empty_json: str,
    defaults: Sequence[tuple[int, Any]],
) -> tuple[tuple[int, ...], list[Row], int]:
    """The insert rows of ``posts[p]`` for each position ``p`` in ``fresh`` (with row ids
    ``ids``, conversation roots ``roots[p]``, folded text ``folded[indices[p]]`` or ``fold`` of
    the text, raw copy ``payloads[indices[p]]`` unless that is ``None``, else the post's
    ``raw``), cut by :func:`lean` to the columns worth inserting (``defaults`` as there), and
    how many of them are deleted: ``(kept positions, rows, deleted)``. Sets
    ``post_ids[indices[p]]`` to each id.

    ``stored`` is the bound time of storing, ``to_time`` binds the others; lists of strings
    are written by ``dumps`` (an empty one as ``empty_json``)."""
    rows: list[Row] = []
    deleted = 0
    received: Any = None
    received_bound: Any = None
    for position, post_id in zip(fresh, ids, strict=True):
        post = posts[position]
        index = indices[position]
        post_ids[index] = post_id
        author = post.author
        created = post.created_at
        edited = post.edited_at
        if received_bound is None or post.received_at != received:
            # One arrival time per source batch (equal, not the same object: posts decoded
            # from a worker process each have their own).
            received = post.received_at
            received_bound = None if received is None else to_time(received)
        rows.append(
            (
                post_id,
                post.platform,
                post.native_id,
                post.url,
                author.id,
                author.handle,
                author.display_name,
                author.followers,
                post.text,
                folded[index] if folded is not None else fold(post.text),
                post.lang,
                post.lang_hint,
                None if created is None else to_time(created),
                received_bound,
                stored,
                post.reply_to,
                post.root_id,
                roots[position],
                post.quote_of,
                post.repost_of,
                dumps(post.hashtags).decode() if post.hashtags else empty_json,
                dumps(post.mentions).decode() if post.mentions else empty_json,
                dumps(post.links).decode() if post.links else empty_json,
                None if edited is None else to_time(edited),
                post.deleted,
                stored if post.deleted else None,
                1,
                post.raw if payloads is None or (payload := payloads[index]) is None else payload,
            )
        )
        deleted += bool(post.deleted)
    kept, cut = lean(rows, defaults)
    return kept, cut, deleted


try:
    # The same rows built from the structs' slots, and cut without full-width tuples.
    from veille.store import _rowsc  # type: ignore[attr-defined]

    _rowsc.configure(Post, Author)
    post_rows = _rowsc.post_rows
except ImportError:  # pragma: no cover - pip install -e . builds it
    post_rows = post_rows_python

COMPILED: Final = post_rows is not post_rows_python
