"""What every detector shares: the document it reads, the bound on input, the detector contract."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from typing import Final, Protocol

import daachorse

from veille.enrich.lexicon import Token, tokenize
from veille.model import Finding, Span
from veille.normalise.fold import Folded, fold

MAX_CHARS = 20_000
"""Detectors read at most this many characters of a post: every input has a bound. Offsets stay
those of the original text because the bound keeps a prefix."""


_DIGIT = re.compile(r"\d")


def has_digit(text: str) -> bool:
    """Whether ``text`` holds a decimal digit (any script): most identifiers need one."""
    return _DIGIT.search(text) is not None


def _case_classes() -> dict[str, str]:
    """Python's ``re`` matches, under IGNORECASE, characters whose simple lower cases are equal
    *or* listed together in its table of extra cases ("i" and dotless "ı", "s" and long "ſ",
    Greek and Cyrillic variants): each listed character → the smallest of its class.

    Empty when the table is not where Python 3.11 keeps it: then :class:`Literals` folding
    case finds everything (no prefilter rather than a wrong one).
    """
    try:
        extra: Mapping[int, tuple[int, ...]] = importlib.import_module("re._casefix")._EXTRA_CASES
    except (ImportError, AttributeError):
        return {}
    parent = {c: c for c, others in extra.items() for c in (c, *others)}

    def root(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    for c, others in extra.items():
        for other in others:
            a, b = root(c), root(other)
            parent[max(a, b)] = min(a, b)
    return {chr(c): chr(root(c)) for c in parent if root(c) != c}


_CLASSES: Final = _case_classes()
_CANON: Final = str.maketrans(_CLASSES)
_VARIANT: Final = re.compile("[" + "".join(map(re.escape, _CLASSES)) + "]") if _CLASSES else None


def case_blind(text: str) -> str:
    """``text`` lowered, with each character of ``re``'s extra case classes replaced by its
    class's representative: what a pattern matches under IGNORECASE is a substring here too."""
    if text.isascii():
        return text.lower()
    # Full lower case differs from the simple lower case ``re`` uses only for "İ".
    lowered = text.replace("İ", "i").lower()
    if _VARIANT is None or _VARIANT.search(lowered) is None:
        return lowered
    return lowered.translate(_CANON)


class Literals:
    """Whether any of some literal pieces occurs in a text: one Aho-Corasick pass, the cheap
    first check before a regular expression that can only match where one of them is written.
    With ``fold_case``, pieces and text go through :func:`case_blind` (for IGNORECASE)."""

    def __init__(self, pieces: Iterable[str], *, fold_case: bool = False) -> None:
        self.fold_case = fold_case
        unique = sorted({case_blind(p) if fold_case else p for p in pieces})
        # Without Python's case table, or with an empty piece, every text may match.
        self.always = "" in unique or (fold_case and not _CLASSES)
        self._automaton = (
            daachorse.CharwiseDoubleArrayAhoCorasick(unique) if unique and not self.always else None
        )

    def found_in(self, text: str, blind: str | None = None) -> bool:
        """Whether a piece occurs in ``text`` (``blind``: its :func:`case_blind` form when
        already computed). Always true for a text with lone surrogates, which the automaton
        cannot read."""
        if self.always:
            return True
        if self._automaton is None:
            return False
        if self.fold_case:
            text = case_blind(text) if blind is None else blind
        try:
            return bool(self._automaton.find(text))
        except UnicodeEncodeError:
            return True


class Document:
    """One post as the detectors see it: its (bounded) text, language and folded words."""

    __slots__ = ("_digit", "_folded", "_tokens", "lang", "text", "truncated")

    def __init__(
        self, text: str, lang: str = "", truncated: bool = False, folded: Folded | None = None
    ) -> None:
        self.text = text
        self.lang = lang
        self.truncated = truncated
        self._folded = folded
        self._tokens: list[Token] | None = None
        self._digit: bool | None = None

    @classmethod
    def of(
        cls, text: str, lang: str = "", max_chars: int = MAX_CHARS, folded: Folded | None = None
    ) -> Document:
        """Bound ``text`` to ``max_chars`` characters, remembering whether anything was cut.

        ``folded`` (the pipeline's :func:`~veille.normalise.fold.fold` of the text) is reused
        when the text is within the bound, so the post is folded once.
        """
        if len(text) > max_chars:
            return cls(text[:max_chars], lang, truncated=True)
        return cls(text, lang, folded=folded)

    @property
    def folded(self) -> Folded:
        """The text folded exactly as rules fold it (computed on first use)."""
        if self._folded is None:
            self._folded = fold(self.text)
        return self._folded

    @property
    def tokens(self) -> list[Token]:
        """The text cut the way the detectors' lexicons are written (computed on first use)."""
        if self._tokens is None:
            self._tokens = tokenize(self.text)
        return self._tokens

    @property
    def has_digit(self) -> bool:
        """Whether the text holds a digit (computed once, shared by the detectors)."""
        if self._digit is None:
            self._digit = has_digit(self.text)
        return self._digit


class Detector(Protocol):
    """A pure detector: no I/O at call time, linear in the text, never raises on odd text."""

    name: str

    def detect(self, doc: Document) -> list[Finding]:
        """Findings in ``doc``, spans in original-text offsets."""
        ...


def drop_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep, among hits whose first spans overlap, the one with the higher score (then longer).

    Two detectors can claim the same digits (an 11-digit national number also looks like a
    phone number); the checksummed, more specific reading wins.
    """
    ranked = sorted(findings, key=lambda f: (-f.score, -(_first(f)[1] - _first(f)[0])))
    kept: list[Finding] = []
    for finding in ranked:
        start, end = _first(finding)
        if all(end <= _first(k)[0] or start >= _first(k)[1] for k in kept):
            kept.append(finding)
    return sorted(kept, key=_first)


def _first(finding: Finding) -> Span:
    return finding.spans[0] if finding.spans else (0, 0)
