"""Rows cut to the columns worth inserting: the compiled cutter answers like the Python one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.store import rows as rows_module
from veille.store.rows import Row, lean_python
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


def implementations() -> list[Any]:
    return [lean_python, rows_module.lean]


def test_compiled_cutter_is_in_use() -> None:
    assert rows_module.COMPILED


@given(ROWS)
def test_leaves_out_exactly_the_columns_at_their_default(rows: list[Row]) -> None:
    for lean in implementations():
        kept, cut = lean(rows, _DEFAULT_AT)
        for at in range(WIDTH):
            at_default = at in DEFAULTS and all(row[at] == DEFAULTS[at] for row in rows)
            assert (at not in kept) == at_default
        restored = [
            tuple(row[kept.index(at)] if at in kept else DEFAULTS[at] for at in range(WIDTH))
            for row in cut
        ]
        assert restored == rows


@given(ROWS)
def test_compiled_and_python_agree(rows: list[Row]) -> None:
    assert rows_module.lean(rows, _DEFAULT_AT) == lean_python(rows, _DEFAULT_AT)


def test_rows_kept_whole_are_returned_as_they_are() -> None:
    rows = [tuple(["x"] * WIDTH)]
    for lean in implementations():
        kept, cut = lean(rows, _DEFAULT_AT)
        assert kept == tuple(range(WIDTH))
        assert cut is rows


@pytest.mark.parametrize("lean", implementations())
def test_bad_rows_are_refused(lean: Any) -> None:
    with pytest.raises(ValueError, match="at least one row"):
        lean([], _DEFAULT_AT)
    with pytest.raises(ValueError, match=r"row 1 is not a tuple of 2 values"):
        lean([("a", "b"), ("a",)], ((0, "a"),))
