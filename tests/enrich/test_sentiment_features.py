"""The text features shared by training and inference."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from veille.enrich.sentiment_features import (
    DENSE_FEATURES,
    MAX_CHARS,
    Analysed,
    char_features,
    dense_features,
    word_features,
)

LEX = {"good": 0.7, "bad": -0.7, "great": 0.8, "bon": 0.6, "gut": 0.7, "goed": 0.6}


def _dense(text: str) -> dict[str, float]:
    return dict(zip(DENSE_FEATURES, dense_features(Analysed(text), LEX), strict=True))


def test_tokens_replace_urls_and_mentions_and_keep_emoji_and_emoticons() -> None:
    an = Analysed("@jan Sooooo GOOD :) 😍 https://t.co/x #win l'équipe")
    assert an.tokens == ["_user", "soo", "good", ":)", "😍", "_url", "#win", "l'", "équipe"]
    assert (an.url, an.mention, an.elong, an.caps) == (1, 1, 1, 1)


def test_negation_marks_the_words_in_its_scope_until_punctuation() -> None:
    feats = word_features(Analysed("not good at all. good"))
    assert "w:neg_good" in feats
    assert feats.count("w:good") == 1
    assert "w:neg_at" in feats


def test_negation_flips_and_softens_lexicon_polarity_in_each_language() -> None:
    for plain, negated in [
        ("good", "not good"),
        ("c'est bon", "c'est pas bon"),
        ("das ist gut", "das ist nicht gut"),
        ("dat is goed", "dat is niet goed"),
    ]:
        assert _dense(plain)["lex_net"] > 0 > _dense(negated)["lex_net"]
        assert abs(_dense(negated)["lex_net"]) < abs(_dense(plain)["lex_net"])


def test_intensifiers_and_diminishers_scale_the_next_polar_word() -> None:
    assert (
        _dense("very good")["lex_pos"]
        > _dense("good")["lex_pos"]
        > _dense("slightly good")["lex_pos"]
    )


def test_the_clause_after_but_weighs_more() -> None:
    assert _dense("good but bad")["lex_net"] < 0 < _dense("bad but good")["lex_net"]


def test_emoji_and_irony_markers_are_features() -> None:
    assert _dense("😍👍")["emo_pos"] > 0
    assert _dense("😡💔")["emo_neg"] > 0
    ironic = _dense("great, the train is late again 🙄")
    assert ironic["irony"] == 1.0
    assert ironic["irony_pos"] > 0
    assert _dense("great news")["irony"] == 0.0
    assert _dense("yeah right, great service")["irony"] == 1.0


def test_char_ngrams_stay_inside_word_boundaries() -> None:
    feats = char_features(Analysed("ab cd").tokens)
    assert " a" in feats
    assert "b " in feats
    assert " ab " in feats
    assert "b c" not in feats


def test_input_is_bounded() -> None:
    an = Analysed("good " * 10_000)
    assert len(an.tokens) <= MAX_CHARS


def test_naughty_strings_do_not_break_the_features(shared_data: Path) -> None:
    for s in json.loads((shared_data / "bad-input/blns/blns.json").read_text("utf-8")):
        an = Analysed(s)
        word_features(an)
        char_features(an.tokens)
        assert len(dense_features(an, LEX)) == len(DENSE_FEATURES)


@given(st.text(max_size=400))
def test_any_text_gives_bounded_dense_features(text: str) -> None:
    values = dense_features(Analysed(text), LEX)
    assert len(values) == len(DENSE_FEATURES)
    assert all(-2.0 <= v <= 2.0 for v in values)
