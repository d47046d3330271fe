"""Text → features for the sentiment model, shared by training and inference.

Training (``train/sentiment.py``) and run time call exactly these functions, so the model
never sees a feature computed differently from the one it learned. Pure Python, no numpy: the
cost per post is a few dozen microseconds.

Social-media specifics handled here: URLs and mentions become placeholders, elongations
("sooooo") are shortened and flagged, emoji and emoticons are tokens with a polarity,
negation marks the words in its scope and flips their lexicon polarity, intensifiers and
diminishers scale the next polar word, the clause after "but/mais/aber/maar" weighs more, and
irony markers ("#sarcasm", "/s", 🙄 …) are a feature of their own.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final

MAX_CHARS: Final = 2000
"""Only the first ``MAX_CHARS`` characters of a post are read: bounds the cost of one post."""

_URL = re.compile(r"(?:https?://|www\.)\S*|\bhttps?\b", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_ELONG = re.compile(r"(\w)\1\1+")  # three or more: \1{2,} does the same, slower
_VARIANTS = re.compile("[\ufe00-\ufe0f\U0001f3fb-\U0001f3ff]")
# Emoticons first, then words (letters, digits, inner apostrophes or hyphens), hashtags,
# punctuation runs, and any other single non-space symbol (emoji, pictographs).
_TOKEN = re.compile(
    r"""
    (?:[<>]?[:;=8xX][\-o\*\']?[\)\]\(\[dDpP/\\\|@3]+)(?![\w])   # :) ;-( :D xD =/ :3
    | (?:[\)\]\(\[dDpP/\\]+[\-o\*\']?[:;=8])(?![\w])           # (: reversed
    | <3+ | </3
    | \#\w+
    | _url | _user
    | \w+(?:['’\-]\w+)*['’]?
    | [!?]+
    | [.,;:]
    | [^\s\w]
    """,
    re.VERBOSE,
)
_FR_ELISION = re.compile(r"^(?:[ldjmntsc]|qu|jusqu|lorsqu|puisqu)['’](?=\w)", re.IGNORECASE)
_CLAUSE_END: Final = frozenset(".,;:!?")

NEGATORS: Final = frozenset(
    {
        # en
        "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "cannot",
        "without", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont",
        "cant", "couldnt", "shouldnt", "wouldnt", "aint", "hardly",
        # fr
        "pas", "jamais", "rien", "personne", "aucun", "aucune", "ni", "sans", "plus",
        # de
        "nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals",
        "nichts", "niemand", "ohne", "weder",
        # nl
        "niet", "geen", "nooit", "niets", "niks", "zonder", "noch",
    }
)  # fmt: skip
"""Words that open a negation scope (also any token ending in ``n't``)."""

INTENSIFIERS: Final[Mapping[str, float]] = {
    # en
    "very": 1.5, "really": 1.4, "so": 1.3, "too": 1.3, "extremely": 1.8, "totally": 1.5,
    "absolutely": 1.6, "completely": 1.5, "super": 1.5, "incredibly": 1.7, "most": 1.3,
    "highly": 1.4, "such": 1.2, "fucking": 1.6, "damn": 1.3,
    "slightly": 0.5, "somewhat": 0.6, "little": 0.6, "barely": 0.4, "kinda": 0.6,
    # fr
    "très": 1.5, "trop": 1.4, "vraiment": 1.4, "tellement": 1.5, "hyper": 1.5, "grave": 1.4,
    "vachement": 1.5, "extrêmement": 1.8, "totalement": 1.5, "complètement": 1.5,
    "assez": 0.8, "peu": 0.5, "légèrement": 0.5,
    # de
    "sehr": 1.5, "echt": 1.4, "total": 1.5, "voll": 1.4, "mega": 1.5, "extrem": 1.8,
    "unglaublich": 1.7, "richtig": 1.3, "ziemlich": 1.2, "besonders": 1.4, "wirklich": 1.4,
    "etwas": 0.6, "bisschen": 0.5, "kaum": 0.4,
    # nl
    "zeer": 1.5, "heel": 1.5, "erg": 1.5, "zo": 1.3, "enorm": 1.7, "ontzettend": 1.7,
    "vreselijk": 1.6, "supergoed": 1.5, "hartstikke": 1.6, "best": 1.1, "nogal": 1.1,
    "beetje": 0.5, "weinig": 0.6,
}  # fmt: skip
"""Multipliers applied to the polarity of the next polar word (below 1: diminishers)."""

CONTRASTS: Final = frozenset({"but", "however", "mais", "pourtant", "aber", "doch", "maar"})
"""After one of these, the rest of the post weighs more (the writer's real point)."""

IRONY_TOKENS: Final = frozenset(
    {
        "#irony", "#sarcasm", "#sarcastic", "#not", "#ironie", "#sarcasme", "#sarkasmus",
        "#ironisch", "#sarcastisch", "🙄", "😏", "🙃",
    }
)  # fmt: skip
IRONY_PHRASES: Final = (
    "/s", "yeah right", "oh great", "thanks a lot", "just what i needed", "bravo les",
    "merci pour rien", "c'est ça oui", "ouais c'est ça", "ja klar", "na toll", "super gemacht",
    "danke für nichts", "ja hoor", "lekker dan", "goed bezig", "dank je wel hoor",
)  # fmt: skip
"""Irony markers: positive words next to them are not to be taken at face value."""

EMOJI_POLARITY: Final[Mapping[str, float]] = {
    # positive
    "😀": 0.8, "😃": 0.8, "😄": 0.8, "😁": 0.8, "😆": 0.7, "😊": 0.8, "☺": 0.7, "🙂": 0.5,
    "😉": 0.5, "😍": 0.9, "🥰": 0.9, "😘": 0.8, "😗": 0.5, "😙": 0.6, "😚": 0.6, "😋": 0.7,
    "😎": 0.6, "🤗": 0.7, "🤩": 0.9, "😇": 0.7, "🥳": 0.9, "❤": 0.9, "♥": 0.8, "💕": 0.9,
    "💖": 0.9, "💗": 0.9, "💓": 0.9, "💞": 0.9, "💙": 0.8, "💚": 0.8, "💛": 0.8, "💜": 0.8,
    "🧡": 0.8, "🖤": 0.4, "👍": 0.7, "👌": 0.6, "👏": 0.6, "🙌": 0.7, "💪": 0.6, "🎉": 0.8,
    "🎊": 0.8, "✨": 0.5, "🌟": 0.6, "⭐": 0.5, "🔥": 0.4, "💯": 0.6, "🏆": 0.7, "🥇": 0.7,
    "☀": 0.4, "🌞": 0.5, "🌈": 0.5, "🍀": 0.5, "🙏": 0.4, "✌": 0.5, "😂": 0.4, "🤣": 0.4,
    "😅": 0.2, "😌": 0.5, "😻": 0.8, "<3": 0.8, ":)": 0.7, ":-)": 0.7, ":d": 0.8, ":-d": 0.8,
    ";)": 0.5, ";-)": 0.5, "=)": 0.7, "(:": 0.7, ":p": 0.4, ":-p": 0.4, "xd": 0.6, "^^": 0.6,
    # negative
    "😞": -0.8, "😔": -0.7, "😟": -0.7, "😕": -0.5, "🙁": -0.6, "☹": -0.7, "😣": -0.7,
    "😖": -0.7, "😫": -0.7, "😩": -0.7, "😢": -0.8, "😭": -0.6, "😤": -0.6, "😠": -0.9,
    "😡": -0.9, "🤬": -1.0, "😨": -0.7, "😰": -0.7, "😱": -0.6, "😥": -0.6, "😓": -0.5,
    "🤢": -0.8, "🤮": -0.9, "💩": -0.7, "👎": -0.8, "💔": -0.8, "😒": -0.6, "😑": -0.4,
    "😐": -0.2, "😬": -0.4, "🤦": -0.6, "😪": -0.4, "😿": -0.7, "🖕": -1.0, "😷": -0.3,
    "💀": -0.2, "⚠": -0.3, "🚨": -0.3, ":(": -0.7, ":-(": -0.7, ":'(": -0.8, "):": -0.7,
    ":/": -0.4, ":-/": -0.4, "</3": -0.8, "=(": -0.7, ":@": -0.8,
}  # fmt: skip
"""Emoji and emoticon polarity written for veille (Unicode names and common usage)."""

DENSE_FEATURES: Final = (
    "lex_pos", "lex_neg", "lex_net", "lex_npos", "lex_nneg", "lex_last", "lex_max_pos",
    "lex_max_neg", "emo_pos", "emo_neg", "exclaim", "question", "caps", "elong", "irony",
    "irony_pos", "negations", "url", "mention", "length",
)  # fmt: skip
"""Names of the dense (lexicon and surface) features, in the model's column order."""

_NEGATOR, _CONTRAST, _INTENSIFIER, _EMOJI = range(4)


def _special_tokens() -> dict[str, tuple[int, float]]:
    """Every token :func:`dense_features` treats as a negator, contrast, intensifier or emoji,
    with its kind: one look-up per token instead of one per kind. Written from the lowest
    precedence up so that a token in two lists keeps the kind checked first."""
    table: dict[str, tuple[int, float]] = {}
    table.update((tok, (_EMOJI, value)) for tok, value in EMOJI_POLARITY.items())
    table.update((tok, (_INTENSIFIER, value)) for tok, value in INTENSIFIERS.items())
    table.update((tok, (_CONTRAST, 0.0)) for tok in CONTRASTS)
    table.update((tok, (_NEGATOR, 0.0)) for tok in NEGATORS)
    table.update((tok, (_NEGATOR, 0.0)) for tok in table if tok.endswith("n't"))
    return table


_SPECIAL: Final = _special_tokens()


def fold_variants(text: str) -> str:
    """Compatibility-fold and case-fold, keeping accents (the lexicons are accented)."""
    text = text[:MAX_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).replace("’", "'")
        # Variation selectors and skin tones would split one emoji into several tokens.
        text = _VARIANTS.sub("", text)
    return text.lower()


class Analysed:
    """The tokens of one post and the surface facts the features need."""

    __slots__ = ("caps", "elong", "exclaim", "mention", "question", "text", "tokens", "url")

    def __init__(self, text: str) -> None:
        raw = text[:MAX_CHARS]
        # Words of 3+ letters all in capitals (filter first: few words are upper case).
        self.caps = sum(1 for w in filter(str.isupper, raw.split()) if len(w) > 2 and w.isalpha())
        self.exclaim = raw.count("!")
        self.question = raw.count("?")
        folded = fold_variants(raw)
        self.url = 0
        if "http" in folded or "www." in folded:  # what every URL match contains
            folded, self.url = _URL.subn(" _url ", folded)
        self.mention = 0
        if "@" in folded:
            folded, self.mention = _MENTION.subn(" _user ", folded)
        folded, self.elong = _ELONG.subn(r"\1\1", folded)
        self.text = folded
        tokens: list[str] = _TOKEN.findall(folded)
        if "'" in folded or "’" in folded:  # no apostrophe, no elision: skip the loop
            tokens = []
            for tok in _TOKEN.findall(folded):
                elided = _FR_ELISION.match(tok) if "'" in tok or "’" in tok else None
                if elided:
                    tokens.append(elided.group(0))
                    tokens.append(tok[elided.end() :])
                else:
                    tokens.append(tok)
        self.tokens = tokens


def marked_words(an: Analysed) -> list[str]:
    """The words of :func:`word_features` before prefixing: negation-scope words marked
    ``neg_``, hashtags followed by their bare word, punctuation kept (it closes scopes)."""
    marked: list[str] = []
    scope = 0
    contracted = "n't" in an.text  # else no token ends with it
    for tok in an.tokens:
        if tok[0] in _CLAUSE_END:
            scope = 0
            marked.append(tok[0])
            continue
        if tok in NEGATORS or (contracted and tok.endswith("n't")):
            scope = 4
            marked.append(tok)
            continue
        if tok[0] == "#" and len(tok) > 1:
            marked.append(tok)
            tok = tok[1:]
        if scope:
            marked.append("neg_" + tok)
            scope -= 1
        else:
            marked.append(tok)
    return marked


def word_features(an: Analysed) -> list[str]:
    """Unigrams ``w:`` and bigrams ``b:`` of :func:`marked_words`.

    A scope opens at a negator and closes at punctuation or after four words; hashtags also
    yield their bare word so "#genial" and "genial" share evidence.
    """
    marked = marked_words(an)
    feats = ["w:" + t for t in marked]
    feats.extend(f"b:{a} {b}" for a, b in itertools.pairwise(marked))
    return feats


def char_features(tokens: Iterable[str], lo: int = 2, hi: int = 5) -> list[str]:
    """Character n-grams inside ``" word "`` boundaries (sklearn's ``char_wb`` analyser)."""
    feats: list[str] = []
    for tok in tokens:
        w = f" {tok} "
        n = len(w)
        for k in range(lo, min(hi, n) + 1):
            feats.extend(w[i : i + k] for i in range(n - k + 1))
    return feats


def dense_features(an: Analysed, lexicon: Mapping[str, float]) -> list[float]:
    """Lexicon polarity with negation, intensifiers, contrast and irony; surface counts.

    Values are squashed to about [-1, 1] so that they sit on the scale of the normalised
    sparse features.
    """
    pos = neg = max_pos = max_neg = last = 0.0
    npos = nneg = negations = 0
    emo_pos = emo_neg = 0.0
    scope = 0
    boost = 1.0
    weight = 1.0
    irony = not IRONY_TOKENS.isdisjoint(an.tokens) or any(map(an.text.__contains__, IRONY_PHRASES))
    contracted = "n't" in an.text  # else no token ends with it
    special_of = _SPECIAL.get
    for tok in an.tokens:
        if tok[0] in _CLAUSE_END:
            scope = 0
            boost = 1.0
            continue
        special = special_of(tok)
        if special is not None:
            kind, amount = special
            if kind == _NEGATOR:
                scope = 4
                negations += 1
            elif kind == _CONTRAST:
                # VADER's rule: what came before counts half, what comes after counts 1.5 times.
                pos, neg, weight = pos * 0.5, neg * 0.5, 1.5
            elif kind == _INTENSIFIER:
                boost = amount
            elif amount > 0:
                emo_pos += amount
            else:
                emo_neg -= amount
            continue
        if contracted and tok.endswith("n't"):
            scope = 4
            negations += 1
            continue
        value = lexicon.get(tok[1:] if tok[0] == "#" else tok)
        if value is None:
            if scope:
                scope -= 1
            continue
        value *= boost * weight
        boost = 1.0
        if scope:
            value *= -0.74  # VADER's negation scalar: "not good" is milder than "bad"
            scope -= 1
        if value > 0:
            pos += value
            npos += 1
            max_pos = max(max_pos, value)
        elif value < 0:
            neg -= value
            nneg += 1
            max_neg = max(max_neg, -value)
        last = value
    n_words = max(1, len(an.tokens))
    return [
        math.tanh(pos),
        math.tanh(neg),
        math.tanh(pos - neg),
        math.tanh(npos / 2),
        math.tanh(nneg / 2),
        math.tanh(last),
        max_pos,
        max_neg,
        math.tanh(emo_pos),
        math.tanh(emo_neg),
        math.tanh(an.exclaim / 2),
        math.tanh(an.question / 2),
        math.tanh(an.caps / 2),
        math.tanh(an.elong),
        1.0 if irony else 0.0,
        math.tanh(pos) if irony else 0.0,
        math.tanh(negations / 2),
        1.0 if an.url else 0.0,
        math.tanh(an.mention / 2),
        math.log1p(n_words) / 5,
    ]
