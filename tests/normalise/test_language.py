"""Language identification: configured languages or ``und``, hints as priors, hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.enrich.evaluate import language_scores, read_dutch
from veille.model import Post
from veille.normalise import language as language_module
from veille.normalise.language import (
    OVERLAP,
    UNDETERMINED,
    LanguageDetector,
    PipelineLanguage,
    _identifier,
    _model,
    _scores,
    default_detector,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _foreign() -> list[tuple[str, str]]:
    rows = (FIXTURES / "lang-foreign.tsv").read_text("utf-8").splitlines()
    return [tuple(r.split("\t", 1)) for r in rows if r and not r.startswith("#")]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("La police a arrêté trois personnes après le match hier soir à Liège.", "fr"),
        ("Die Polizei hat nach dem Spiel gestern Abend drei Personen festgenommen.", "de"),
        ("De politie heeft gisteren na de wedstrijd drie mensen opgepakt in Gent.", "nl"),
        ("Police arrested three people after last night's match in the city centre.", "en"),
    ],
)
def test_each_configured_language_is_recognised(text: str, lang: str) -> None:
    assert default_detector().detect(text) == lang


def test_handwritten_dutch_is_dutch() -> None:
    texts, _ = read_dutch()
    found = [default_detector().detect(t) for t in texts]
    assert found.count("nl") / len(found) >= 0.95


@pytest.mark.parametrize(("lang", "text"), _foreign())
def test_languages_not_configured_are_und(lang: str, text: str) -> None:
    assert default_detector().detect(text) == UNDETERMINED, lang


def test_a_configured_extra_language_is_recognised() -> None:
    det = LanguageDetector(["fr", "nl", "de", "en", "es"])
    es = [t for lang, t in _foreign() if lang == "es"]
    assert all(det.detect(t) == "es" for t in es)


def test_mentions_urls_and_hashtag_signs_are_not_language() -> None:
    text = "@jan_peeters @user https://example.com/x #bxl De tram rijdt vandaag niet"
    assert default_detector().detect(text) == "nl"


def test_short_text_follows_a_configured_hint_and_is_und_without_one() -> None:
    det = default_detector()
    assert det.detect("ok 👍", hint="nl-BE") == "nl"
    assert det.detect("ok 👍") == UNDETERMINED
    assert det.detect("ok 👍", hint="es") == UNDETERMINED
    assert det.detect("", hint="") == UNDETERMINED


def test_hint_is_a_prior_not_the_truth() -> None:
    det = default_detector()
    text = "Die Polizei hat nach dem Spiel gestern Abend drei Personen festgenommen."
    assert det.detect(text, hint="en") == "de"
    # Where the text itself is ambiguous between two languages, the hint decides.
    assert det.detect("super goed", hint="nl") == "nl"


def test_confidence_is_a_probability() -> None:
    guess = default_detector().guess("Bonjour à tous, belle journée à Bruxelles aujourd'hui")
    assert guess.lang == "fr"
    assert 0.6 <= guess.confidence <= 1.0


def test_unknown_configured_language_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="xx"):
        LanguageDetector(["fr", "xx"])
    with pytest.raises(ValueError, match="at least one"):
        LanguageDetector([])


def test_naughty_strings_give_a_configured_language_or_und(shared_data: Path) -> None:
    det = default_detector()
    allowed = {*det.languages, UNDETERMINED}
    for s in json.loads((shared_data / "bad-input/blns/blns.json").read_text("utf-8")):
        assert det.detect(s) in allowed


@given(st.text(max_size=300), st.sampled_from(["", "fr", "nl-BE", "es", "xx-YY", "_"]))
def test_any_text_and_hint_give_a_configured_language_or_und(text: str, hint: str) -> None:
    det = default_detector()
    assert det.detect(text, hint) in {*det.languages, UNDETERMINED}


def test_very_long_text_is_bounded() -> None:
    assert (
        default_detector().detect("De politie heeft gisteren drie mensen opgepakt. " * 50_000)
        == "nl"
    )


@pytest.mark.slow
def test_accuracy_on_labelled_sets(shared_data: Path) -> None:
    """Labels are the datasets' language; some tweets in them are really in another one."""
    for score in language_scores(default_detector(), shared_data):
        assert score.accuracy >= 0.9, score


def test_scores_agree_with_py3langid_rank() -> None:
    """``_scores`` reads py3langid internals for speed: it must give exactly ``rank``'s scores."""
    ident = _identifier()
    for text in ["De politie heeft gisteren drie mensen opgepakt", "Bonjour à tous", "", "😀"]:
        ranked = dict(ident.rank(text))
        mine = _scores(text)
        for i, lang in enumerate(ident.nb_classes):
            # Script aliases (srl -> sr) share a label, which rank reports once.
            if text and ranked[lang] > -1e30 and ident.nb_classes.count(lang) == 1:
                assert mine[i] == pytest.approx(ranked[lang], rel=1e-5)


def test_automaton_state_depends_on_the_last_overlap_bytes_only() -> None:
    """The chunked walk is exact only if no state of the automaton is deeper than OVERLAP
    (its depth: the fewest bytes that reach it from the start, breadth first)."""
    model = _model()
    depth = np.full(len(model.rowbase), -1)
    depth[0] = 0
    frontier = np.array([0])
    level = 0
    while len(frontier):
        level += 1
        reached = np.unique(
            model.nextmove[(model.rowbase[frontier, None] + np.arange(256)).ravel()]
        )
        frontier = reached[depth[reached] < 0]
        depth[frontier] = level
    assert depth.min() == 0
    assert depth.max() <= OVERLAP


TEXTS = st.lists(st.text(max_size=200), max_size=12)


@given(TEXTS)
def test_batch_walk_finds_the_features_of_each_text(texts: list[str]) -> None:
    model = _model()
    encoded = [_identifier()._encode(t) for t in texts]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(language_module, "SMALL_BATCH_BYTES", 0)  # the numpy walk, however small
        walked = model.features(encoded)
    for got, want in zip(walked, model._features_each(encoded), strict=True):
        assert np.array_equal(got, want)


@given(TEXTS, st.data())
def test_batch_guesses_equal_one_at_a_time(texts: list[str], data: st.DataObject) -> None:
    hints = data.draw(
        st.lists(
            st.sampled_from(["", "fr", "nl-BE", "es"]), min_size=len(texts), max_size=len(texts)
        )
    )
    det = default_detector()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(language_module, "SMALL_BATCH_BYTES", 0)
        batch = det.guess_many(texts, hints)
    assert batch == [det.guess(t, h) for t, h in zip(texts, hints, strict=True)]


def test_long_texts_across_many_chunks_in_one_batch() -> None:
    texts = [
        "De politie heeft gisteren drie mensen opgepakt in Gent. " * 30,
        "La police a arrêté trois personnes après le match hier soir. " * 30,
        "ok",
        "Die Polizei hat nach dem Spiel drei Personen festgenommen. " * 30,
    ]
    det = default_detector()
    assert det.detect_many(texts, ["", "", "nl", ""]) == ["nl", "fr", "nl", "de"]
    assert det.guess_many(texts, [""] * 4) == [det.guess(t) for t in texts]


def test_pipeline_hook_batch_form_uses_the_hint() -> None:
    posts = [
        Post(platform="t", native_id="1", text="ok 👍", lang_hint="nl-BE"),
        Post(platform="t", native_id="2", text="Bonjour à tous, belle journée à Bruxelles"),
    ]
    hook = PipelineLanguage()
    assert hook.many(posts) == ["nl", "fr"] == [hook(p) for p in posts]
