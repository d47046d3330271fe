import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.enrich.lexicon import Lexicon, Prefilter, fold_token, scan_fold, tokenize


def test_fold_token_removes_case_and_accents() -> None:
    assert fold_token("Brûlez") == "brulez"
    assert fold_token("STRAßE") == "strasse"
    assert fold_token("politie") == "politie"


def test_tokens_keep_original_offsets_and_split_apostrophes() -> None:
    text = "J'te préviens, [@POL] #ACAB @Bob"
    tokens = tokenize(text)
    assert [t.form for t in tokens] == ["j", "te", "previens", "@pol", "#acab", "@bob"]
    for token in tokens[:3]:
        assert fold_token(text[token.start : token.end]) == token.form


def test_words_prefixes_phrases_and_gaps() -> None:
    lexicon = Lexicon.build(
        {"violence": ["tue*", "bring* ~ um", "mettre le feu"], "police": ["flic", "polizei*"]}
    )
    forms = [t.form for t in tokenize("Je tuerai le flic. Ich bringe die Polizisten heute um")]
    hits = {(h.category, " ".join(forms[h.first : h.last])) for h in lexicon.hits(forms)}
    assert hits == {
        ("violence", "tuerai"),
        ("police", "flic"),
        ("violence", "bringe die polizisten heute um"),
    }
    assert lexicon.hits([t.form for t in tokenize("il va mettre le feu")]) != []
    # "polizei*" is a prefix entry: "Polizisten" does not start with "polizei".
    assert lexicon.token_categories("polizisten") == set()


def test_a_gap_is_bounded() -> None:
    lexicon = Lexicon.build({"violence": ["bring* ~ um"]})
    near = [t.form for t in tokenize("bringe a b c d um")]
    far = [t.form for t in tokenize("bringe a b c d e um")]
    assert lexicon.hits(near)
    assert not lexicon.hits(far)


@given(st.text(max_size=200))
def test_tokens_are_ordered_and_inside_the_text(text: str) -> None:
    last = 0
    for token in tokenize(text):
        assert last <= token.start < token.end <= len(text)
        last = token.end


def test_scan_fold_keeps_every_token_between_boundaries() -> None:
    assert scan_fold("Brûlez la WACHE!") == "brulez la wache!"
    assert scan_fold("l’abattre 😡") == "l?abattre ?"
    assert scan_fold("dich™töten") == "dich toten"  # not "dichtmtoten"
    assert scan_fold("de\u0301gommer") == "de gommer"  # NFD: tokenize splits at the mark


@pytest.mark.slow
def test_scan_fold_agrees_with_fold_token_on_every_character() -> None:
    # The invariant behind Prefilter, character by character over all of Unicode: a word
    # character folds as fold_token folds it (non-ASCII left over → "?"), and any other
    # character into something non-empty that is neither a letter nor a digit.
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        folded = scan_fold(char)
        if char.isalnum() or char == "_":
            expected = fold_token(char).encode("ascii", "replace").decode("ascii")
            assert folded == expected, hex(code)
        else:
            assert folded, hex(code)
            assert not any(c.isalnum() for c in folded), hex(code)


def test_the_prefilter_needs_every_word_of_an_entry() -> None:
    lexicon = Lexicon.build({"violence": ["keel door", "hau* ~ um", "tue*"], "other": ["door"]})
    check = Prefilter([lexicon], frozenset({"violence"}))
    assert check.may_hit("hij ging door de keel")  # both words, any order: the lexicon decides
    assert not check.may_hit("hij ging door de deur")
    assert check.may_hit("ich haue ihn um")
    assert not check.may_hit("im Haus")
    assert check.may_hit("TUERAI")
    assert not check.may_hit("statue")


@given(st.text(max_size=200))
def test_the_prefilter_never_misses_a_hit(text: str) -> None:
    lexicon = Lexicon.build({"violence": ["tue*", "kill", "bring* ~ um", "a", "é"]})
    forms = [t.form for t in tokenize(text)]
    if lexicon.hits(forms):
        assert Prefilter([lexicon], frozenset({"violence"})).may_hit(text)
