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

import re
from collections.abc import Sequence
from functools import cache
from itertools import islice, pairwise
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

OVERLAP: Final = 6
"""The deepest state of py3langid's byte automaton (its longest n-gram, checked by
``tests/normalise/test_language.py``): the state after any ``OVERLAP`` bytes no longer depends
on what came before them, so a text can be walked in independent chunks that each re-read the
``OVERLAP`` bytes before them."""
CHUNK: Final = 64
"""Bytes each chunk contributes in the batch walk (one numpy step per byte of a chunk)."""
SMALL_BATCH_BYTES: Final = 1024
"""Below this many bytes in all, walking each text in Python costs less than the numpy steps."""
_RESET: Final = 0xFF
"""A byte that never occurs in UTF-8 and sends every state of the automaton back to the start:
it separates the texts of a batch in one byte stream (checked when the model loads)."""

_NOISE = re.compile(r"(?:https?://|www\.)\S*|@[\w.]+|&\w+;|#")


class LanguageGuess(msgspec.Struct, frozen=True):
    """The decision and how sure it is (probability among the configured languages)."""

    lang: str
    confidence: float


@cache
def _identifier() -> LanguageIdentifier:
    # Raw (unnormalised) log-scores over every language: we normalise ourselves.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)


class _Model:
    """py3langid's automaton and naive-Bayes table as numpy arrays, for whole batches."""

    def __init__(self, ident: LanguageIdentifier) -> None:
        self.ident = ident
        self.nextmove: npt.NDArray[np.uint32] = np.frombuffer(ident.tk_nextmove, dtype=np.uint32)
        self.rowbase: npt.NDArray[np.int64] = np.asarray(ident._rowbase, dtype=np.int64)
        self.output: npt.NDArray[np.int32] = np.asarray(ident.tk_output, dtype=np.int32)
        if self.output[0] >= 0 or np.any(self.nextmove[self.rowbase + _RESET] != 0):
            raise RuntimeError("py3langid model: byte 0xFF does not reset its automaton")
        # float32: numpy's products have no fast float16 path (the wheel stores float16).
        self.table: npt.NDArray[np.float32] = np.asarray(ident.nb_ptc, dtype=np.float32)
        self.prior: npt.NDArray[np.float32] = np.asarray(ident.nb_pc, dtype=np.float32)

    def features(self, encoded: Sequence[bytes]) -> tuple[npt.NDArray[np.intp], ...]:
        """``(text, feature, count)`` triples of the texts' n-gram features, sorted by text
        then feature: py3langid's ``visit_counts`` for every text at once."""
        if sum(map(len, encoded)) < SMALL_BATCH_BYTES:
            return self._features_each(encoded)
        stream = bytes([_RESET]) * OVERLAP + bytes([_RESET]).join(encoded)
        rows = -(-(len(stream) - OVERLAP) // CHUNK)
        padded = np.frombuffer(
            stream.ljust(rows * CHUNK + OVERLAP, bytes([_RESET])), dtype=np.uint8
        )
        # Column j of `steps` is byte j of every chunk (chunk r starts at r * CHUNK).
        steps = padded[np.arange(OVERLAP + CHUNK)[:, None] + np.arange(rows)[None, :] * CHUNK]
        nextmove, rowbase, output = self.nextmove, self.rowbase, self.output
        state = np.zeros(rows, dtype=np.uint32)
        for column in steps[:OVERLAP]:
            state = nextmove[rowbase[state] + column]
        found = np.empty((CHUNK, rows), dtype=np.int32)
        for j, column in enumerate(steps[OVERLAP:]):
            state = nextmove[rowbase[state] + column]
            found[j] = output[state]
        flat = found.T.ravel()  # stream order: position p is byte p + OVERLAP of `stream`
        at = np.flatnonzero(flat >= 0)
        lengths = np.fromiter(map(len, encoded), dtype=np.intp, count=len(encoded)) + 1
        owner = np.repeat(np.arange(len(encoded), dtype=np.intp), lengths)
        return self._count(owner[at], flat[at].astype(np.intp))

    def _features_each(self, encoded: Sequence[bytes]) -> tuple[npt.NDArray[np.intp], ...]:
        ident = self.ident
        texts: list[int] = []
        feats: list[int] = []
        counts: list[int] = []
        for i, data in enumerate(encoded):
            visits = visit_counts(ident.tk_nextmove, ident._rowbase, ident.tk_output, data) or {}
            keys = sorted(visits)  # the order of the batch walk's np.unique
            texts += [i] * len(keys)
            feats += keys
            counts += map(visits.__getitem__, keys)
        return tuple(np.asarray(x, dtype=np.intp) for x in (texts, feats, counts))

    def _count(
        self, text: npt.NDArray[np.intp], feat: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.intp], ...]:
        width = len(self.table)
        keys, counts = np.unique(text.astype(np.int64) * width + feat, return_counts=True)
        return (keys // width).astype(np.intp), (keys % width).astype(np.intp), counts

    def scores(self, encoded: Sequence[bytes]) -> npt.NDArray[np.float32]:
        """Raw naive-Bayes log-scores, one row per text, one column per class of the model.

        The computation of py3langid's ``rank``: log1p of the feature counts times the table,
        plus the class prior; a text without any feature scores 0 everywhere.
        ``tests/normalise/test_language.py`` checks it against ``rank``.
        """
        text, feat, counts = self.features(encoded)
        bounds = np.searchsorted(text, np.arange(len(encoded) + 1)).tolist()
        raw = np.zeros((len(encoded), self.table.shape[1]), dtype=np.float32)
        table, prior = self.table, self.prior
        for i, (start, end) in enumerate(pairwise(bounds)):
            if end > start:
                # One product per text, on fresh arrays: its sums never depend on the batch.
                weights = np.log1p(counts[start:end].astype(np.float32))
                raw[i] = weights @ table[feat[start:end]] + prior
        return raw


@cache
def _model() -> _Model:
    return _Model(_identifier())


def _scores(text: str) -> npt.NDArray[np.float32]:
    """Raw naive-Bayes log-scores of one text for every class of the model, in model order."""
    scores: npt.NDArray[np.float32] = _model().scores([_identifier()._encode(text)])[0]
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
        _model()  # built now (a fraction of a second), not on the first batch
        known = set(ident.labels)
        unknown = [lg for lg in languages if lg not in known]
        if unknown:
            raise ValueError(f"language(s) not known to the identifier: {', '.join(unknown)}")
        if not languages:
            raise ValueError("at least one language must be configured")
        self.languages = tuple(dict.fromkeys(languages))
        classes = list(ident.nb_classes)
        self._ours = np.array([classes.index(lg) for lg in self.languages])
        self._foreign = np.array([i for i, c in enumerate(classes) if c not in self.languages])
        self._position = {lg: i for i, lg in enumerate(self.languages)}
        self.min_confidence = min_confidence
        self.hint_weight = hint_weight
        self.other_margin = other_margin

    def guess(self, text: str, hint: str = "") -> LanguageGuess:
        """The language of ``text`` with its confidence; ``hint`` is the platform's tag."""
        return self.guess_many([text], [hint])[0]

    def guess_many(self, texts: Sequence[str], hints: Sequence[str]) -> list[LanguageGuess]:
        """:meth:`guess` for every text at once (the same answers, a fraction of the cost):
        one walk of the automaton and one sparse product for the whole batch."""
        ident = _identifier()
        guesses: list[LanguageGuess | None] = []
        hinted: list[int] = []
        encoded: list[bytes] = []
        lengths: list[int] = []
        for text, tag in zip(texts, hints, strict=True):
            hint = self._position.get(_primary_subtag(tag), -1)
            clean = _NOISE.sub(" ", text[:MAX_CHARS])
            if len(list(islice(filter(str.isalpha, clean), MIN_LETTERS))) < MIN_LETTERS:
                lang = self.languages[hint] if hint >= 0 else UNDETERMINED
                guesses.append(LanguageGuess(lang, 0.5 if hint >= 0 else 0.0))
                continue
            guesses.append(None)
            hinted.append(hint)
            encoded.append(ident._encode(clean))
            lengths.append(len(clean.encode("utf-8", "surrogatepass")))
        if encoded:
            decided = iter(self._decide(_model().scores(encoded), hinted, lengths))
            return [g if g is not None else next(decided) for g in guesses]
        return [g for g in guesses if g is not None]

    def _decide(
        self, raw: npt.NDArray[np.float32], hinted: list[int], lengths: list[int]
    ) -> list[LanguageGuess]:
        """The two-step decision for each row of raw scores (module docstring)."""
        # py3langid's own calibration: temperature sqrt(bytes) keeps short and long texts alike.
        temp = np.sqrt(np.asarray(lengths, dtype=np.float64))[:, None]
        ours = raw[:, self._ours].astype(np.float64) / temp
        best_foreign = raw[:, self._foreign].max(axis=1).astype(np.float64) / temp[:, 0]
        hint = np.asarray(hinted)
        has_hint = hint >= 0
        foreign = (best_foreign - ours.max(axis=1) > self.other_margin) & ~has_hint
        rows = np.flatnonzero(has_hint)
        ours[rows, hint[rows]] += self.hint_weight
        exp = np.exp(ours - ours.max(axis=1, keepdims=True))
        probs = exp / exp.sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        p = probs[np.arange(len(best)), best].tolist()
        out = []
        for i, (choice, prob) in enumerate(zip(best.tolist(), p, strict=True)):
            if foreign[i]:
                out.append(LanguageGuess(UNDETERMINED, 0.0))
            elif prob < self.min_confidence:
                out.append(LanguageGuess(UNDETERMINED, round(prob, 4)))
            else:
                out.append(LanguageGuess(self.languages[choice], round(prob, 4)))
        return out

    def detect(self, text: str, hint: str = "") -> str:
        """Just the language code (``und`` when unsure)."""
        return self.guess(text, hint).lang

    def detect_many(self, texts: Sequence[str], hints: Sequence[str]) -> list[str]:
        """Just the language codes of :meth:`guess_many`."""
        return [g.lang for g in self.guess_many(texts, hints)]


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

    def many(self, posts: Sequence[Post], folded: Sequence[object] = ()) -> list[str]:
        """The batch form the pipeline prefers: every post of a batch at once."""
        return self.detector.detect_many(
            [p.text for p in posts], [p.lang_hint or p.lang for p in posts]
        )


def pipeline_language() -> PipelineLanguage:
    """Factory named in a processor spec (``veille.normalise.language:pipeline_language``):
    reads the ``[language]`` settings once per worker process."""
    from veille.config import load_settings

    cfg = load_settings().language
    return PipelineLanguage(LanguageDetector(cfg.languages, min_confidence=cfg.min_confidence))
