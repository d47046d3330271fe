"""Rule versions and presearcher anchors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from veille.rules.anchors import Anchor, anchors
from veille.rules.parser import parse
from veille.rules.versions import MemoryVersionRegistry, VersionRegistry


def test_versions_change_only_with_the_query() -> None:
    registry = MemoryVersionRegistry()
    assert isinstance(registry, VersionRegistry)
    assert registry.assign([("a", "x"), ("b", "y")]) == {"a": 1, "b": 1}
    assert registry.assign([("a", " x "), ("b", "y OR z")]) == {"a": 1, "b": 2}
    assert registry.assign([("b", "y")]) == {"b": 3}  # going back is a change too
    assert registry.assign([("b", "y")]) == {"b": 3}


@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["x", "y", "z"]))))
def test_versions_never_decrease(changes: list[tuple[str, str]]) -> None:
    registry = MemoryVersionRegistry()
    last: dict[str, int] = {}
    for rule_id, query in changes:
        version = registry.assign([(rule_id, query)])[rule_id]
        assert version >= last.get(rule_id, 1)
        last[rule_id] = version


def texts(query: str) -> set[tuple[str, str]] | None:
    found = anchors(parse(query))
    return None if found is None else {(a.kind, a.text) for a in found}


def test_anchors() -> None:
    assert texts("police") == {("words", "police")}
    assert texts('"Exact phrase"') == {("words", "exact phrase")}
    assert texts("a OR flic* OR #tag OR @me") == {
        ("words", "a"),
        ("prefix", "flic"),
        ("hashtag", "tag"),
        ("mention", "@me"),
    }
    # AND keeps the most selective side: a phrase beats a short word.
    assert texts('a "long phrase here"') == {("words", "long phrase here")}
    assert texts("(tuer OR abattre) NEAR/3 (flic* OR police*)") == {
        ("words", "tuer"),
        ("words", "abattre"),
    }
    assert texts("police lang:fr -foot /re/") == {("words", "police")}
    assert texts("NOT x") is None
    assert texts("lang:fr") is None
    assert texts("a OR /re/") is None
    assert texts('"🙂" police') == set()  # can never match: no candidate needed


def test_anchor_cost_prefers_long_and_exact() -> None:
    assert Anchor("words", "attentat").cost < Anchor("words", "a").cost
    assert Anchor("words", "a b").cost < Anchor("words", "ab").cost
    assert Anchor("prefix", "polic").cost > Anchor("words", "polic").cost


def test_frequent_words_are_poor_anchors() -> None:
    assert texts("gabor morgen") == {("words", "gabor")}
    assert texts("zut aujourd'hui") == {("words", "zut")}
    assert Anchor("words", "the").cost > Anchor("words", "qz").cost
