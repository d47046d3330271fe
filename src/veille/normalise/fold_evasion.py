"""The evasion view of a post: leetspeak and spaced-out letters undone, for rules that ask.

A rule with ``evasion = true`` also matches its words in this view. It is built from the
ordinary :class:`~veille.normalise.fold.Folded` tokens:

* letters spaced out with single spacers (``a.t.t.e.n.t.a.t``, ``p o l i c e``, ``k-i-l-l``): a
  run of at least three one-character words, each 1–3 of `` .-_*·`` apart, becomes one word;
* symbols standing for letters (``@ $ € ! |``) inside or in front of a word are read as the
  letters they imitate (``h!tler``, ``$ale``, ``@ttentat``);
* every word is reduced to a *skeleton* where digits and the letters they imitate coincide
  (``0``→o, ``1``/``l``→i, ``3``→e, ``4``→a, ``5``→s, ``7``→t, ``8``→b, ``9``→g): ``4tt3nt4t``
  and ``attentat`` meet at ``attentat``, ``p0l1c3`` and ``police`` at ``poiice``.

Query words go through :func:`skeleton` too. Each word of the view remembers which ordinary
tokens it covers (for NEAR distances) and its span in the original text (for highlighting).
"""

from __future__ import annotations

import re
from typing import Final

from veille.model import Span
from veille.normalise.fold import Folded

__all__ = ["EvasionView", "evasion_view", "skeleton"]

_SKELETON: Final = str.maketrans("01345789l", "oieastbgi")
_SYMBOLS: Final = {"@": "a", "$": "s", "€": "e", "!": "i", "|": "i"}
_SPACERS: Final = frozenset(" .-_*·")
_HAS_SYMBOL: Final = re.compile("[@$€!|]")
_SPACED_RUN: Final = re.compile(r" [^ ] [^ ] [^ ] ")


def skeleton(folded: str) -> str:
    """Reduce folded text to its leetspeak skeleton (see the module docstring)."""
    return folded.translate(_SKELETON)


class EvasionView:
    """The evasion words of one post: ``scan`` like :attr:`Folded.scan`, and for each word the
    range of ordinary token indices it covers and its original-text span."""

    __slots__ = ("ranges", "scan", "spans")

    def __init__(self, scan: str, ranges: list[tuple[int, int]], spans: list[Span]) -> None:
        self.scan = scan
        self.ranges = ranges
        self.spans = spans


def _gap_is(text: str, start: int, end: int, allowed: frozenset[str] | dict[str, str]) -> bool:
    return 1 <= end - start <= 3 and all(c in allowed for c in text[start:end])


def evasion_view(text: str, folded: Folded) -> EvasionView:
    """Build the evasion view of ``text`` from its ordinary fold."""
    tokens, spans = folded.tokens, folded.spans
    n = len(tokens)
    if not _HAS_SYMBOL.search(text) and not _SPACED_RUN.search(folded.scan):
        # Nothing to join: one evasion word per token (the common case, kept cheap).
        return EvasionView(skeleton(folded.scan), [(i, i) for i in range(n)], list(spans))
    words: list[str] = []
    ranges: list[tuple[int, int]] = []
    out_spans: list[Span] = []
    i = 0
    while i < n:
        start = spans[i][0]
        piece = tokens[i]
        if piece.startswith("@"):  # a "mention" may be a word with @ for a: @ttent@t
            piece = piece.replace("@", "a")
        elif start > 0 and text[start - 1] in _SYMBOLS and (start < 2 or text[start - 2].isspace()):
            piece = _SYMBOLS[text[start - 1]] + piece
            start -= 1
        j = i
        while j + 1 < n and _gap_is(text, spans[j][1], spans[j + 1][0], _SYMBOLS):
            gap = text[spans[j][1] : spans[j + 1][0]]
            piece += "".join(_SYMBOLS[c] for c in gap) + tokens[j + 1]
            j += 1
        if j == i and len(piece) == 1:
            k = i
            while (
                k + 1 < n
                and len(tokens[k + 1]) == 1
                and _gap_is(text, spans[k][1], spans[k + 1][0], _SPACERS)
            ):
                k += 1
            if k - i >= 2:
                piece = "".join(tokens[i : k + 1])
                j = k
        words.append(skeleton(piece))
        ranges.append((i, j))
        out_spans.append((start, spans[j][1]))
        i = j + 1
    scan = " " + " ".join(words) + " " if words else " "
    return EvasionView(scan, ranges, out_spans)
