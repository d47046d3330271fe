"""What every detector shares: the document it reads, the bound on input, the detector contract."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

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
