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

import daachorse

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


# Every combining mark that NFKD produces from a word character (listed once from the Unicode
# tables of Python 3.11; tests/enrich/test_lexicon.py checks the list against them).
_FOLD_MARKS = re.compile(
    "[\u0300-\u0304\u0306-\u030c\u030f\u0311\u0313\u0314\u031b\u0323-\u0328\u032d"
    "\u032e\u0330\u0331\u0342\u0345\u05b4\u05b7-\u05b9\u05bc\u05bf\u05c1\u05c2"
    "\u064b-\u0655\u0670\u093c\u09bc\u0a3c\u0b3c\u3099\u309a\U000110ba]"
)
_NON_WORD = re.compile(r"[^\w\x00-\x7f]")
# The non-word characters that fold into ASCII letters or digits ("™" → "TM", "№" → "No") or
# into combining marks that folding drops (so the words around them would join): only a text
# holding one of them needs :data:`_NON_WORD` replaced first. Checked like _FOLD_MARKS.
_JOINING = re.compile(
    "["
    "\u00a8\u00af\u00b4\u00b8\u02d8-\u02dd\u0300-\u0304\u0306-\u030c\u030f\u0311"
    "\u0313\u0314\u031b\u0323-\u0328\u032d\u032e\u0330\u0331\u0340-\u0344\u0384\u0385"
    "\u05b4\u05b7-\u05b9\u05bc\u05bf\u05c1\u05c2\u064b-\u0655\u0670\u093c\u09bc\u0a3c"
    "\u0b3c\u1fbd\u1fbf-\u1fc1\u1fcd-\u1fcf\u1fdd-\u1fdf\u1fed\u1fee\u1ffd\u1ffe\u20a8"
    "\u2100\u2101\u2103\u2105\u2106\u2109\u2116\u2120-\u2122\u213b\u249c-\u24e9"
    "\u3099-\u309c\u3250\u32c0-\u32cf\u3300\u3302\u3304\u3307\u330e-\u3311\u3313\u3315"
    "\u3318-\u331a\u331e\u3321\u3324-\u3326\u332b-\u3332\u3334\u3337\u3338\u333a-\u333e"
    "\u3340\u334a-\u334c\u334e\u3353\u3354\u3356\u3358-\u337a\u3380-\u33ff\uffe3"
    "\U000110ba\U0001f110-\U0001f12e\U0001f130-\U0001f14f\U0001f16a-\U0001f16c\U0001f190"
    "\U0001f213"
    "]"
)


def scan_fold(text: str) -> str:
    """``text`` folded for a substring prefilter: each token's form (:func:`tokenize`) appears
    in it, with a non-alphanumeric character (or an end) on either side.

    Cheaper than tokenising: case and compatibility forms are folded and diacritics dropped as
    :func:`fold_token` does, and any other non-ASCII character becomes ``?``. Lexicon words are
    ASCII once folded, so such a character is never inside a match and only ever stands for a
    boundary. Non-word characters that would fold into letters (``™`` → ``TM``) or vanish
    become spaces first, so a boundary of the text stays a boundary.
    """
    if text.isascii():
        return text.lower()
    if _JOINING.search(text) is not None:
        text = _NON_WORD.sub(" ", text)
    folded = unicodedata.normalize("NFKD", text.casefold())
    if folded.isascii():
        return folded
    return _FOLD_MARKS.sub("", folded).encode("ascii", "replace").decode("ascii")


def tokenize(text: str) -> list[Token]:
    """Words, @mentions and #hashtags of ``text`` with their original offsets.

    Apostrophes split words (``j'te`` → ``j``, ``te``; ``I'll`` → ``i``, ``ll``), which is how the
    lexicons are written. GermEval's anonymised mentions (``[@POL]``) become ``@pol``.
    """
    tokens = []
    for m in _TOKEN.finditer(text):
        raw = m.group()
        start, end = m.span()
        form = "@" + raw[2:-1].lower() if raw[0] == "[" else fold_token(raw)
        tokens.append(Token(form, start, end))
    return tokens


class Hit(NamedTuple):
    """A category found over tokens ``[first, last)``."""

    category: str
    first: int
    last: int


_Pattern = tuple[str, bool]  # (folded text, is_prefix); ("~", False) is a gap
_Plan = tuple[frozenset[str], tuple[tuple[tuple[_Pattern, ...], str], ...]]
_PLANS = 100_000


@dataclass(slots=True)
class Lexicon:
    """Compiled category lists of one language."""

    exact: dict[str, set[str]] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    phrases: dict[str, list[tuple[tuple[_Pattern, ...], str]]] = field(default_factory=dict)
    phrase_prefixes: dict[str, list[tuple[str, tuple[_Pattern, ...], str]]] = field(
        default_factory=dict
    )
    _plans: dict[str, _Plan] = field(default_factory=dict, repr=False, compare=False)
    """Per folded word: its own categories and the phrases that may start with it."""

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
            categories, phrases = self._plans.get(form) or self._plan(form)
            for category in categories:
                found.append(Hit(category, i, i + 1))
            for patterns, category in phrases:
                last = _match_phrase(patterns, forms, i)
                if last is not None:
                    found.append(Hit(category, i, last))
        return found

    def _plan(self, form: str) -> _Plan:
        phrases = list(self.phrases.get(form, ()))
        for head, patterns, category in self.phrase_prefixes.get(form[:_MIN_PREFIX], ()):
            if form.startswith(head):
                phrases.append((patterns, category))
        if len(self._plans) >= _PLANS:
            self._plans.clear()
        plan = self._plans[form] = (frozenset(self.token_categories(form)), tuple(phrases))
        return plan


class Prefilter:
    """A cheap, exact necessary condition for :meth:`Lexicon.hits` to find some categories.

    One Aho-Corasick automaton over an *anchor* of every entry of those categories (its longest
    word) runs over :func:`scan_fold` text; an anchor found as a whole word (or as a word start
    for ``*`` entries) makes its entry possible once the entry's other words are found too.
    ``False`` means "certainly no hit"; ``True`` means "look".
    """

    def __init__(self, lexicons: Iterable[Lexicon], categories: frozenset[str]) -> None:
        entries: list[tuple[_Pattern, ...]] = []
        for lex in lexicons:
            for word, cats in lex.exact.items():
                if cats & categories:
                    entries.append(((word, False),))
            for bucket in lex.prefixes.values():
                entries.extend(((word, True),) for word, cat in bucket if cat in categories)
            for phrases in lex.phrases.values():
                entries.extend(p for p, cat in phrases if cat in categories)
            for prefixed in lex.phrase_prefixes.values():
                entries.extend(p for _, p, cat in prefixed if cat in categories)
        self.always = False
        # anchor word → [(anchor is a prefix, the entry's other words)]
        anchored: dict[str, list[tuple[bool, frozenset[_Pattern]]]] = {}
        for patterns in entries:
            # A word with non-ASCII letters once folded cannot be seen in scan_fold's text:
            # leaving it out only lets more posts through.
            words = [(text, is_prefix) for text, is_prefix in patterns if text.isascii()]
            words = [(text, is_prefix) for text, is_prefix in words if text and text != "~"]
            if not words:
                self.always = True
                continue
            # The longest word, whole words before prefixes: the rarest in ordinary text.
            anchor = max(words, key=lambda w: (len(w[0]), not w[1]))
            rest = frozenset(w for w in words if w != anchor)
            anchored.setdefault(anchor[0], []).append((anchor[1], rest))
        self._anchors = list(anchored)
        self._entries = [anchored[word] for word in self._anchors]
        self._automaton = (
            daachorse.CharwiseDoubleArrayAhoCorasick(self._anchors) if anchored else None
        )

    def may_hit(self, text: str, folded: str | None = None) -> bool:
        """Could :meth:`Lexicon.hits` find one of the categories among ``text``'s tokens?
        (``folded``: its :func:`scan_fold` form when already computed.)"""
        if self.always:
            return True
        if self._automaton is None:
            return False
        if folded is None:
            folded = scan_fold(text)
        for start, end, index in self._automaton.find_overlapping(folded):
            if start > 0 and folded[start - 1].isalnum():
                continue
            whole = end == len(folded) or not folded[end].isalnum()
            for is_prefix, rest in self._entries[index]:
                if (whole or is_prefix) and all(_starts_word(folded, *word) for word in rest):
                    return True
        return False


def _starts_word(folded: str, word: str, is_prefix: bool) -> bool:
    """Whether ``word`` starts a word of ``folded`` (and ends it, unless ``is_prefix``)."""
    at = folded.find(word)
    while at != -1:
        end = at + len(word)
        if (at == 0 or not folded[at - 1].isalnum()) and (
            is_prefix or end == len(folded) or not folded[end].isalnum()
        ):
            return True
        at = folded.find(word, at + 1)
    return False


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
