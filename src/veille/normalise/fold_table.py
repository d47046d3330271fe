"""Character-level folding: what each code point becomes before words are cut.

Both implementations of :func:`veille.normalise.fold.fold` (pure Python and the compiled helper)
consult the same two tables built here, so they can only differ in the word-cutting loop, which
the tests compare exhaustively. A code point folds to:

* ``""`` when it is invisible (combining marks, zero-width and bidi controls, other default
  ignorables): such characters never split or hide a word;
* otherwise to its compatibility decomposition (NFKD: full-width, mathematical, ligatures …),
  with look-alike letters of other scripts replaced by the Latin letters they imitate (Unicode
  confusables), case-folded (``ß`` → ``ss``) and with a few undecomposable Latin letters spelled
  out (``œ`` → ``oe``).
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib.resources import files
from typing import Final

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) that are not already Mn/Me/Cf:
# Hangul fillers and the like are letters by category, but render as nothing.
_EXTRA_IGNORABLE: Final = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0),
        *range(0x180B, 0x1810),
        *range(0xFE00, 0xFE10),
        *range(0xFFF0, 0xFFF9),
        *range(0xE0000, 0xE1000),
    ]
)
_INVISIBLE_CATEGORIES: Final = frozenset({"Mn", "Me", "Cf"})

# Latin letters that NFKD leaves alone but that readers treat as two plain letters (or one).
_LATIN_EXTRA: Final = {
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ł": "l",
    "ħ": "h",
    "ı": "i",
}

# Classes of folded characters, as the word cutter sees them.
WORD: Final = "w"
HASH: Final = "#"
AT: Final = "@"
JOINER: Final = "j"
"""``.`` and ``-``: they continue a mention such as ``@alice.bsky.social``."""
SEPARATOR: Final = " "


@cache
def _confusables() -> dict[str, str]:
    text = files("veille").joinpath("data", "confusables.tsv").read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            source, target = line.split("\t")
            table[chr(int(source, 16))] = target
    return table


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES or ord(char) in _EXTRA_IGNORABLE


def _strip(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not _invisible(c))


def fold_char(char: str) -> str:
    """Fold one code point to what word matching sees (possibly empty, possibly several chars)."""
    if _invisible(char):
        return ""
    confusables = _confusables()
    out = "".join(confusables.get(c, c) for c in _strip(char))
    # Case folding can produce decomposable or confusable letters again (e.g. "İ" → "i̇").
    out = "".join(confusables.get(c, c) for c in _strip(out.casefold())).casefold()
    return "".join(_LATIN_EXTRA.get(c, c) for c in out)


def char_class(char: str) -> str:
    """Class of one *folded* character for the word cutter (see the module constants)."""
    if char == "_" or char.isalnum() or unicodedata.category(char) == "Mc":
        return WORD
    if char == "#":
        return HASH
    if char == "@":
        return AT
    if char in ".-":
        return JOINER
    return SEPARATOR


class FoldTable(dict[int, str]):
    """Code point → folded string, filled lazily (``str.translate`` accepts it as a table)."""

    def __missing__(self, cp: int) -> str:
        folded = fold_char(chr(cp))
        self[cp] = folded
        return folded


IRREGULAR: Final = "x"
"""Class given to an original code point that does not fold to exactly one character."""


class ClassTable(dict[int, str]):
    """Original code point → class of its folded form, or :data:`IRREGULAR` when that form is
    not exactly one character (then the slow, offset-tracking path is needed)."""

    def __init__(self, folds: FoldTable) -> None:
        super().__init__()
        self._folds = folds

    def __missing__(self, cp: int) -> str:
        folded = self._folds[cp]
        cls = char_class(folded) if len(folded) == 1 else IRREGULAR
        self[cp] = cls
        return cls


FOLDS: Final = FoldTable()
CLASSES: Final = ClassTable(FOLDS)
FOLDED_CLASSES: Final[dict[str, str]] = {}
"""Class of each folded character seen so far (cache for :func:`char_class`)."""


def folded_class(char: str) -> str:
    """:func:`char_class` with a cache: folded characters repeat a lot."""
    cls = FOLDED_CLASSES.get(char)
    if cls is None:
        cls = FOLDED_CLASSES[char] = char_class(char)
    return cls
