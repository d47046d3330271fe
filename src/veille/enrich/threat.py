"""Threats and calls to violence, FR/NL/DE/EN: lexicon cues → explainable features → small model.

1. Each sentence is scanned with the language's lexicon (``data/lexicons/threat/*.toml``) for
   violence cues (violent act, harm, weapon, death, threat formula) and for *who* and *whom*:
   first-person intent, calls and imperatives, targets (police, persons, places, "you").
2. The cues give a few dozen named features, combined within a sentence ("intent + violent act
   + police target") and across the post ("news vocabulary", "quotation", "condemnation",
   "negation"), so that talking *about* a threat is told apart from making one.
3. A logistic model trained here (``train/threat.py``, weights in ``data/models/threat.json``)
   turns the features into a probability; the explanation names the features that weighed most.

Pure and linear in the text; a post with no violence cue costs one fold, one Aho-Corasick pass
and a few substring checks (:func:`may_have_cue`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import msgspec

from veille.enrich.base import Document, has_digit
from veille.enrich.lexicon import (
    Hit,
    Lexicon,
    Prefilter,
    Token,
    fold_token,
    load_lexicon,
    scan_fold,
    tokenize,
)
from veille.model import Finding, Span

LANGUAGES: Final = ("fr", "nl", "de", "en")
MODEL_FILE: Final = "threat.json"

CUES: Final = frozenset({"violence", "harm", "weapon", "death", "formula"})
_TARGETS: Final = frozenset({"police", "person", "place", "obj2", "obj3", "mention"})

SENTENCE_FEATURES: Final = (
    "violence",
    "harm",
    "weapon",
    "death",
    "formula",
    "intent",
    "future",
    "second_person",
    "call",
    "imperative",
    "police",
    "person",
    "place",
    "you",
    "them",
    "mention",
    "self_only",
    "negated",
    "question",
    "quoted",
    "benign",
    "intent_violence",
    "call_violence",
    "violence_target",
    "harm_target",
    "intent_violence_target",
    "police_violence",
    "you_death",
    "negated_violence",
    "quoted_violence",
)
POST_FEATURES: Final = (
    "report",
    "meta",
    "speech",
    "condemn",
    "benign_context",
    "url",
    "score_line",
    "exclamation",
    "quote_and_speech",
    "report_and_meta",
    "cue_free",
)
FEATURES: Final = SENTENCE_FEATURES + POST_FEATURES
"""Every feature the model weighs, in a fixed order (the training script uses the same)."""

_EXPLAIN: Final[Mapping[str, str]] = {
    "intent_violence_target": "intent + violent act + target",
    "intent_violence": "intent + violent act",
    "call_violence": "call or order to commit violence",
    "violence_target": "violent act against a target",
    "harm_target": "harm against a target",
    "police_violence": "violence against police",
    "formula": "threat formula",
    "you_death": "death wished on the reader",
    "you": "aimed at the reader",
    "them": "aimed at someone",
    "imperative": "imperative",
    "weapon": "weapon",
    "violence": "violent act",
    "report": "news-report wording",
    "meta": "speaks about threats",
    "speech": "reported speech",
    "quoted_violence": "violence inside a quotation",
    "quote_and_speech": "quotation",
    "condemn": "condemnation",
    "negated_violence": "negation",
    "question": "question",
    "self_only": "aimed at the writer (hyperbole)",
    "benign": "idiom, sport or game context",
    "benign_context": "idiom, sport or game context",
    "score_line": "sports score",
}

_SENTENCE_END = re.compile(r"[.!?;:\n…]+")
_QUOTE = re.compile(
    r"«[^»]{1,400}»|“[^”]{1,400}”|„[^“”]{1,400}[“”]|\"[^\"]{1,400}\"|"
    r"(?<!\w)'(?=\w)[^\n]{1,400}?'(?!\w)|‘[^’]{1,400}’|‹[^›]{1,400}›"
)
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_SCORE = re.compile(r"(?<!\d)\d{1,2}\s?[-:–]\s?\d{1,2}(?!\d)")
_POLICE_HANDLE = re.compile(r"polic|politie|polizei|cops", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(fold_token(w) for w in text.split())


_STOPWORDS: Final[Mapping[str, frozenset[str]]] = {
    "fr": _words(
        "le la les des du et est une un que qui pas je tu il elle on ce pour dans sur avec au "
        "aux mais ne sont vous nous cette ces sa son mes va vais faut"
    ),
    "nl": _words(
        "de het een en van is niet ik je dat die wat op te met zijn voor maar ook er hij we "
        "naar bij als dan nog wel deze gaan ga geen"
    ),
    "de": _words(
        "der die das und ist nicht ich du ein eine zu mit auf den dem sie es wir ihr aber "
        "auch wie von für sich noch mal diese wird werden kein"
    ),
    "en": _words(
        "the and is to of you i it not a in that this on for with are be we they he she was "
        "will my your have just going gonna"
    ),
}


def guess_language(forms: Iterable[str]) -> str:
    """FR/NL/DE/EN by stopword votes over folded words: a fallback when the post carries no
    language. Only meant to pick a lexicon; the language-identification stage gives the real
    answer."""
    votes = dict.fromkeys(LANGUAGES, 0)
    for form in forms:
        for lang, words in _STOPWORDS.items():
            if form in words:
                votes[lang] += 1
    best = max(LANGUAGES, key=lambda lang: votes[lang])
    return best if votes[best] > 0 else "en"


_WORD = re.compile(r"\w+")


def guess_text_language(text: str) -> str:
    """:func:`guess_language` straight from text, without tokenising it."""
    return guess_language(_WORD.findall(_ascii_fold(text[:2_000])))


@cache
def lexicon(lang: str) -> Lexicon:
    """The threat lexicon of one language (loaded once per process)."""
    if lang not in LANGUAGES:
        raise ValueError(f"no threat lexicon for language {lang!r}; have {LANGUAGES}")
    return load_lexicon("veille.data.lexicons.threat", f"{lang}.toml")


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the cues say about one post: features, evidence spans and the language used."""

    lang: str
    features: dict[str, float]
    evidence: tuple[Span, ...]
    cue_spans: tuple[Span, ...]


@cache
def _cue_filter(lang: str) -> Prefilter:
    """The violence-cue prefilter of ``lang`` (``*``: all four languages together)."""
    return Prefilter((lexicon(code) for code in (LANGUAGES if lang == "*" else (lang,))), CUES)


def _ascii_fold(text: str) -> str:
    lowered = text.casefold()
    if lowered.isascii():
        return lowered
    return unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode("ascii")


def may_have_cue(text: str, lang: str, folded: str | None = None) -> bool:
    """Cheap and exact: ``False`` only when ``text`` holds no violence cue of ``lang`` (``*``
    for any language), whatever :func:`analyse` would tokenise (``folded``: the text's
    :func:`~veille.enrich.lexicon.scan_fold` when already computed)."""
    return _cue_filter(lang).may_hit(text, folded)


def _surface_features(
    text: str, digits: bool = True, prefilter: bool = True, folded: str | None = None
) -> dict[str, float]:
    """Features read off the raw text, with or without cues (``digits``: whether ``text`` has a
    digit; ``prefilter``: skip the regular expressions that cannot match; ``folded``: the
    text's ``scan_fold``, which holds "www." wherever the text does, in any case)."""
    features: dict[str, float] = {}
    if (not prefilter or _may_hold_url(text, folded)) and _URL.search(text):
        features["url"] = 1.0
    if (not prefilter or digits) and _SCORE.search(text):
        features["score_line"] = 1.0
    if "!!" in text:
        features["exclamation"] = 1.0
    return features


def _may_hold_url(text: str, folded: str | None) -> bool:
    # "https?://" needs "://" as written; under IGNORECASE only "w" and "W" match "w", so
    # "www." is in the lowered text whenever _URL's second branch matches.
    if "://" in text:
        return True
    return "www." in folded if folded is not None else "." in text and "www." in text.lower()


def analyse(
    text: str, lang: str = "", doc: Document | None = None, *, prefilter: bool = True
) -> Analysis:
    """Find cues per sentence and compute :data:`FEATURES` (sparse: zeros omitted).

    ``lang`` picks the lexicon; outside FR/NL/DE/EN it is guessed among them. A post without
    any cue (most posts) is answered by :func:`may_have_cue` and a few checks, untokenised;
    ``prefilter=False`` tokenises every post (same result, slower: the reference path).
    ``doc`` (the same text) shares its tokens and digit check with other detectors.
    """
    known = lang in LANGUAGES
    digits = doc.has_digit if doc is not None else has_digit(text)
    if prefilter:
        folded = scan_fold(text)
        if not may_have_cue(text, lang if known else "*", folded):
            features = {"cue_free": 1.0, **_surface_features(text, digits, folded=folded)}
            return Analysis(lang if known else "", features, (), ())
    tokens = doc.tokens if doc is not None else tokenize(text)
    if not known:
        lang = guess_language(t.form for t in tokens)
    lex = lexicon(lang)
    forms = [t.form for t in tokens]
    hits = lex.hits(forms)
    categories: list[set[str]] = [set() for _ in tokens]
    idiom_mask = [False] * len(tokens)
    cue_hits: list[Hit] = []
    for hit in hits:
        if hit.category == "idiom":
            for i in range(hit.first, hit.last):
                idiom_mask[i] = True
    for hit in hits:
        if hit.category in CUES:
            if idiom_mask[hit.first]:
                continue  # "killed it", "mort de rire": the idiom holds the violent word
            cue_hits.append(hit)
        for i in range(hit.first, hit.last):
            categories[i].add(hit.category)
    if not cue_hits:
        features = {"cue_free": 1.0, **_surface_features(text, digits, prefilter)}
        return Analysis(lang, features, (), ())
    for i, token in enumerate(tokens):
        if token.form.startswith("@") and len(token.form) > 1:
            categories[i].add("police" if _POLICE_HANDLE.search(token.form) else "mention")
        if idiom_mask[i]:
            categories[i].add("benign")

    features = _surface_features(text, digits, prefilter)
    marked = [c for c in categories if c]
    post = set().union(*marked)
    for name in ("report", "meta", "speech", "condemn"):
        count = sum(name in c for c in marked)
        if count:
            features[name] = min(count, 3) / 3
    if "benign" in post:
        features["benign_context"] = 1.0
    quotes = [m.span() for m in _QUOTE.finditer(text)]
    if quotes and "speech" in post:
        features["quote_and_speech"] = 1.0
    if "report" in post and "meta" in post:
        features["report_and_meta"] = 1.0

    bounds = [m.start() for m in _SENTENCE_END.finditer(text)]
    sentence_of = [bisect_right(bounds, t.start) for t in tokens]
    evidence: list[Span] = []
    for sentence in sorted({sentence_of[h.first] for h in cue_hits}):
        members = [i for i, s in enumerate(sentence_of) if s == sentence]
        cues = [h for h in cue_hits if sentence_of[h.first] == sentence]
        local = _sentence_features(text, tokens, categories, members, cues, quotes, lang)
        for name, value in local.items():
            if value > features.get(name, 0.0):
                features[name] = value
        if any(k in local for k in ("intent_violence", "call_violence", "violence_target")) or (
            "formula" in local
        ):
            first = min(min(h.first for h in cues), *_role_indices(categories, members))
            last = max(max(h.last for h in cues) - 1, *_role_indices(categories, members))
            evidence.append((tokens[first].start, tokens[last].end))
    cue_spans = tuple((tokens[h.first].start, tokens[h.last - 1].end) for h in cue_hits)
    return Analysis(lang, features, tuple(evidence), cue_spans)


def _role_indices(categories: Sequence[set[str]], members: Sequence[int]) -> list[int]:
    roles = _TARGETS | {"subj1", "call", "future"}
    return [i for i in members if categories[i] & roles] or [members[0]]


# Where an object pronoun sits relative to the violent word when it is its object: French
# clitics come before the verb ("je vais TE buter"), English objects after ("kill YOU"), Dutch
# and German either side ("ik maak JE af", "ich werde DICH töten").
_PRONOUN_SIDE: Final[Mapping[str, tuple[int, int]]] = {
    "fr": (2, 0),
    "en": (0, 2),
    "nl": (2, 2),
    "de": (2, 2),
}
_PLACE_OR_PERSON: Final = frozenset({"police", "person", "place", "mention"})
_STRUCTURE: Final = frozenset(
    {
        "formula",
        "intent_violence",
        "call_violence",
        "violence_target",
        "harm_target",
        "you_death",
    }
)
"""Features that say *who* threatens *whom*: without one of them, violent words alone (a
weapon, "killed", "war") never make a threat, whatever the model's score."""


def _sentence_features(
    text: str,
    tokens: Sequence[Token],
    categories: Sequence[set[str]],
    members: Sequence[int],
    cues: Sequence[Hit],
    quotes: Sequence[Span],
    lang: str,
) -> dict[str, float]:
    """Features of one sentence that holds at least one violence cue."""
    present: set[str] = set()
    for i in members:
        present |= categories[i]
    cue_kinds = {h.category for h in cues}
    f: dict[str, float] = dict.fromkeys(cue_kinds & CUES, 1.0)
    violent = bool(cue_kinds & {"violence", "weapon"})
    harm = "harm" in cue_kinds
    before, after = _PRONOUN_SIDE[lang]
    first, last = members[0], members[-1]
    near: set[str] = set()
    for h in cues:
        for i in range(max(first, h.first - before), min(last + 1, h.last + after)):
            near |= categories[i]
    you = "obj2" in near
    them = "obj3" in near
    targeted = bool(present & _PLACE_OR_PERSON) or you or them
    intent = "subj1" in present
    calls = "call" in present
    first_cue = min(h.first for h in cues)
    # An imperative: the violent word opens its sentence (after at most one call word, as in
    # "allez brûlez …") and is aimed at someone or something.
    opening = [i for i in members if i < first_cue]
    imperative = (
        bool(cue_kinds & {"violence", "harm"})
        and targeted
        and (not opening or (len(opening) == 1 and "call" in categories[opening[0]]))
    )
    negated = any(
        "negation" in categories[i] for h in cues for i in range(max(first, h.first - 5), h.last)
    )
    dying = "death" in cue_kinds
    acts = violent or ((harm or dying) and targeted)
    for name, on in (
        ("intent", intent),
        ("future", "future" in present),
        ("second_person", "subj2" in present),
        ("call", calls),
        ("imperative", imperative),
        ("police", "police" in present),
        ("person", "person" in present),
        ("place", "place" in present),
        ("you", you),
        ("them", them),
        ("mention", "mention" in present),
        ("self_only", "self" in near and not intent and not targeted),
        ("negated", negated),
        ("benign", "benign" in present),
        ("intent_violence", intent and acts),
        ("call_violence", (calls or imperative) and acts),
        ("violence_target", violent and targeted),
        ("harm_target", harm and targeted),
        ("intent_violence_target", intent and targeted and (violent or harm)),
        ("police_violence", "police" in present and (violent or harm)),
        ("you_death", dying and ("subj2" in present or you)),
        ("negated_violence", negated and violent),
    ):
        if on:
            f[name] = 1.0
    following = text[tokens[last].end : tokens[last].end + 3]
    if "?" in following:
        f["question"] = 1.0
    cue_start = tokens[first_cue].start
    if any(qs <= cue_start < qe for qs, qe in quotes):
        f["quoted"] = 1.0
        if violent or harm or "formula" in cue_kinds:
            f["quoted_violence"] = 1.0
    return f


def has_structure(features: Mapping[str, float]) -> bool:
    """Whether the features name who threatens whom (see :data:`_STRUCTURE`); violence aimed
    only at the writer ("tötet mich doch") is not a threat to others."""
    if "self_only" in features and not any(k in features for k in ("you", "them", "person")):
        return False
    return any(name in features for name in _STRUCTURE)


_STRUCTURE_ORDER: Final = (
    "intent_violence_target",
    "formula",
    "call_violence",
    "intent_violence",
    "you_death",
    "violence_target",
    "harm_target",
)


def _merge_reasons(labels: Sequence[str], limit: int = 3) -> list[str]:
    """Labels in order, skipping one whose parts were all said ("violent act" after
    "intent + violent act + target")."""
    names: list[str] = []
    said: set[str] = set()
    for label in labels:
        parts = set(label.split(" + "))
        if parts <= said:
            continue
        said |= parts
        names.append(label)
        if len(names) == limit:
            break
    return names


class ThreatModel(msgspec.Struct, frozen=True, kw_only=True):
    """A logistic model over :data:`FEATURES`, as written by ``train/threat.py``."""

    weights: dict[str, float]
    bias: float
    threshold: float = 0.5
    trained_on: str = ""
    version: int = 1

    def probability(self, features: Mapping[str, float]) -> float:
        """P(threat | features)."""
        z = self.bias + sum(self.weights.get(k, 0.0) * v for k, v in features.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def reasons(self, features: Mapping[str, float], sign: int, limit: int = 3) -> list[str]:
        """Human names of the features that pushed most in direction ``sign`` (+1 / -1)."""
        pushes = sorted(
            ((self.weights.get(k, 0.0) * v * sign, k) for k, v in features.items()),
            reverse=True,
        )
        return _merge_reasons(
            [_EXPLAIN[k] for push, k in pushes if push > 0 and k in _EXPLAIN], limit
        )


@cache
def load_model(name: str = MODEL_FILE) -> ThreatModel:
    """The shipped weights (``src/veille/data/models/threat.json``)."""
    raw = resources.files("veille.data.models").joinpath(name).read_bytes()
    return msgspec.json.decode(raw, type=ThreatModel)


_MENTION_SIGNS: Final = (
    "report",
    "meta",
    "speech",
    "quote_and_speech",
    "quoted_violence",
    "condemn",
    "negated_violence",
    "question",
)


LABELS: Final = ("threat", "mention", "none")
"""``threat``: makes a threat or calls for violence; ``mention``: talks about violence without
making a threat (news, quotation, condemnation, negation, question); ``none``: neither."""


class ThreatDetector:
    """One verdict per post (:data:`LABELS`), with a probability, spans and reasons."""

    name = "threat"

    def __init__(
        self,
        model: ThreatModel | None = None,
        threshold: float | None = None,
        require_structure: bool = True,
        prefilter: bool = True,
    ) -> None:
        self.model = model or load_model()
        self.threshold = self.model.threshold if threshold is None else threshold
        self.require_structure = require_structure
        self.prefilter = prefilter
        # Without a cue, the verdict depends on the few surface features alone: at most
        # 2^3 distinct verdicts, computed once each (``prefilter=False`` recomputes them).
        self._cue_free: dict[frozenset[tuple[str, float]], Finding] = {}

    def detect(self, doc: Document) -> list[Finding]:
        """The threat verdict on ``doc`` (always exactly one finding).

        A post in a language other than FR/NL/DE/EN gets ``none`` with score 0 and says so:
        the lexicons do not cover it (``und`` and unknown languages are guessed among the four).
        """
        if doc.lang and doc.lang != "und" and doc.lang not in LANGUAGES:
            return [_verdict("none", 0.0, (), f"threat detection does not cover {doc.lang!r}")]
        analysis = analyse(doc.text, doc.lang, doc, prefilter=self.prefilter)
        if analysis.cue_spans or not self.prefilter:
            return [self.verdict(analysis)]
        key = frozenset(analysis.features.items())
        verdict = self._cue_free.get(key)
        if verdict is None:
            verdict = self._cue_free[key] = self.verdict(analysis)
        return [verdict]

    def verdict(self, analysis: Analysis) -> Finding:
        """The finding that ``analysis`` calls for."""
        p = round(self.model.probability(analysis.features), 4)
        structured = has_structure(analysis.features)
        if p >= self.threshold and (structured or not self.require_structure):
            structure = [_EXPLAIN[k] for k in _STRUCTURE_ORDER if k in analysis.features]
            why = _merge_reasons(structure[:1] + self.model.reasons(analysis.features, +1))
            why = why or ["violence cues"]
            spans = analysis.evidence or analysis.cue_spans
            return _verdict("threat", p, spans, "threat: " + " + ".join(why))
        if not analysis.cue_spans:
            return _verdict("none", p, (), "")
        context = [_EXPLAIN[k] for k in _MENTION_SIGNS if k in analysis.features]
        if context:
            explanation = "talks about violence: " + ", ".join(dict.fromkeys(context))
            return _verdict("mention", p, analysis.cue_spans, explanation)
        why = self.model.reasons(analysis.features, -1)
        explanation = "violent words, no threat" + (": " + ", ".join(why) if why else "")
        return _verdict("none", p, analysis.cue_spans, explanation)


def _verdict(label: str, p: float, spans: Sequence[Span], explanation: str) -> Finding:
    return Finding(
        kind="threat",
        detector="threat",
        label=label,
        score=p,
        spans=tuple(spans),
        explanation=explanation,
    )
