"""A batch is written in rounds that each hold a post key at most once (``writer._rounds``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from veille.store.writer import _rounds

KEYS = st.lists(st.tuples(st.sampled_from(["x", "mastodon"]), st.sampled_from("abcd")), max_size=12)


@given(keys=KEYS, data=st.data())
def test_each_round_holds_a_key_once_and_copies_keep_their_order(
    keys: list[tuple[str, str]], data: st.DataObject
) -> None:
    valid = sorted(
        data.draw(st.sets(st.integers(0, max(0, len(keys) - 1)))) & set(range(len(keys)))
    )
    rounds = _rounds(keys, valid)
    assert sorted(i for r in rounds for i in r) == valid
    for r in rounds:
        assert r == sorted(r)
        assert len({keys[i] for i in r}) == len(r)
    # The k-th copy of a key goes to round k.
    seen: dict[tuple[str, str], int] = {}
    for i in valid:
        k = seen.get(keys[i], 0)
        seen[keys[i]] = k + 1
        assert i in rounds[k]
