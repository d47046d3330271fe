"""Token-level lexicons: fold, tokenise with offsets, and find category hits (words and phrases).

Shared by the threat detector and its training script so both see exactly the same cues. A
lexicon maps *categories* to entries; an entry is one or more tokens, a trailing ``*`` matches
any ending and a ``~`` token is a gap of up to :data:`GAP` tokens (for separable verbs).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

GAP = 4
"""The most tokens a ``~`` in a phrase may skip."""

_TOKEN = re.compile(r"\[@[A-Z]{3,4}\]|[@#]?\w+")
_MIN_PREFIX = 3


class Token(NamedTuple):
    """A word of the post: folded form and its character span in the original text."""

    form: str
    start: int
    end: int


@lru_cache(maxsize=65_536)
def fold_token(word: str) -> str:
    """Lower case without diacritics (``Brûlez`` → ``brulez``, ``Straße`` → ``strasse``)."""
    lowered = word.casefold()
    if lowered.isascii():
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokenize(text: str) -> list[Token]:
    """Words, @mentions and #hashtags of ``text`` with their original offsets.

    Apostrophes split words (``j'te`` → ``j``, ``te``; ``I'll`` → ``i``, ``ll``), which is how the
    lexicons are written. GermEval's anonymised mentions (``[@POL]``) become ``@pol``.
    """
    tokens = []
    for m in _TOKEN.finditer(text):
        raw = m.group()
        form = "@" + raw[2:-1].lower() if raw.startswith("[@") else fold_token(raw)
        tokens.append(Token(form, m.start(), m.end()))
    return tokens


class Hit(NamedTuple):
    """A category found over tokens ``[first, last)``."""

    category: str
    first: int
    last: int


_Pattern = tuple[str, bool]  # (folded text, is_prefix); ("~", False) is a gap


@dataclass(slots=True)
class Lexicon:
    """Compiled category lists of one language."""

    exact: dict[str, set[str]] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    phrases: dict[str, list[tuple[tuple[_Pattern, ...], str]]] = field(default_factory=dict)
    phrase_prefixes: dict[str, list[tuple[str, tuple[_Pattern, ...], str]]] = field(
        default_factory=dict
    )

    @classmethod
    def build(cls, categories: Mapping[str, Iterable[str]]) -> Lexicon:
        """Compile ``{category: [entry, …]}``; entries are folded like post text."""
        lexicon = cls()
        for category, entries in categories.items():
            for entry in entries:
                lexicon._add(category, entry)
        return lexicon

    def _add(self, category: str, entry: str) -> None:
        parts = [p for p in re.split(r"[\s'’\-]+", entry.strip()) if p]
        if not parts:
            return
        patterns: list[_Pattern] = []
        for part in parts:
            if part == "~":
                patterns.append(("~", False))
            elif part.endswith("*") and len(part) > _MIN_PREFIX:
                patterns.append((fold_token(part[:-1]), True))
            else:
                patterns.append((fold_token(part.rstrip("*")), False))
        if patterns[0][0] == "~" or patterns[-1][0] == "~":
            raise ValueError(f"lexicon entry {entry!r}: a gap (~) must be between two words")
        head, is_prefix = patterns[0]
        if len(patterns) == 1:
            if is_prefix:
                self.prefixes.setdefault(head[:_MIN_PREFIX], []).append((head, category))
            else:
                self.exact.setdefault(head, set()).add(category)
        elif is_prefix:
            bucket = self.phrase_prefixes.setdefault(head[:_MIN_PREFIX], [])
            bucket.append((head, tuple(patterns), category))
        else:
            self.phrases.setdefault(head, []).append((tuple(patterns), category))

    def token_categories(self, form: str) -> set[str]:
        """Categories of one folded word on its own."""
        found = set(self.exact.get(form, ()))
        for prefix, category in self.prefixes.get(form[:_MIN_PREFIX], ()):
            if form.startswith(prefix):
                found.add(category)
        return found

    def hits(self, forms: Sequence[str]) -> list[Hit]:
        """Every category hit in a sequence of folded words (single words and phrases)."""
        found: list[Hit] = []
        for i, form in enumerate(forms):
            for category in self.token_categories(form):
                found.append(Hit(category, i, i + 1))
            for patterns, category in self.phrases.get(form, ()):
                last = _match_phrase(patterns, forms, i)
                if last is not None:
                    found.append(Hit(category, i, last))
            for head, patterns, category in self.phrase_prefixes.get(form[:_MIN_PREFIX], ()):
                if form.startswith(head):
                    last = _match_phrase(patterns, forms, i)
                    if last is not None:
                        found.append(Hit(category, i, last))
        return found


def _match_phrase(patterns: tuple[_Pattern, ...], forms: Sequence[str], start: int) -> int | None:
    """End index (exclusive) when ``patterns`` match from ``forms[start]``, else None."""
    i = start
    k = 0
    while k < len(patterns):
        text, is_prefix = patterns[k]
        if text == "~":
            # Gap: the next pattern may appear within the next GAP + 1 tokens.
            nxt_text, nxt_prefix = patterns[k + 1]
            for j in range(i, min(i + GAP + 1, len(forms))):
                if _token_matches(forms[j], nxt_text, nxt_prefix):
                    i = j + 1
                    break
            else:
                return None
            k += 2
            continue
        if i >= len(forms) or not _token_matches(forms[i], text, is_prefix):
            return None
        i += 1
        k += 1
    return i


def _token_matches(form: str, text: str, is_prefix: bool) -> bool:
    return form.startswith(text) if is_prefix else form == text


def load_lexicon(package: str, name: str) -> Lexicon:
    """Read a TOML lexicon shipped in the package (``src/veille/data/…``)."""
    raw = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    data = tomllib.loads(raw)
    return Lexicon.build({k: v for k, v in data.items() if isinstance(v, list)})
