"""Seeded generators of realistic multilingual posts and rule catalogues, for benchmarks.

Posts mix French, Dutch, German and English everyday words with hashtags, mentions, emoji and
URLs; catalogues are mostly specific terms and phrases, with booleans, NEAR and wildcards. A
small share of posts carries a catalogue term, so hits are sparse as in a real watch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

COMMON = {
    "fr": (
        "le la les un une des et ou mais donc car je tu il elle nous vous ils on est sont "
        "pas plus très bien avec pour dans sur par chez aujourd'hui demain hier ville gare "
        "rue quartier police agent voiture train école travail maison soir matin nuit monde "
        "gens merci bonjour vraiment encore toujours jamais depuis avant après grand petit "
        "nouveau dernier premier fête marché météo pluie soleil été hiver manifestation"
    ).split(),
    "nl": (
        "de het een en of maar dus want ik jij hij zij wij jullie ze is zijn niet meer heel "
        "goed met voor in op door bij vandaag morgen gisteren stad station straat wijk politie "
        "agent auto trein school werk huis avond ochtend nacht wereld mensen dank hallo echt "
        "nog altijd nooit sinds voor na groot klein nieuw laatste eerste feest markt weer regen"
    ).split(),
    "de": (
        "der die das ein eine und oder aber also denn ich du er sie wir ihr ist sind nicht "
        "mehr sehr gut mit für in auf durch bei heute morgen gestern stadt bahnhof straße "
        "viertel polizei beamter auto zug schule arbeit haus abend morgen nacht welt leute "
        "danke hallo wirklich noch immer nie seit vor nach groß klein neu letzte erste fest"
    ).split(),
    "en": (
        "the a an and or but so because i you he she we they is are not more very good with "
        "for in on by at today tomorrow yesterday city station street district police officer "
        "car train school work home evening morning night world people thanks hello really "
        "still always never since before after big small new last first party market weather"
    ).split(),
}
EMOJI = ["🙂", "😂", "🔥", "👮", "🚓", "❤️", "👍", "😡", "🎉", "🇧🇪"]
SYLLABLES = (
    "ka ri to mo ne lu sa vi de ba zo fi ga pe ru li na ko te ma sho vin dra kel bor tis "
    "gen pol mar van der lin ost berg wald feld haus"
).split()
LANGS = ("fr", "nl", "de", "en")


def pseudo_word(rng: random.Random) -> str:
    """A made-up word of 2–4 syllables: catalogue terms that ordinary posts rarely contain."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


@dataclass(frozen=True, slots=True)
class GenPost:
    id: str
    text: str
    lang: str


def rule_queries(n: int, seed: int = 1, context_share: float = 0.2) -> list[str]:
    """``n`` rule queries: ~60% a term or phrase, the rest booleans, NEAR and wildcards;
    ``context_share`` of the AND rules pair a term with an everyday word."""
    rng = random.Random(seed)
    terms = list(dict.fromkeys(pseudo_word(rng) for _ in range(n * 3)))
    out: list[str] = []
    for i in range(n):
        a, b, c = (
            terms[(3 * i) % len(terms)],
            terms[(3 * i + 1) % len(terms)],
            terms[(3 * i + 2) % len(terms)],
        )
        common = rng.choice(COMMON[rng.choice(LANGS)])
        kind = rng.random()
        if kind < 0.40:
            out.append(a)
        elif kind < 0.60:
            out.append(f'"{a} {b}"')
        elif kind < 0.70:
            # Mostly two specific terms; some pair a term with an everyday context word
            # (``dense`` catalogues make that the rule, to show its cost).
            out.append(f"{a} {common}" if rng.random() < context_share else f"{a} {b}")
        elif kind < 0.80:
            out.append(f"({a} OR {b} OR #{c})")
        elif kind < 0.88:
            out.append(f"{a} NEAR/3 ({b} OR {common})")
        elif kind < 0.94:
            out.append(f"{a[:5]}{i}* -{b}")
        else:
            out.append(f"({a} OR {b}) lang:{rng.choice(LANGS)}")
    return out


def catalogue_terms(queries: list[str]) -> list[str]:
    """The plain words appearing in generated queries (to plant hits in posts)."""
    words: list[str] = []
    for q in queries:
        for tok in q.replace('"', " ").replace("(", " ").replace(")", " ").split():
            if tok.isalpha() and tok not in ("OR", "AND", "NOT") and len(tok) > 4:
                words.append(tok)
    return words


def posts(n: int, hit_terms: list[str], hit_rate: float = 0.02, seed: int = 2) -> Iterator[GenPost]:
    """``n`` posts; about ``hit_rate`` of them carry one or two catalogue terms."""
    rng = random.Random(seed)
    for i in range(n):
        lang = rng.choice(LANGS)
        words = rng.choices(COMMON[lang], k=rng.randint(8, 30))
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words) + 1), "#" + rng.choice(COMMON[lang]))
        if rng.random() < 0.2:
            words.insert(0, f"@{pseudo_word(rng)}.bsky.social")
        if rng.random() < 0.3:
            words.append(rng.choice(EMOJI))
        if rng.random() < 0.1:
            words.append(f"https://www.{pseudo_word(rng)}.be/{pseudo_word(rng)}")
        if hit_terms and rng.random() < hit_rate:
            for _ in range(rng.randint(1, 2)):
                words.insert(rng.randrange(len(words) + 1), rng.choice(hit_terms))
        text = " ".join(words)
        text = text[0].upper() + text[1:] + rng.choice([".", "!", " ?", "", "…"])
        yield GenPost(str(i), text, lang)


def stream(count: int, queries: list[str], seed: int = 3) -> Iterator[dict[str, Any]]:
    """``count`` posts as generic JSON objects (veille's ``generic`` mapping) with authors, times
    50 per second apart, and a fifth of them replies to one of the 500 posts before, as a live
    stream has them; catalogue terms of ``queries`` planted as :func:`posts` does."""
    rng = random.Random(seed)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for n, post in enumerate(posts(count, catalogue_terms(queries))):
        payload: dict[str, Any] = {
            "id": post.id,
            "text": post.text,
            "lang": post.lang,
            "author": {"id": str(rng.randrange(50_000)), "handle": f"user{rng.randrange(50_000)}"},
            "created_at": (base + timedelta(seconds=n / 50)).isoformat(),
        }
        if n > 10 and rng.random() < 0.2:
            payload["reply_to"] = str(rng.randrange(max(0, n - 500), n))
        yield payload


def rule_file(queries: list[str], severities: Sequence[str]) -> str:
    """A veille rule file (TOML) of ``queries``, rule ``n`` named ``bench.n``."""
    return "\n".join(
        f'[[rule]]\nid = "bench.{n}"\nseverity = "{severity}"\nquery = {json.dumps(q)}\n'
        for n, (q, severity) in enumerate(zip(queries, severities, strict=True))
    )
