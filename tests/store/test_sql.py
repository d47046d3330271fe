"""The bulk key lookups of the batch writer (``veille.store.sql``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.model import Post
from veille.store import Store
from veille.store.sql import CHUNK, padded_size


@given(st.integers(1, CHUNK))
def test_a_lookup_is_padded_to_one_of_a_few_sizes(count: int) -> None:
    size = padded_size(count)
    assert count <= size <= CHUNK
    assert size < 2 * count or count <= 2 or size - count < 50


def test_lookups_come_in_sixteen_sizes() -> None:
    assert len({padded_size(n) for n in range(1, CHUNK + 1)}) == 16


@pytest.mark.parametrize("count", [1, 3, 64, 65, 499, 500, 501, 1234])
def test_padded_lookups_find_each_key_once(store: Store, count: int) -> None:
    platform = f"pad{count}"
    store.write_batch(
        [Post(platform=platform, native_id=str(n), text=f"post {n}") for n in range(count)]
    )
    wanted = [str(n) for n in range(0, 2 * count, 2)]  # half stored, half not
    sql = store._writer.sql
    query = sql.where_platform("SELECT native_id FROM posts", "native_id")
    with store.engine.connect() as conn:
        found = [row[0] for row in sql.select_in(conn, query, platform, wanted)]
    assert sorted(found, key=int) == [n for n in wanted if int(n) < count]
