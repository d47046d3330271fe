import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.enrich.base import Document
from veille.enrich.threat import (
    FEATURES,
    ThreatDetector,
    analyse,
    guess_language,
    guess_text_language,
    load_model,
    may_have_cue,
)
from veille.enrich.threat_data import load_cases

DETECT = ThreatDetector()


def verdict(text: str, lang: str = "") -> str:
    return DETECT.detect(Document(text, lang))[0].label


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("je vais te tuer quand je te trouve", "fr"),
        ("Brûlez les voitures de police ce soir!!", "fr"),
        ("ik schiet die agent dood als hij hier terugkomt", "nl"),
        ("wir finden dich und dann bist du tot", "de"),
        ("That corrupt judge needs to be eliminated", "en"),
    ],
)
def test_threats_and_calls_to_violence(text: str, lang: str) -> None:
    assert verdict(text, lang) == "threat"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Deux hommes interpellés pour avoir menacé de brûler un commissariat", "fr"),
        ("ik heb nooit gedreigd iemand te vermoorden", "nl"),
        ("Aufrufe, Polizisten zu verprügeln, sind strafbar", "de"),
        ('he was screaming "I\'ll kill you all" according to witnesses', "en"),
    ],
)
def test_talking_about_a_threat_is_not_a_threat(text: str, lang: str) -> None:
    assert verdict(text, lang) == "mention"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("this teacher is killing me with homework", "en"),
        ("Ce gâteau c'est une tuerie", "fr"),
        ("Merci à la police pour son aide", "fr"),
        ("", ""),
    ],
)
def test_ordinary_posts_and_idioms(text: str, lang: str) -> None:
    assert verdict(text, lang) == "none"


def test_the_development_cases_are_mostly_right() -> None:
    """Regression guard on the train cases (the held-out ones are for `veille eval threat`)."""
    cases = load_cases("train")
    right = sum(verdict(c.text, c.lang) == c.gold for c in cases)
    assert right / len(cases) >= 0.85


def test_a_threat_explains_itself_and_points_at_its_words() -> None:
    text = "Salut. Je vais buter ce flic demain."
    [finding] = DETECT.detect(Document(text, "fr"))
    assert finding.label == "threat"
    assert finding.score >= DETECT.threshold
    assert finding.explanation.startswith("threat: ")
    [(start, end)] = finding.spans
    assert text[start:end].startswith("Je vais buter ce flic")


def test_languages_outside_the_four_are_said_to_be_uncovered() -> None:
    [finding] = DETECT.detect(Document("Te voy a matar", "es"))
    assert finding.label == "none"
    assert finding.score == 0.0
    assert "does not cover 'es'" in finding.explanation


def test_language_guess_for_the_lexicon() -> None:
    assert guess_text_language("ik ga naar de winkel en het is mooi") == "nl"
    assert guess_text_language("Ich gehe für dich in die Stadt") == "de"
    assert guess_language(["je", "suis", "dans", "la", "rue"]) == "fr"
    assert guess_text_language("!!!") == "en"


def test_the_shipped_model_knows_only_named_features() -> None:
    model = load_model()
    assert set(model.weights) <= set(FEATURES)
    assert 0 < model.threshold < 1
    assert "GermEval" in model.trained_on


def test_features_are_named_and_bounded() -> None:
    analysis = analyse("On va cramer le commissariat ce soir, je sais où tu habites", "fr")
    assert set(analysis.features) <= set(FEATURES)
    assert all(0 <= v <= 1 for v in analysis.features.values())


@settings(max_examples=200)
@given(st.text(max_size=400), st.sampled_from(["", "fr", "nl", "de", "en", "und"]))
def test_any_text_gives_one_verdict_with_spans_inside(text: str, lang: str) -> None:
    [finding] = DETECT.detect(Document(text, lang))
    assert finding.label in ("threat", "mention", "none")
    assert 0 <= finding.score <= 1
    for start, end in finding.spans:
        assert 0 <= start < end <= len(text)


def test_the_cue_prefilter_sees_accents_and_word_starts() -> None:
    assert may_have_cue("On va les ÉGORGER", "fr")
    assert may_have_cue("je vais tuer", "fr")
    assert not may_have_cue("la statue est belle", "fr")
    assert not may_have_cue("Merci à la police", "*")
    assert may_have_cue("Wir zünden die Wache an", "*")
    # A typographic apostrophe is a word boundary, as in tokenize (it used to join the words).
    assert may_have_cue("je vais l’abattre", "fr")
    assert verdict("je vais l’abattre ce flic", "fr") == verdict("je vais l'abattre ce flic", "fr")
