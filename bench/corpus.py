"""Generated benchmark data: short FR/NL/DE/EN posts and a catalogue of watch rules.

Seeded and self-contained (no shared data): everyday words per language for the bulk of each
post, plus words from a large synthetic vocabulary that the rules draw their terms from, so that
hits are sparse as in real watch work (a few percent of posts match something).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec


def _words(text: str) -> list[str]:
    return text.split()


COMMON = {
    "fr": _words(
        "le la les un une des et est pas pour que qui dans sur avec ce il elle nous vous on "
        "police ville rue gare soir matin bruxelles liège merci encore toujours vraiment voiture "
        "train retard manif contrôle quartier enfants école travail week-end pluie soleil"
    ),
    "nl": _words(
        "de het een en is niet voor dat die in op met dit hij zij wij jullie men politie "
        "stad straat station avond morgen brussel antwerpen bedankt nog altijd echt auto trein "
        "vertraging betoging controle wijk kinderen school werk weekend regen zon"
    ),
    "de": _words(
        "der die das ein eine und ist nicht für dass in auf mit dies er sie wir ihr man "
        "polizei stadt straße bahnhof abend morgen eupen danke noch immer wirklich auto zug "
        "verspätung demo kontrolle viertel kinder schule arbeit wochenende regen sonne"
    ),
    "en": _words(
        "the a an and is not for that who in on with this he she we you they police city "
        "street station evening morning brussels thanks still always really car train delay "
        "protest check district children school work weekend rain sun"
    ),
}
VOCABULARY = 200_000
SYLLABLES = _words(
    "ka lo mi ver ent sto ra bel und gra pol ix zen tur mar dek fo sil van orb "
    "ple nu ro cha wen dri sa tov gul bre"
)


@functools.cache
def vocabulary(size: int) -> list[str]:
    """``size`` distinct synthetic words of four syllables, scattered over all combinations."""
    base = len(SYLLABLES)
    space = base**4
    words = []
    for i in range(size):
        code = (i * 7_919 + 13) % space  # 7919 is prime to 30^4: a permutation
        word = ""
        for _ in range(4):
            code, digit = divmod(code, base)
            word += SYLLABLES[digit]
        words.append(word)
    return words


def posts(count: int, seed: int = 1) -> Iterator[bytes]:
    """``count`` generic JSON posts, one encoded line each (no newline)."""
    rng = random.Random(seed)
    vocab = vocabulary(VOCABULARY)
    langs = list(COMMON)
    encoder = msgspec.json.Encoder()
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(count):
        lang = rng.choice(langs)
        words = rng.choices(COMMON[lang], k=rng.randint(8, 28))
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
        if rng.random() < 0.1:
            words.append("#" + rng.choice(vocab))
        if rng.random() < 0.05:
            words.insert(0, "@user" + str(rng.randrange(5000)))
        if rng.random() < 0.03:
            words.append(f"https://news.example/{n}")
        post: dict[str, object] = {
            "id": str(n),
            "text": " ".join(words),
            "lang": lang,
            "author": {"id": str(rng.randrange(50_000)), "handle": f"user{rng.randrange(50_000)}"},
            "created_at": (base + timedelta(seconds=n / 50)).isoformat(),
        }
        if n > 10 and rng.random() < 0.2:
            parent = rng.randrange(max(0, n - 500), n)
            post["reply_to"] = str(parent)
        yield encoder.encode(post)


def rules_toml(count: int, seed: int = 2) -> str:
    """A rule file of ``count`` rules of mixed shapes over the synthetic vocabulary."""
    rng = random.Random(seed)
    vocab = vocabulary(VOCABULARY)
    out = []
    for n in range(count):
        a, b, c = rng.sample(vocab, 3)
        shape = rng.random()
        if shape < 0.35:
            query = a
        elif shape < 0.55:
            query = f"{a} OR {b} OR {c}"
        elif shape < 0.7:
            query = f"{a} AND ({b} OR police OR politie)"
        elif shape < 0.8:
            query = f'"{a} {b}" OR {c}'
        elif shape < 0.9:
            query = f"{a} NEAR/5 {b}"
        elif shape < 0.95:
            query = f"(#{a} OR {b}) NOT {c}"
        else:
            query = f"{a[:6]}* AND lang:{rng.choice(list(COMMON))}"
        severity = rng.choice(["low", "medium", "high"])
        out.append(f'[[rule]]\nid = "bench.{n}"\nquery = \'{query}\'\nseverity = "{severity}"\n')
    return "\n".join(out)
