"""Folding: the canonical text form shared by rules, detectors and search."""

from __future__ import annotations

import doctest
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import veille.normalise.fold as fold_module
from veille.normalise.fold import Folded, fold, fold_python, fold_word
from veille.normalise.fold_table import fold_char


def words(text: str) -> list[str]:
    return list(fold(text).tokens)


def test_docstring_examples() -> None:
    assert doctest.testmod(fold_module).failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("École", "ecole"),
        ("ECOLE", "ecole"),
        ("e\u0301cole", "ecole"),
        ("straße", "strasse"),
        ("STRASSE", "strasse"),
        ("ｐｏｌｉｃｅ", "police"),  # full-width
        ("𝐩𝐨𝐥𝐢𝐜𝐞", "police"),  # mathematical bold
        ("po\u200blice", "police"),  # zero-width space
        ("po\u200dli\u2060ce", "police"),  # zero-width joiner, word joiner
        ("\u202epolice\u202c", "police"),  # bidi override
        ("pol\u00adice", "police"),  # soft hyphen
        ("p\u043el\u0456c\u0435", "police"),  # Cyrillic о, і, е
        ("\u0420OLICE", "police"),  # Cyrillic capital Р
        ("ΗΕLLO", "hello"),  # Greek capitals Η, Ε
        ("cœur", "coeur"),
        ("ﬁn", "fin"),  # ligature
        ("İstanbul", "istanbul"),
        ("Øresund", "oresund"),
    ],
)
def test_folds_tricks_to_plain_word(text: str, expected: str) -> None:
    assert words(text) == [expected]


def test_word_cut_and_kinds() -> None:
    f = fold("RT @alice.bsky.social: #Police à l'école, mail jan@politie.be!")
    assert f.tokens == (
        *("rt", "@alice.bsky.social", "police", "a", "l", "ecole"),
        *("mail", "jan", "politie", "be"),
    )
    assert f.hashtags == frozenset({2})
    assert f.scan == " rt @alice.bsky.social police a l ecole mail jan politie be "


def test_mastodon_mention_and_trailing_dot() -> None:
    assert words("cc @bob@mastodon.social.") == ["cc", "@bob@mastodon.social"]


def test_hash_inside_word_is_not_a_hashtag() -> None:
    f = fold("a#b ##tag")
    assert f.tokens == ("a", "b", "tag")
    assert f.hashtags == frozenset({2})
    assert f.spans[2] == (5, 9)


def test_spans_point_into_original_text() -> None:
    text = "Ｌａ  e\u0301cole\u200b et STRAẞE"
    f = fold(text)
    assert f.tokens == ("la", "ecole", "et", "strasse")
    assert [text[s:e] for s, e in f.spans] == ["Ｌａ", "e\u0301cole\u200b", "et", "STRAẞE"]


def test_one_character_can_give_two_tokens() -> None:
    f = fold("½")
    assert f.tokens == ("1", "2")
    assert f.spans == ((0, 1), (0, 1))


def test_empty_and_blank() -> None:
    for text in ("", "   ", "!!! 🙂 …", "\u200b\u200d"):
        f = fold(text)
        assert f.scan == " "
        assert f.tokens == ()
        assert f.spans == ()
        assert len(f) == 0


def test_token_at_maps_scan_offsets() -> None:
    f = fold("un deux trois")
    for i, tok in enumerate(f.tokens):
        assert f.token_at(f.scan.index(" " + tok + " ") + 1) == i


def test_fold_word() -> None:
    assert fold_word("Jan  PEETERS") == "jan peeters"
    assert fold_word("#Police") == "#police"
    assert fold_word("@Alice.bsky.social") == "@alice.bsky.social"
    assert fold_word("aujourd'hui") == "aujourd hui"
    assert fold_word("🙂") == ""


def test_whole_word_test_by_substring() -> None:
    scan = fold("Le policeman et la police.").scan
    assert f" {fold_word('POLICE')} " in scan
    assert scan.count(" police ") == 1


def test_every_char_folds_stably() -> None:
    # Folding is idempotent on every assigned BMP code point: folded output folds to itself.
    for cp in range(0x10000):
        char = chr(cp)
        if unicodedata.category(char) in ("Cn", "Cs"):
            continue
        out = fold_char(char)
        assert "".join(fold_char(c) for c in out) == out, hex(cp)


@given(st.text())
def test_fold_is_idempotent_on_words(text: str) -> None:
    once = fold_word(text)
    assert fold_word(once) == once


@given(st.text())
def test_spans_are_ordered_and_inside_text(text: str) -> None:
    f = fold(text)
    assert len(f.tokens) == len(f.spans)
    previous_start = 0
    for (start, end), tok in zip(f.spans, f.tokens, strict=True):
        assert 0 <= start < end <= len(text)
        assert start >= previous_start
        previous_start = start
        assert tok
        assert " " not in tok
    assert f.scan == (" " + " ".join(f.tokens) + " " if f.tokens else " ")


@given(st.text(), st.text())
def test_invisible_characters_never_split_a_word(left: str, right: str) -> None:
    word = "attentat"
    text = f"{left} {word[:3]}\u200b{word[3:]} {right}"
    assert f" {word} " in fold(text).scan


def test_equality_and_repr() -> None:
    assert fold("a b") == fold_python("a b")
    assert fold("a b") != fold("a c")
    assert hash(fold("x")) == hash(fold("x"))
    assert "scan=' a '" in repr(fold("A"))
    assert fold("a") != "a"


def test_blns_never_crashes(shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    assert len(strings) > 400
    for text in strings:
        f = fold(text)
        assert isinstance(f, Folded)
        for start, end in f.spans:
            assert 0 <= start < end <= len(text)
