"""Language of a post, offline, restricted to the configured languages (``und`` when unsure).

py3langid's naive-Bayes model (shipped in its wheel) scores all of its 97 languages; we keep
those scores and decide in two steps, which measured better than either alone
(docs/temperature.md):

1. *Is it one of ours at all?* If another language clearly out-scores every configured one
   (Spanish, Turkish, Arabic …), the post is ``und``: veille passes it through untouched.
2. *Which of ours?* A softmax over the configured languages only; the platform's own tag is a
   prior (a hint, not the truth); below ``min_confidence`` the answer is ``und``.

Mentions, URLs and the ``#`` of hashtags are removed first: they are not language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from veille.model import Post

UNDETERMINED: Final = "und"
DEFAULT_LANGUAGES: Final = ("fr", "nl", "de", "en")
MAX_CHARS: Final = 1000
"""Only the first ``MAX_CHARS`` characters are read: enough for any language, bounded cost."""
MIN_LETTERS: Final = 3
"""Texts with fewer letters than this are not guessed from (the hint alone decides)."""

_NOISE = re.compile(r"(?:https?://|www\.)\S*|@[\w.]+|&\w+;|#")


class LanguageGuess(msgspec.Struct, frozen=True):
    """The decision and how sure it is (probability among the configured languages)."""

    lang: str
    confidence: float


@cache
def _identifier() -> LanguageIdentifier:
    # Raw (unnormalised) log-scores over every language: we normalise ourselves.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)


def _scores(text: str) -> npt.NDArray[np.float32]:
    """Raw naive-Bayes log-scores of ``text`` for every class of the model, in model order.

    The same computation as py3langid's ``rank`` (its byte DFA walk, then the sparse product)
    without sorting 97 labels into tuples: a third of the cost per post. Pinned to py3langid
    0.4 (``pyproject.toml``); ``tests/normalise/test_language.py`` checks it against ``rank``.
    """
    ident = _identifier()
    visits = visit_counts(ident.tk_nextmove, ident._rowbase, ident.tk_output, ident._encode(text))
    if not visits:
        return np.zeros(len(ident.nb_classes), dtype=np.float32)
    scores: npt.NDArray[np.float32] = ident._sparse_score(visits, ident.nb_ptc)
    return scores


class LanguageDetector:
    """Chooses among ``languages`` or says ``und``; a platform hint shifts the odds.

    ``other_margin`` is how much better (log-odds, per ``sqrt(bytes)`` as py3langid calibrates)
    a foreign language must score than the best configured one before the post is called
    foreign; ``hint_weight`` is the prior log-odds given to the hinted language.
    """

    def __init__(
        self,
        languages: Sequence[str] = DEFAULT_LANGUAGES,
        *,
        min_confidence: float = 0.6,
        hint_weight: float = 1.5,
        other_margin: float = 1.0,
    ) -> None:
        ident = _identifier()
        known = set(ident.labels)
        unknown = [lg for lg in languages if lg not in known]
        if unknown:
            raise ValueError(f"language(s) not known to the identifier: {', '.join(unknown)}")
        if not languages:
            raise ValueError("at least one language must be configured")
        self.languages = tuple(dict.fromkeys(languages))
        classes = list(ident.nb_classes)
        self._ours = [classes.index(lg) for lg in self.languages]
        self._foreign = np.array([i for i, c in enumerate(classes) if c not in self.languages])
        self.min_confidence = min_confidence
        self.hint_weight = hint_weight
        self.other_margin = other_margin

    def guess(self, text: str, hint: str = "") -> LanguageGuess:
        """The language of ``text`` with its confidence; ``hint`` is the platform's tag."""
        hint = _primary_subtag(hint)
        clean = _NOISE.sub(" ", text[:MAX_CHARS])
        letters = sum(1 for c in clean if c.isalpha())
        if letters < MIN_LETTERS:
            if hint in self.languages:
                return LanguageGuess(hint, 0.5)
            return LanguageGuess(UNDETERMINED, 0.0)
        raw = _scores(clean)
        # py3langid's own calibration: temperature sqrt(bytes) keeps short and long texts alike.
        temp = math.sqrt(len(clean.encode("utf-8", "surrogatepass")))
        ours = {lg: float(raw[i]) / temp for lg, i in zip(self.languages, self._ours, strict=True)}
        best_foreign = float(raw[self._foreign].max()) / temp
        best_ours = max(ours.values())
        if best_foreign - best_ours > self.other_margin and hint not in ours:
            return LanguageGuess(UNDETERMINED, 0.0)
        if hint in ours:
            ours[hint] += self.hint_weight
        top = max(ours.values())
        exp = {lg: math.exp(v - top) for lg, v in ours.items()}
        total = sum(exp.values())
        lang, p = max(((lg, e / total) for lg, e in exp.items()), key=lambda x: x[1])
        if p < self.min_confidence:
            return LanguageGuess(UNDETERMINED, round(p, 4))
        return LanguageGuess(lang, round(p, 4))

    def detect(self, text: str, hint: str = "") -> str:
        """Just the language code (``und`` when unsure)."""
        return self.guess(text, hint).lang


def _primary_subtag(tag: str) -> str:
    """``"nl-BE"`` → ``"nl"``; platforms send BCP 47 tags, our languages are ISO 639-1."""
    return tag.strip().lower().replace("_", "-").split("-", 1)[0]


@cache
def default_detector() -> LanguageDetector:
    """A detector for FR/NL/DE/EN with the default thresholds, built once per process."""
    return LanguageDetector()


class PipelineLanguage:
    """The pipeline's language hook: ``(post, folded) -> code``, the platform tag as a hint."""

    def __init__(self, detector: LanguageDetector | None = None) -> None:
        self.detector = detector or default_detector()

    def __call__(self, post: Post, folded: object = None) -> str:
        return self.detector.detect(post.text, post.lang_hint or post.lang)


def pipeline_language() -> PipelineLanguage:
    """Factory named in a processor spec (``veille.normalise.language:pipeline_language``):
    reads the ``[language]`` settings once per worker process."""
    from veille.config import load_settings

    cfg = load_settings().language
    return PipelineLanguage(LanguageDetector(cfg.languages, min_confidence=cfg.min_confidence))
