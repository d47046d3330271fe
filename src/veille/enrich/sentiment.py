"""Sentiment of a post: negative / neutral / positive with a signed score, FR/NL/DE/EN.

The built-in model is a multinomial logistic regression over tf-idf word and character
n-grams plus lexicon features (``sentiment_features``), trained by ``train/sentiment.py`` and
shipped as ``veille/data/models/sentiment.npz``. Inference needs numpy only and nothing from
the network. An optional transformer backend (``sentiment_onnx``) can replace it.

``score`` is the probability of the label (a confidence, as for every classifier finding);
``polarity`` is ``P(positive) - P(negative)`` in [-1, 1], which averages meaningfully in trends.
In the pipeline, :class:`SentimentStep` adds the verdict as a ``sentiment`` :class:`Finding`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from veille.enrich.sentiment_features import (
    DENSE_FEATURES,
    Analysed,
    char_features,
    dense_features,
    word_features,
)
from veille.model import SENTIMENT_LABELS, Enrichment, Finding, Match, Post, Sentiment

MODEL_RESOURCE: Final = "data/models/sentiment.npz"
CHAR_CACHE_SIZE: Final = 100_000
"""Tokens whose character n-gram indices are kept (a few MB); cleared whole when full."""
ANY_LANGUAGE: Final = "*"
"""Lexicon key used for posts whose language is unknown or has no lexicon of its own."""


class SentimentBackend(Protocol):
    """What the enrichment stage needs from a sentiment model."""

    def analyze(self, text: str, lang: str = "") -> Sentiment:
        """Sentiment of one text; ``lang`` is an ISO 639-1 code, ``und`` or empty."""
        ...

    def analyze_many(self, texts: Sequence[str], langs: Sequence[str]) -> list[Sentiment]:
        """Sentiment of many texts at once (backends that batch are faster this way)."""
        ...


class ModelFileError(ValueError):
    """A sentiment model file is missing, truncated or not in the expected shape."""


def to_sentiment(probs: Sequence[float]) -> Sentiment:
    """Label, confidence and polarity from (negative, neutral, positive) probabilities."""
    best = max(range(3), key=probs.__getitem__)
    return Sentiment(
        label=SENTIMENT_LABELS[best],
        score=round(probs[best], 4),
        polarity=round(probs[2] - probs[0], 4),
    )


POLARITY_PREFIX: Final = "polarity "


def to_finding(sentiment: Sentiment) -> Finding:
    """The ``sentiment`` verdict as the enrichment stage records it."""
    return Finding(
        kind="sentiment",
        detector="sentiment",
        label=sentiment.label,
        score=sentiment.score,
        explanation=f"{POLARITY_PREFIX}{sentiment.polarity:+.4f}",
    )


def from_finding(finding: Finding) -> Sentiment:
    """Back from a stored ``sentiment`` finding (polarity 0 when the explanation lacks it)."""
    label = finding.label if finding.label in SENTIMENT_LABELS else "neutral"
    polarity = 0.0
    if finding.explanation.startswith(POLARITY_PREFIX):
        try:
            polarity = float(finding.explanation[len(POLARITY_PREFIX) :])
        except ValueError:
            polarity = 0.0
    return Sentiment(label=label, score=finding.score, polarity=polarity)


class SentimentStep:
    """Pipeline enrichment step: adds the post's ``sentiment`` finding.

    Uses the language already settled (``enrichment.lang``, else ``post.lang``) to pick the
    lexicon; any language works.
    """

    def __init__(self, backend: SentimentBackend | None = None) -> None:
        self.backend = backend or default_model()

    def __call__(
        self, post: Post, folded: object, matches: Sequence[Match], enrichment: Enrichment
    ) -> Enrichment:
        sentiment = self.backend.analyze(post.text, enrichment.lang or post.lang)
        return msgspec.structs.replace(
            enrichment, findings=(*enrichment.findings, to_finding(sentiment))
        )


def pipeline_step() -> SentimentStep:
    """Factory named in a processor spec (``veille.enrich.sentiment:pipeline_step``): reads the
    ``[sentiment]`` settings and loads the model once per worker process."""
    from veille.config import load_settings

    cfg = load_settings().sentiment
    return SentimentStep(load_backend(cfg.backend, cfg.model_path))


class LinearSentiment:
    """The built-in model: numpy-only inference of the weights ``train/sentiment.py`` wrote."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        try:
            if path is None:
                with resources.as_file(resources.files("veille") / MODEL_RESOURCE) as p:
                    arrays = dict(np.load(p, allow_pickle=False))
            else:
                arrays = dict(np.load(path, allow_pickle=False))
        except (OSError, ValueError, EOFError) as exc:
            raise ModelFileError(
                f"cannot read sentiment model {path or MODEL_RESOURCE}: {exc}"
            ) from exc
        try:
            words = arrays["vocab"].tobytes().decode("utf-8").split("\n")
            self.vocab: dict[str, int] = {w: i for i, w in enumerate(words)}
            self.idf: npt.NDArray[np.float32] = arrays["idf"].astype(np.float32)
            self.sparse_weights: npt.NDArray[np.float32] = arrays["sparse_weights"]
            self.dense_weights: npt.NDArray[np.float32] = arrays["dense_weights"]
            self.bias: npt.NDArray[np.float32] = arrays["bias"]
            lexicons = json.loads(arrays["lexicons"].tobytes())
            self.meta: dict[str, Any] = json.loads(arrays["meta"].tobytes())
        except (KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(
                f"sentiment model {path or MODEL_RESOURCE} is malformed: {exc}"
            ) from exc
        if self.sparse_weights.shape != (len(words), 3) or len(self.idf) != len(words):
            raise ModelFileError(f"sentiment model {path or MODEL_RESOURCE}: shapes disagree")
        if self.dense_weights.shape != (len(DENSE_FEATURES), 3):
            raise ModelFileError(
                f"sentiment model {path or MODEL_RESOURCE} was trained with other dense features"
            )
        self.lexicons: dict[str, dict[str, float]] = lexicons
        self._char_cache: dict[str, tuple[int, ...]] = {}
        self._zero = np.zeros(3, dtype=np.float32)
        self.lexicons[ANY_LANGUAGE] = _merge(lexicons.values())

    def _char_indices(self, tokens: list[str]) -> list[int]:
        """Vocabulary indices of the character n-grams of ``tokens``, cached per token: most
        tokens of a post were seen in earlier posts, and slicing them again costs the most."""
        cache = self._char_cache
        vocab = self.vocab
        out: list[int] = []
        for tok in tokens:
            found = cache.get(tok)
            if found is None:
                grams = char_features((tok,))
                found = tuple(i for i in map(vocab.get, grams) if i is not None)
                if len(cache) >= CHAR_CACHE_SIZE:
                    cache.clear()
                cache[tok] = found
            out.extend(found)
        return out

    def _block(self, indices: list[int]) -> npt.NDArray[np.float32]:
        """The L2-normalised sublinear tf-idf block's contribution to the three logits."""
        if not indices:
            return self._zero
        uniq, counts = np.unique(np.asarray(indices, dtype=np.intp), return_counts=True)
        weights = (1.0 + np.log(counts, dtype=np.float32)) * self.idf[uniq]
        weights /= np.float32(math.sqrt(float(weights @ weights)))
        block: npt.NDArray[np.float32] = np.asarray(
            weights @ self.sparse_weights[uniq], dtype=np.float32
        )
        return block

    def probabilities(self, text: str, lang: str = "") -> tuple[float, float, float]:
        """P(negative), P(neutral), P(positive) for one text."""
        an = Analysed(text)
        vocab = self.vocab
        words = [i for i in map(vocab.get, word_features(an)) if i is not None]
        lexicon = self.lexicons.get(lang) or self.lexicons[ANY_LANGUAGE]
        dense = np.asarray(dense_features(an, lexicon), dtype=np.float32)
        logits = (
            self.bias
            + dense @ self.dense_weights
            + self._block(words)
            + self._block(self._char_indices(an.tokens))
        )
        top = float(logits.max())
        exp = [math.exp(float(v) - top) for v in logits]
        total = exp[0] + exp[1] + exp[2]
        return (exp[0] / total, exp[1] / total, exp[2] / total)

    def analyze(self, text: str, lang: str = "") -> Sentiment:
        """Sentiment of one text; the language picks the lexicon (any language works)."""
        return to_sentiment(self.probabilities(text, lang))

    def analyze_many(self, texts: Sequence[str], langs: Sequence[str]) -> list[Sentiment]:
        """Sentiment of each text; one at a time, the cost is per post anyway."""
        return [self.analyze(t, lg) for t, lg in zip(texts, langs, strict=True)]


def _merge(tables: Iterable[dict[str, float]]) -> dict[str, float]:
    """One lexicon for unknown languages: the mean polarity of a word over the tables."""
    acc: dict[str, list[float]] = {}
    for table in tables:
        for word, value in table.items():
            acc.setdefault(word, []).append(value)
    return {w: sum(v) / len(v) for w, v in acc.items()}


@cache
def default_model() -> LinearSentiment:
    """The shipped model, loaded once per process."""
    return LinearSentiment()


def load_backend(backend: str = "builtin", model_path: str | Path = "") -> SentimentBackend:
    """The configured backend: ``builtin`` (shipped) or ``onnx`` (a local transformer export)."""
    if backend == "builtin":
        return LinearSentiment(Path(model_path)) if model_path else default_model()
    if backend == "onnx":
        if not model_path:
            raise ValueError("sentiment backend 'onnx' needs sentiment.model_path (a folder)")
        from veille.enrich.sentiment_onnx import OnnxSentiment

        return OnnxSentiment(Path(model_path))
    raise ValueError(f"unknown sentiment backend {backend!r} (expected 'builtin' or 'onnx')")
