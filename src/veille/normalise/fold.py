"""Text folding: the one canonical form that rules, detectors and search all match against.

``fold(text)`` cuts a post into words after folding case, accents, compatibility forms
(full-width, mathematical letters), invisible characters and look-alike letters, and returns a
:class:`Folded` whose ``scan`` string makes word boundaries exact for plain substring search::

    >>> f = fold("Les FLICS à l'École #Police @alice.bsky.social")
    >>> f.scan
    ' les flics a l ecole police @alice.bsky.social '
    >>> f.tokens[4], f.spans[4], 4 in f.hashtags
    ('ecole', (14, 19), False)
    >>> f.tokens[5], f.spans[5], 5 in f.hashtags
    ('police', (20, 27), True)

Rules of the cut (identical in the compiled helper and the pure-Python fallback):

* a word is a run of letters, digits, ``_`` and spacing marks, after folding;
* ``#word`` (the ``#`` not preceded by a word character) is a hashtag: it appears in ``scan`` as
  the bare word, so ``police`` finds ``#police`` too; :attr:`Folded.hashtags` says which;
* ``@handle`` (``@`` not preceded by a word character; dots, dashes and a second ``@`` may join
  parts, as in ``@alice.bsky.social`` or ``@bob@mastodon.social``) is a mention and keeps its
  ``@`` in ``scan``, so no plain word ever matches inside a handle;
* each token's span is the half-open range of *original* characters it came from, stretched over
  invisible characters that directly follow it.

Query terms and names are folded with :func:`fold_word`, so that ``" " + fold_word(name) + " "``
in ``fold(text).scan`` is an exact whole-word test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from veille.model import Span
from veille.normalise.fold_table import CLASSES, FOLDS, IRREGULAR, folded_class

__all__ = ["COMPILED", "Folded", "fold", "fold_compiled", "fold_python", "fold_word"]

# Over the class string (one class letter per folded character, see fold_table).
_TOKEN: Final = re.compile(r"(?<!w)#w+|(?<!w)@w+(?:[j@]w+)*|w+")


class Folded:
    """A post's text, folded and cut into words; immutable once built."""

    __slots__ = ("_flat", "_spans", "_starts", "_tokens", "hashtags", "scan")

    scan: str
    """``" tok tok … "``: tokens joined by single spaces with a space at both ends (``" "``
    when there is no token). Hashtags appear without ``#``, mentions with their ``@``."""
    hashtags: frozenset[int]
    """Indices of the tokens that were written as hashtags."""

    def __init__(self, scan: str, flat_spans: list[int], hashtags: frozenset[int]) -> None:
        self.scan = scan
        self.hashtags = hashtags
        self._flat = flat_spans
        self._tokens: tuple[str, ...] | None = None
        self._spans: tuple[Span, ...] | None = None
        self._starts: dict[int, int] | None = None

    @property
    def tokens(self) -> tuple[str, ...]:
        """The folded words, in order (hashtags without ``#``, mentions with ``@``)."""
        if self._tokens is None:
            self._tokens = tuple(self.scan[1:-1].split(" ")) if len(self.scan) > 1 else ()
        return self._tokens

    @property
    def spans(self) -> tuple[Span, ...]:
        """For each token, its ``(start, end)`` character range in the original text."""
        if self._spans is None:
            flat = self._flat
            self._spans = tuple(zip(flat[::2], flat[1::2], strict=True))
        return self._spans

    def token_at(self, offset: int) -> int:
        """Index of the token whose first character is at ``offset`` in :attr:`scan`."""
        if self._starts is None:
            starts: dict[int, int] = {}
            pos = 1
            for i, token in enumerate(self.tokens):
                starts[pos] = i
                pos += len(token) + 1
            self._starts = starts
        return self._starts[offset]

    def __len__(self) -> int:
        return len(self._flat) // 2

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Folded):
            return NotImplemented
        return (self.scan, list(self._flat), self.hashtags) == (
            other.scan,
            list(other._flat),
            other.hashtags,
        )

    def __hash__(self) -> int:
        return hash((self.scan, tuple(self._flat), self.hashtags))

    def __repr__(self) -> str:
        return f"Folded(scan={self.scan!r}, spans={self.spans!r}, hashtags={set(self.hashtags)})"


def _offsets(text: str) -> tuple[str, str, list[int], list[int]]:
    """Slow path: fold character by character, remembering where each folded char came from."""
    out: list[str] = []
    classes: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, char in enumerate(text):
        folded = FOLDS[ord(char)]
        if not folded:
            if ends:
                ends[-1] = i + 1  # invisible: stretch whatever precedes it
            continue
        for c in folded:
            out.append(c)
            classes.append(folded_class(c))
            starts.append(i)
            ends.append(i + 1)
    return "".join(out), "".join(classes), starts, ends


def fold_python(text: str) -> Folded:
    """The pure-Python fold (reference for the compiled helper, and its fallback)."""
    if text.isascii() and text.isalnum():  # one plain word (query terms, mostly)
        return Folded(" " + text.lower() + " ", [0, len(text)], frozenset())
    classes = text.translate(CLASSES)
    starts: list[int] | None = None
    ends: list[int] | None = None
    if IRREGULAR in classes:
        folded, classes, starts, ends = _offsets(text)
    else:  # every character folds to exactly one: offsets are unchanged
        folded = text.translate(FOLDS)
    tokens: list[str] = []
    flat: list[int] = []
    tags: list[int] = []
    for m in _TOKEN.finditer(classes):
        s, e = m.span()
        if classes[s] == "#":
            tags.append(len(tokens))
            tokens.append(folded[s + 1 : e])
        else:
            tokens.append(folded[s:e])
        if starts is None or ends is None:
            flat += (s, e)
        else:
            flat += (starts[s], ends[e - 1])
    scan = " " + " ".join(tokens) + " " if tokens else " "
    return Folded(scan, flat, frozenset(tags))


try:
    from veille.normalise import _foldc  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - no C compiler where veille was installed
    _foldc = None


_NO_TAGS: Final[frozenset[int]] = frozenset()


def fold_compiled(text: str) -> Folded:
    """The compiled fold: same output as :func:`fold_python`, several times faster."""
    folded: Folded = _foldc.fold(text)
    return folded


fold: Callable[[str], Folded]
if _foldc is not None:
    _foldc.init(FOLDS, folded_class, Folded, _NO_TAGS)
    # The C function itself: no Python frame per post.
    fold = _foldc.fold
else:  # pragma: no cover
    fold = fold_python
COMPILED = _foldc is not None
"""Whether :func:`fold` is the compiled helper."""


def fold_word(word: str) -> str:
    """Fold a query term or a name the way :func:`fold` folds text: tokens joined by one space,
    hashtags keeping their ``#`` (``"Jan  PEETERS"`` → ``"jan peeters"``)."""
    f = fold(word)
    return " ".join("#" + tok if i in f.hashtags else tok for i, tok in enumerate(f.tokens))
