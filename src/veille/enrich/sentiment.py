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
from array import array
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from itertools import pairwise, repeat
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
    marked_words,
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

    def many(
        self,
        posts: Sequence[Post],
        folded: Sequence[object],
        matches: Sequence[Sequence[Match]],
        enrichments: Sequence[Enrichment],
    ) -> list[Enrichment]:
        """The batch form the pipeline prefers: one model call for the whole batch."""
        langs = [e.lang or p.lang for p, e in zip(posts, enrichments, strict=True)]
        found = self.backend.analyze_many([p.text for p in posts], langs)
        return [
            msgspec.structs.replace(e, findings=(*e.findings, to_finding(s)))
            for e, s in zip(enrichments, found, strict=True)
        ]


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
        self.lexicons[ANY_LANGUAGE] = _merge(lexicons.values())
        # The word block's vocabulary without its "w:" / "b:" prefixes: looking the marked
        # words up directly spares building one prefixed string per feature.
        self._unigrams = {w[2:]: i for w, i in self.vocab.items() if w.startswith("w:")}
        self._bigrams = {w[2:]: i for w, i in self.vocab.items() if w.startswith("b:")}
        self._char_cache: dict[str, bytes] = {}
        self._dense_weights = self.dense_weights.astype(np.float64)
        self._sparse_columns = [np.ascontiguousarray(c) for c in self.sparse_weights.T]

    def _word_indices(self, an: Analysed) -> list[int]:
        """Vocabulary indices of :func:`word_features` (unigrams, then bigrams), -1 for a
        feature outside the vocabulary (dropped later, by numpy)."""
        marked = marked_words(an)
        found = [*map(self._unigrams.get, marked, repeat(-1))]
        if len(marked) > 1:
            found += map(self._bigrams.get, map(" ".join, pairwise(marked)), repeat(-1))
        return found

    def _char_grams(self, token: str) -> bytes:
        """Vocabulary indices of the character n-grams of one token, as int32 bytes (joined
        for a whole batch, they become one numpy array without a Python loop)."""
        grams = map(self.vocab.get, char_features((token,)))
        found = array("i", [i for i in grams if i is not None]).tobytes()
        if len(self._char_cache) >= CHAR_CACHE_SIZE:
            self._char_cache.clear()
        self._char_cache[token] = found
        return found

    def _block(
        self, lengths: npt.NDArray[np.int64], indices: npt.NDArray[Any]
    ) -> npt.NDArray[np.float64]:
        """One L2-normalised sublinear tf-idf block's contribution to the three logits of each
        text: ``indices`` holds the texts' vocabulary indices one after the other (-1: none),
        ``lengths[k]`` of them for text ``k``. Whole-batch numpy; each text's sums run over its
        own features only, in the same order whatever the batch."""
        n = len(lengths)
        out = np.zeros((n, 3), dtype=np.float64)
        width = len(self.idf)
        # Key (text, index) as one integer; int32 sorts twice as fast as int64 and holds a
        # batch of up to 31,000 posts.
        key_type = np.int32 if n * width < 2**31 else np.int64
        keys: npt.NDArray[np.signedinteger[Any]] = np.repeat(np.arange(n, dtype=key_type), lengths)
        keys *= width
        keys += indices
        keys = keys[indices >= 0]
        if not len(keys):
            return out
        keys.sort()
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        counts = np.diff(np.append(starts, len(keys)))
        rows, cols = np.divmod(keys[starts], width)
        weights = (1.0 + np.log(counts)) * self.idf[cols]
        norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=n))
        weights /= norms[rows]
        for c, column in enumerate(self._sparse_columns):
            out[:, c] = np.bincount(rows, weights=weights * column[cols], minlength=n)
        return out

    def probabilities_many(
        self, texts: Sequence[str], langs: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        """P(negative), P(neutral), P(positive) of each text, one row per text."""
        words: list[int] = []
        word_counts: list[int] = []
        grams: list[bytes] = []
        token_counts: list[int] = []
        dense: list[float] = []
        lexicons, cache = self.lexicons, self._char_cache
        for text, lang in zip(texts, langs, strict=True):
            an = Analysed(text)
            found = self._word_indices(an)
            words += found
            word_counts.append(len(found))
            tokens = an.tokens
            grams += [c if (c := cache.get(t)) is not None else self._char_grams(t) for t in tokens]
            token_counts.append(len(tokens))
            dense += dense_features(an, lexicons.get(lang) or lexicons[ANY_LANGUAGE])
        n = len(texts)
        # Character n-grams per text: those of its tokens (4 bytes an index).
        per_token = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams)) // 4
        upto = np.concatenate(([0], np.cumsum(per_token)))[np.cumsum(token_counts, dtype=np.intp)]
        chars = np.frombuffer(b"".join(grams), dtype=np.int32)
        features = np.asarray(dense, dtype=np.float64).reshape(n, len(DENSE_FEATURES), 1)
        # Products then a sum over the feature axis rather than one matrix product: BLAS sums
        # in an order that depends on the batch's shape, and a text must score the same in any
        # batch (numpy adds along a non-contiguous axis one term after the other).
        logits = (features * self._dense_weights).sum(axis=1) + self.bias
        logits += self._block(np.asarray(word_counts, dtype=np.int64), np.asarray(words, np.int32))
        logits += self._block(np.diff(upto, prepend=0), chars)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
        return probs

    def probabilities(self, text: str, lang: str = "") -> tuple[float, float, float]:
        """P(negative), P(neutral), P(positive) for one text."""
        neg, neu, pos = self.probabilities_many([text], [lang])[0].tolist()
        return (neg, neu, pos)

    def analyze(self, text: str, lang: str = "") -> Sentiment:
        """Sentiment of one text; the language picks the lexicon (any language works)."""
        return to_sentiment(self.probabilities(text, lang))

    def analyze_many(self, texts: Sequence[str], langs: Sequence[str]) -> list[Sentiment]:
        """Sentiment of each text, the model's arithmetic done once for the whole batch."""
        return [to_sentiment(row) for row in self.probabilities_many(texts, langs).tolist()]


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
