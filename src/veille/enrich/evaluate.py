"""Scores of the language and sentiment stages on labelled data they were not trained on.

Read by ``veille eval sentiment`` and ``veille eval language``. The labelled sets live in
``../shared/data`` (public data, not shipped) plus the Dutch sentences veille ships in
``veille/data/eval/`` (hand-written: there is no labelled Dutch social-media data).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Final

import msgspec

from veille.enrich.sentiment import SentimentBackend
from veille.model import SENTIMENT_LABELS
from veille.normalise.language import UNDETERMINED, LanguageDetector

XLMT: Final = {"fr": "french", "de": "german", "en": "english"}
NL_RESOURCE: Final = "data/eval/sentiment-nl.tsv"


class Score(msgspec.Struct, frozen=True):
    """One evaluation line: what was scored, on how many items, and the figures."""

    name: str
    n: int
    macro_f1: float = 0.0
    accuracy: float = 0.0
    und: float = 0.0
    """Share of items the language stage left undetermined (language scores only)."""


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 (a label absent from both sides scores 0)."""
    scores = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if p == label and g != label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def read_xlmt(data: Path, lang: str, split: str = "val") -> tuple[list[str], list[str]]:
    """Texts and label names of one XLM-T split (files name labels 0/1/2)."""
    base = data / "sentiment" / "xlmt" / XLMT[lang]
    texts = (base / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    raw = (base / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(raw):
        raise ValueError(f"{base}: {len(texts)} texts but {len(raw)} labels in split {split!r}")
    try:
        labels: list[str] = [SENTIMENT_LABELS[int(x)] for x in raw]
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{base}/{split}_labels.txt: labels must be 0, 1 or 2 ({exc})") from None
    return texts, labels


def read_dutch() -> tuple[list[str], list[str]]:
    """The hand-written Dutch sentences shipped with veille: texts and labels."""
    text = (resources.files("veille") / NL_RESOURCE).read_text(encoding="utf-8")
    texts, labels = [], []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            label, sentence = line.split("\t", 1)
            labels.append(label)
            texts.append(sentence)
    return texts, labels


def sentiment_scores(backend: SentimentBackend, data: Path | None) -> list[Score]:
    """Macro-F1 per language on the XLM-T val split (and the Dutch sentences)."""
    sets: list[tuple[str, str, list[str], list[str]]] = []
    if data is not None:
        for lang in XLMT:
            sets.append((f"{lang} (xlm-t val)", lang, *read_xlmt(data, lang)))
    sets.append(("nl (hand-written)", "nl", *read_dutch()))
    out = []
    for name, lang, texts, gold in sets:
        pred = [s.label for s in backend.analyze_many(texts, [lang] * len(texts))]
        acc = sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / len(gold)
        out.append(Score(name, len(gold), macro_f1(gold, pred, SENTIMENT_LABELS), acc))
    return out


def _language_sets(data: Path | None) -> Iterator[tuple[str, str, list[str]]]:
    if data is not None:
        for lang in XLMT:
            texts = []
            for split in ("train", "val"):
                texts += read_xlmt(data, lang, split)[0]
            yield f"{lang} (xlm-t)", lang, texts
        with (data / "harm/mlma-fr/fr_dataset.csv").open(encoding="utf-8", newline="") as fh:
            yield "fr (mlma)", "fr", [row["tweet"] for row in csv.DictReader(fh)]
        lines = (data / "harm/germeval2018/germeval2018.training.txt").read_text("utf-8")
        yield "de (germeval2018)", "de", [ln.split("\t")[0] for ln in lines.splitlines() if ln]
        emotion = (data / "harm/tweeteval/emotion/train_text.txt").read_text("utf-8")
        yield "en (tweeteval emotion)", "en", emotion.splitlines()
    yield "nl (hand-written)", "nl", read_dutch()[0]


def language_scores(detector: LanguageDetector, data: Path | None) -> list[Score]:
    """Accuracy and undetermined share per labelled set of known language."""
    out = []
    for name, lang, texts in _language_sets(data):
        counts = Counter(detector.detect_many(texts, [""] * len(texts)))
        n = len(texts)
        out.append(Score(name, n, accuracy=counts[lang] / n, und=counts[UNDETERMINED] / n))
    return out
