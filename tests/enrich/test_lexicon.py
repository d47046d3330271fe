from hypothesis import given
from hypothesis import strategies as st

from veille.enrich.lexicon import Lexicon, fold_token, tokenize


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
