"""The evasion view: leetspeak and spaced-out letters undone, with ranges and spans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.normalise.fold import fold
from veille.normalise.fold_evasion import evasion_view, skeleton


def view(text: str) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    v = evasion_view(text, fold(text))
    return v.scan, v.ranges, v.spans


@pytest.mark.parametrize(
    ("text", "scan"),
    [
        ("un 4tt3nt4t ici", " un attentat ici "),
        ("a.t.t.e.n.t.a.t demain", " attentat demain "),
        ("a - t - t - a - c - k", " attack "),
        ("h!tler", " hitier "),
        ("$ale @ttent@t", " saie attentat "),
        ("p o l i c e", " poiice "),
        ("la police!", " ia poiice "),
        ("x y", " x y "),
    ],
)
def test_scan(text: str, scan: str) -> None:
    assert view(text)[0] == scan


def test_ranges_and_spans_cover_the_joined_tokens() -> None:
    scan, ranges, spans = view("go a.t.t.a.c.k now")
    assert scan == " go attack now "
    assert ranges == [(0, 0), (1, 6), (7, 7)]
    assert spans == [(0, 2), (3, 14), (15, 18)]


def test_skeleton_merges_lookalike_digits() -> None:
    assert skeleton("p0l1c3") == skeleton("police") == "poiice"
    assert skeleton("b00m") == skeleton("boom")


@given(st.text(max_size=60))
def test_view_is_consistent(text: str) -> None:
    f = fold(text)
    v = evasion_view(text, f)
    words = v.scan[1:-1].split(" ") if len(v.scan) > 1 else []
    assert len(words) == len(v.ranges) == len(v.spans)
    covered = [i for a, b in v.ranges for i in range(a, b + 1)]
    assert covered == list(range(len(f.tokens)))
    for start, end in v.spans:
        assert 0 <= start < end <= len(text)
