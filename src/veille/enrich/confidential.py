"""Confidential material: classification stamps, internal-use phrases and case-number shapes.

Three configurable lists (``[detect.confidential]`` in ``veille.toml``): *markers* are stamps
matched case-sensitively as whole words ("VERTROUWELIJK" on a photographed document, not
"c'est confidentiel" in chat); *phrases* are matched in any case ("usage interne"); *patterns*
are RE2 expressions for reference numbers (PV numbers, German Aktenzeichen …), linear-time so an
administrator's pattern cannot stall the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import re2

from veille.enrich.base import Document, Literals, case_blind, drop_overlaps
from veille.model import Finding

DEFAULT_MARKERS: Final = (
    "CONFIDENTIEL",
    "CONFIDENTIELLE",
    "CONFIDENTIAL",
    "VERTROUWELIJK",
    "VERTRAULICH",
    "STRENG VERTRAULICH",
    "GEHEIM",
    "ZEER GEHEIM",
    "STRENG GEHEIM",
    "TRÈS SECRET",
    "TOP SECRET",
    "SECRET DÉFENSE",
    "DIFFUSION RESTREINTE",
    "BEPERKTE VERSPREIDING",
    "RESTRICTED",
    "EU RESTRICTED",
    "VS-NfD",
    "NUR FÜR DEN DIENSTGEBRAUCH",
)
DEFAULT_PHRASES: Final = (
    "usage interne",
    "usage strictement interne",
    "ne pas diffuser",
    "document interne",
    "note interne",
    "à ne pas divulguer",
    "intern gebruik",
    "uitsluitend intern gebruik",
    "niet verspreiden",
    "niet voor verspreiding",
    "interne nota",
    "nur für den internen Gebrauch",
    "nur für den Dienstgebrauch",
    "nicht zur Veröffentlichung",
    "interne Mitteilung",
    "internal use only",
    "for internal use",
    "do not distribute",
    "not for publication",
)
DEFAULT_PATTERNS: Final[Mapping[str, str]] = {
    # Belgian police report (PV / proces-verbaal) number: BR.20.LL.012345/2024.
    "Belgian PV number": r"\b[A-Z]{2}\.\d{2}\.[A-Z][A-Z0-9]\.\d{5,7}/\d{2,4}\b",
    "police report number": (
        r"(?i)\b(?:PV|P\.V\.|procès-verbal|proces-verbaal|procès verbal|proces verbaal)\s?"
        r"(?:n°|no\.?|nr\.?|num[ée]ro|nummer)\s?:?\s?\d[\d./-]{3,24}"
    ),
    "case file number": (
        r"(?i)\b(?:notice|notitie(?:nummer)?|numéro de notice|dossier|Aktenzeichen|Az\.)\s?"
        r"(?:n°|no\.?|nr\.?|:)\s?:?\s?[A-Z0-9][A-Z0-9./-]{0,8}\d[A-Z0-9./-]{2,24}"
    ),
    "German public prosecutor file number": (
        r"\b\d{1,4}\s(?:Js|UJs|BJs|Ds|Cs|Ls|KLs|AR|Gs|VRs)\s\d{1,6}/\d{2}\b"
    ),
    "extract from a police database": (
        r"(?i)\b(?:extrait|uittreksel|extract|Auszug)\b.{0,20}\b(?:BNG|ANG|ISLP)\b"
    ),
}

# What the default patterns need: an ASCII digit (Python's \d finds more), except the database
# extract, which needs its opening word (RE2's case folding is a subset of case_blind's).
_DEFAULT_PATTERN_WORDS: Final = Literals(
    ("extrait", "uittreksel", "extract", "Auszug"), fold_case=True
)

_SURROGATE = re.compile("[\ud800-\udfff]")
_MARKER_SCORE = 0.85
_PHRASE_SCORE = 0.6
_PATTERN_SCORE = 0.8
_MAX_PATTERN = 2_000


def _literal_alternation(words: Iterable[str], flags: int) -> re.Pattern[str] | None:
    # Longest first so "ZEER GEHEIM" wins over "GEHEIM"; whole words only.
    unique = _unique(words)
    if not unique:
        return None
    body = "|".join(re.escape(w).replace(r"\ ", r"\s{1,3}") for w in unique)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", flags)


def _unique(words: Iterable[str]) -> list[str]:
    return sorted({w.strip() for w in words if w.strip()}, key=lambda w: (-len(w), w))


def _pieces(words: Iterable[str]) -> list[str]:
    """The longest literal piece of each entry: its regular expression
    (:func:`_literal_alternation`) can only match where that piece is written."""
    return [max(w.split(" "), key=len) for w in _unique(words)]


class ConfidentialDetector:
    """Finds classification stamps, internal-use phrases and case-number shapes."""

    name = "confidential"

    def __init__(
        self,
        markers: Iterable[str] = DEFAULT_MARKERS,
        phrases: Iterable[str] = DEFAULT_PHRASES,
        patterns: Mapping[str, str] = DEFAULT_PATTERNS,
        prefilter: bool = True,
    ) -> None:
        markers, phrases = list(markers), list(phrases)
        self._markers = _literal_alternation(markers, 0)
        self._phrases = _literal_alternation(phrases, re.IGNORECASE)
        # Most posts hold none of the literal pieces: two automaton passes instead of two
        # regular expressions tried at every position.
        self._marker_filter = Literals(_pieces(markers)) if prefilter else None
        self._phrase_filter = Literals(_pieces(phrases), fold_case=True) if prefilter else None
        options = re2.Options()
        options.log_errors = False
        # One RE2 pass for all patterns: each is wrapped in a group whose index says which one
        # matched (a pattern's own groups shift the next wrappers' indices).
        self._labels: list[tuple[int, str]] = []
        parts = []
        index = 1
        for label, pattern in patterns.items():
            if len(pattern) > _MAX_PATTERN:
                raise ValueError(f"confidential pattern {label!r} is longer than {_MAX_PATTERN}")
            try:
                own_groups = re2.compile(pattern, options).groups
            except re2.error as exc:
                raise ValueError(f"confidential pattern {label!r} is not valid RE2: {exc}") from exc
            self._labels.append((index, label))
            parts.append(f"({pattern})")
            index += 1 + own_groups
        self._patterns: Any = re2.compile("|".join(parts), options) if parts else None
        # Only the shipped patterns are known well enough to skip: configured ones always run.
        self._default_patterns = prefilter and dict(patterns) == DEFAULT_PATTERNS

    def detect(self, doc: Document) -> list[Finding]:
        """Every confidentiality hit in ``doc``, the more specific reading kept on overlap."""
        text = doc.text
        found: list[Finding] = []
        if self._markers is not None and (
            self._marker_filter is None or self._marker_filter.found_in(text)
        ):
            for m in self._markers.finditer(text):
                found.append(
                    _hit(m.start(), m.end(), _MARKER_SCORE, f"classification marking {m.group()!r}")
                )
        blind = case_blind(text) if self._phrase_filter or self._default_patterns else None
        if self._phrases is not None and (
            self._phrase_filter is None or self._phrase_filter.found_in(text, blind)
        ):
            for m in self._phrases.finditer(text):
                found.append(
                    _hit(m.start(), m.end(), _PHRASE_SCORE, f"internal-use phrase {m.group()!r}")
                )
        if self._patterns is not None and (
            not self._default_patterns
            or doc.has_digit
            or _DEFAULT_PATTERN_WORDS.found_in(text, blind)
        ):
            try:
                matches = list(self._patterns.finditer(text))
            except UnicodeEncodeError:
                # RE2 reads UTF-8, which cannot hold a lone surrogate: each becomes U+FFFD,
                # one character for one, so offsets stay the text's.
                matches = list(self._patterns.finditer(_SURROGATE.sub("\ufffd", text)))
            for m in matches:
                if m.end() > m.start():
                    label = next(name for i, name in self._labels if m.start(i) != -1)
                    found.append(_hit(m.start(), m.end(), _PATTERN_SCORE, label))
        return drop_overlaps(found) if len(found) > 1 else found


def _hit(start: int, end: int, score: float, why: str) -> Finding:
    return Finding(
        kind="confidential",
        detector="confidential",
        score=score,
        spans=((start, end),),
        explanation=why,
    )
