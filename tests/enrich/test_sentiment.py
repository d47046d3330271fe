"""The shipped sentiment model: loading, behaviour on clear cases, scores on held-out data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.enrich.evaluate import macro_f1, sentiment_scores
from veille.enrich.sentiment import (
    LinearSentiment,
    ModelFileError,
    SentimentStep,
    default_model,
    from_finding,
    load_backend,
    to_finding,
    to_sentiment,
)
from veille.enrich.sentiment_features import Analysed, word_features
from veille.model import Enrichment, Post, Sentiment


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("I love this, what a wonderful day with great people! 😍", "en", "positive"),
        ("This is the worst service ever, absolutely terrible and rude 😡", "en", "negative"),
        ("Merci beaucoup pour votre aide, c'était vraiment génial !", "fr", "positive"),
        ("C'est une honte, service lamentable et personnel désagréable", "fr", "negative"),
        ("Vielen Dank, das war wirklich super und sehr schön! 😊", "de", "positive"),
        ("Was für ein Mist, total enttäuscht und wütend", "de", "negative"),
        ("Wat een geweldige dag, echt super bedankt! 👍", "nl", "positive"),
        ("Schandalig, waardeloze service en niemand helpt", "nl", "negative"),
    ],
)
def test_clear_cases_in_each_language(text: str, lang: str, label: str) -> None:
    assert default_model().analyze(text, lang).label == label


def test_score_is_the_label_probability_and_polarity_the_signed_difference() -> None:
    model = default_model()
    neg, neu, pos = model.probabilities("great job, thanks!", "en")
    assert math.isclose(neg + neu + pos, 1.0, rel_tol=1e-6)
    s = model.analyze("great job, thanks!", "en")
    assert s == Sentiment(label="positive", score=round(pos, 4), polarity=round(pos - neg, 4))


def test_to_sentiment_picks_the_most_probable_label() -> None:
    assert to_sentiment([0.2, 0.5, 0.3]) == Sentiment(label="neutral", score=0.5, polarity=0.1)
    assert to_sentiment([0.7, 0.2, 0.1]).label == "negative"


def test_finding_round_trip_and_pipeline_step() -> None:
    s = Sentiment(label="negative", score=0.7, polarity=-0.55)
    finding = to_finding(s)
    assert (finding.kind, finding.detector, finding.label, finding.score) == (
        "sentiment",
        "sentiment",
        "negative",
        0.7,
    )
    assert from_finding(finding) == s
    post = Post(platform="x", native_id="1", text="Wat een geweldige dag, bedankt!", lang="nl")
    enrichment = SentimentStep()(post, None, [], Enrichment(lang="nl"))
    verdict = enrichment.verdict("sentiment")
    assert verdict is not None
    assert verdict.label == "positive"


def test_unknown_language_uses_all_lexicons() -> None:
    model = default_model()
    assert model.analyze("super, génial, geweldig 😍", "und").label == "positive"
    assert model.analyze("super, génial, geweldig 😍", "es").label == "positive"


LANGS = st.sampled_from(["fr", "nl", "de", "en", "und", ""])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=200), LANGS), max_size=10))
def test_analyze_many_equals_analyze(pairs: list[tuple[str, str]]) -> None:
    model = default_model()
    texts, langs = [t for t, _ in pairs], [lg for _, lg in pairs]
    batch = model.analyze_many(texts, langs)
    assert batch == [model.analyze(t, lg) for t, lg in pairs]
    assert np.array_equal(
        model.probabilities_many(texts, langs).reshape(-1, 3),
        np.array([model.probabilities(t, lg) for t, lg in pairs]).reshape(-1, 3),
    )


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=300))
def test_word_indices_are_the_vocabulary_indices_of_word_features(text: str) -> None:
    model = default_model()
    an = Analysed(text)
    # -1 stands for a feature outside the vocabulary (dropped in the batch arithmetic).
    assert model._word_indices(an) == [model.vocab.get(f, -1) for f in word_features(an)]


def test_pipeline_step_batch_form_equals_one_at_a_time() -> None:
    step = SentimentStep()
    posts = [
        Post(platform="t", native_id=str(i), text=t, lang=lg)
        for i, (t, lg) in enumerate([("great job!", "en"), ("c'est nul", "fr"), ("ok", "")])
    ]
    so_far = [Enrichment(lang=p.lang) for p in posts]
    many = step.many(posts, [None] * 3, [[]] * 3, so_far)
    assert many == [step(p, None, [], e) for p, e in zip(posts, so_far, strict=True)]
    assert [e.findings[0].kind for e in many] == ["sentiment"] * 3


def test_model_metadata_names_its_training_data() -> None:
    meta = default_model().meta
    assert "XLM-T" in meta["trained_on"]
    assert set(meta["val_macro_f1"]) == {"fr", "de", "en"}


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["fr", "nl", "de", "en", "und", ""]))
def test_any_text_gets_a_label_and_a_bounded_score(text: str, lang: str) -> None:
    s = default_model().analyze(text, lang)
    assert s.label in ("negative", "neutral", "positive")
    assert 1 / 3 - 1e-4 <= s.score <= 1.0
    assert -1.0 <= s.polarity <= 1.0


def test_missing_or_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read"):
        LinearSentiment(tmp_path / "absent.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match="cannot read"):
        LinearSentiment(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, idf=np.zeros(3, dtype=np.float32))
    with pytest.raises(ModelFileError, match="malformed"):
        LinearSentiment(partial)


def test_backend_choice_is_validated() -> None:
    assert load_backend() is default_model()
    with pytest.raises(ValueError, match="model_path"):
        load_backend("onnx")
    with pytest.raises(ValueError, match="unknown sentiment backend"):
        load_backend("magic")


def test_macro_f1() -> None:
    assert macro_f1(["a", "b"], ["a", "b"], ["a", "b"]) == 1.0
    assert macro_f1(["a", "a"], ["b", "b"], ["a", "b"]) == 0.0
    assert math.isclose(macro_f1(["a", "b", "b"], ["a", "a", "b"], ["a", "b"]), 2 / 3)


def test_val_split_target_is_met(shared_data: Path) -> None:
    """The issue's target: mean macro-F1 over FR/DE/EN >= 0.62 on XLM-T val (never trained on)."""
    scores = {s.name.split()[0]: s.macro_f1 for s in sentiment_scores(default_model(), shared_data)}
    assert (scores["fr"] + scores["de"] + scores["en"]) / 3 >= 0.62
    assert scores["nl"] >= 0.6
