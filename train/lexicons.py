"""Build the per-language polarity lexicons that ship inside the sentiment model.

Sources (licences allow shipping): Pattern EN/FR/NL (PDDL), VADER EN (MIT, from the
``vadersentiment`` package), VADER-FR (MIT), textblob-de / German Polarity Lexicon (MIT), and
the word list veille writes itself (``src/veille/data/lexicons/veille-sentiment.tsv``).
Non-commercial lexicons (HurtLex, GrofLex) are never read here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

INFLECTIONS = {"de": ("e", "en", "er", "es", "em"), "nl": ("e",), "fr": ("s",)}
"""Adjective endings: the lexicons list the base form, posts use the inflected ones."""
OWN = Path(__file__).resolve().parents[1] / "src/veille/data/lexicons/veille-sentiment.tsv"


def _pattern(path: Path) -> dict[str, float]:
    acc: dict[str, list[float]] = defaultdict(list)
    for el in ET.parse(path).getroot().iter("word"):  # noqa: S314
        form = el.get("form", "").strip().lower()
        if form and " " not in form:
            acc[form].append(float(el.get("polarity", "0")))
    return {w: sum(v) / len(v) for w, v in acc.items()}


def _vader(lines: list[str], sep: str) -> dict[str, float]:
    out = {}
    for line in lines:
        parts = line.rstrip("\n").split(sep)
        if len(parts) >= 2 and parts[0] and " " not in parts[0]:
            out[parts[0].lower()] = max(-1.0, min(1.0, float(parts[1]) / 4))
    return out


def _vader_en() -> dict[str, float]:
    import vaderSentiment  # train-time dependency only

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    return _vader(path.read_text(encoding="utf-8").splitlines(), "\t")


def _own() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for line in OWN.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, word, value = line.split("\t")
            out[lang][word.lower()] = float(value)
    return out


def build(data: Path) -> dict[str, dict[str, float]]:
    """Merge the sources into one ``word -> polarity in [-1, 1]`` table per language.

    Where two sources disagree the later one wins: Pattern, then VADER, then our own list.
    """
    lex = data / "lexicons"
    fr_vader = (lex / "pypi/vadersentiment-fr/fr_lexicon.txt").read_text(encoding="utf-8")
    tables = {
        "en": {**_pattern(lex / "pattern/en-sentiment.xml"), **_vader_en()},
        "fr": {**_pattern(lex / "pattern/fr-sentiment.xml"), **_vader(fr_vader.splitlines(), "->")},
        "de": _pattern(lex / "pypi/textblob-de/de-sentiment.xml"),
        "nl": _pattern(lex / "pattern/nl-sentiment.xml"),
    }
    for lang, words in _own().items():
        tables.setdefault(lang, {}).update(words)
    for lang, endings in INFLECTIONS.items():
        table = tables[lang]
        for word, value in list(table.items()):
            for ending in endings:
                table.setdefault(word + ending, value)
    # Near-zero entries only add noise to the polarity sums.
    return {
        lang: {w: round(v, 3) for w, v in sorted(t.items()) if abs(v) >= 0.05}
        for lang, t in tables.items()
    }
