"""The insert rows of new posts: cut to the columns worth inserting, and built alike by the
compiled builder and its Python twin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.model import Author, Post
from veille.store import rows as rows_module
from veille.store.rows import EMPTY_JSON, Row, lean, post_rows_python
from veille.store.types import aware, to_micros
from veille.store.writer import _DEFAULT_AT, _POST_COLUMNS

DEFAULTS = dict(_DEFAULT_AT)
WIDTH = len(_POST_COLUMNS)
# Each column: its default (when it has one), another value, None, or a value equal to the
# default without being the same object (an equal str built at run time, 0 for False …).
VALUES = [
    st.sampled_from([DEFAULTS.get(at, "required"), "x", None, "".join(["[", "]"]), 0])
    for at in range(WIDTH)
]
ROWS = st.lists(st.tuples(*VALUES), min_size=1, max_size=6)


def test_compiled_builder_is_in_use() -> None:
    assert rows_module.COMPILED


@given(ROWS)
def test_leaves_out_exactly_the_columns_at_their_default(rows: list[Row]) -> None:
    kept, cut = lean(rows, _DEFAULT_AT)
    for at in range(WIDTH):
        at_default = at in DEFAULTS and all(row[at] == DEFAULTS[at] for row in rows)
        assert (at not in kept) == at_default
    restored = [
        tuple(row[kept.index(at)] if at in kept else DEFAULTS[at] for at in range(WIDTH))
        for row in cut
    ]
    assert restored == rows


def test_rows_kept_whole_are_returned_as_they_are() -> None:
    rows = [tuple(["x"] * WIDTH)]
    kept, cut = lean(rows, _DEFAULT_AT)
    assert kept == tuple(range(WIDTH))
    assert cut is rows


def test_bad_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        lean([], _DEFAULT_AT)
    with pytest.raises(ValueError, match=r"row 1 is not a tuple of 2 values"):
        lean([("a", "b"), ("a",)], ((0, "a"),))


# --- post_rows: the insert row of each new post ----------------------------------------------

TIMES = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
TEXT = st.text(max_size=12)
NAMES = st.lists(st.text(max_size=6), max_size=3).map(tuple)
POSTS = st.builds(
    Post,
    platform=st.sampled_from(["x", "mastodon"]),
    native_id=st.text(min_size=1, max_size=5),
    text=TEXT,
    author=st.builds(
        Author,
        id=TEXT,
        handle=TEXT,
        display_name=TEXT,
        followers=st.one_of(st.none(), st.integers(0, 10**9)),
    ),
    url=TEXT,
    lang=st.sampled_from(["", "fr", "nl"]),
    lang_hint=st.sampled_from(["", "fr", "de"]),
    created_at=TIMES,
    received_at=st.sampled_from([None, datetime(2026, 1, 1, tzinfo=UTC)]),
    reply_to=st.one_of(st.none(), TEXT),
    root_id=st.one_of(st.none(), TEXT),
    quote_of=st.one_of(st.none(), TEXT),
    repost_of=st.one_of(st.none(), TEXT),
    hashtags=NAMES,
    mentions=NAMES,
    links=NAMES,
    edited_at=TIMES,
    deleted=st.booleans(),
    raw=TEXT,
)


def _fold(text: str) -> str:
    return text.casefold()


@given(
    posts=st.lists(POSTS, min_size=1, max_size=8),
    with_folded=st.booleans(),
    with_payloads=st.booleans(),
    to_time=st.sampled_from([to_micros, aware]),
    data=st.data(),
)
def test_compiled_post_rows_agree_with_python(
    posts: list[Post], with_folded: bool, with_payloads: bool, to_time: Any, data: st.DataObject
) -> None:
    n = len(posts)
    fresh = data.draw(st.lists(st.integers(0, n - 1), unique=True, min_size=1, max_size=n))
    indices = data.draw(st.permutations(range(n)))
    ids = list(range(100, 100 + len(fresh)))
    roots = [f"root{i}" for i in range(n)]
    folded = [f"folded{i}" for i in range(n)] if with_folded else None
    payloads = (
        data.draw(st.lists(st.one_of(st.none(), st.binary()), min_size=n, max_size=n))
        if with_payloads
        else None
    )
    answers = []
    for build in (rows_module.post_rows, post_rows_python):
        post_ids: list[int | None] = [None] * n
        stored = to_time(datetime(2026, 6, 1, tzinfo=UTC))
        answers.append(
            (
                *build(
                    posts, fresh, indices, ids, roots, folded, payloads, post_ids, stored,
                    to_time, orjson.dumps, _fold, EMPTY_JSON, _DEFAULT_AT,
                ),
                post_ids,
            )
        )  # fmt: skip
    assert answers[0] == answers[1]
    kept, rows, deleted, post_ids = answers[1]
    assert [len(row) for row in rows] == [len(kept)] * len(fresh)
    assert [row[kept.index(1)] for row in rows] == [posts[p].platform for p in fresh]
    assert deleted == sum(posts[p].deleted for p in fresh)
    assert sorted(i for i in post_ids if i is not None) == ids
    raw = _POST_COLUMNS.index("raw")
    if raw in kept:  # the raw copy: the payload when given, else the post's own
        given = [None if payloads is None else payloads[indices[p]] for p in fresh]
        expected = [posts[p].raw if g is None else g for p, g in zip(fresh, given, strict=True)]
        assert [row[kept.index(raw)] for row in rows] == expected


def test_compiled_post_rows_refuse_positions_out_of_range() -> None:
    post = Post(platform="x", native_id="1")
    for build in (rows_module.post_rows, post_rows_python):
        with pytest.raises(IndexError):
            build(
                [post], [1], [0], [7], ["1"], None, None, [None], 0, to_micros,
                orjson.dumps, _fold, EMPTY_JSON, _DEFAULT_AT,
            )  # fmt: skip


def test_compiled_post_rows_refuse_an_empty_round() -> None:
    for build in (rows_module.post_rows, post_rows_python):
        with pytest.raises(ValueError, match="at least one"):
            build(
                [],
                [],
                [],
                [],
                [],
                None,
                None,
                [],
                0,
                to_micros,
                orjson.dumps,
                _fold,
                EMPTY_JSON,
                _DEFAULT_AT,
            )


def test_post_rows_are_as_wide_as_the_posts_table_insert() -> None:
    # The builders write 28 values in writer._POST_COLUMNS order: the two must change together.
    post = Post(platform="x", native_id="1", text="t")
    for build in (rows_module.post_rows, post_rows_python):
        kept, rows, _ = build(
            [post], [0], [0], [7], ["1"], None, None, [None], 0, to_micros,
            orjson.dumps, _fold, EMPTY_JSON, (),
        )  # fmt: skip
        assert kept == tuple(range(WIDTH))
        assert rows[0][1:3] == ("x", "1")
        assert rows[0][_POST_COLUMNS.index("conv_root")] == "1"
