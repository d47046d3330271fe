"""How often evasion mode fires on ordinary text (its false-positive rate), measured on the
sentiment corpora of ../shared/data (real tweets in French, German and English; evaluation
only: nothing from them is copied into veille).

Each watch word below is a rule twice: once plain, once with ``evasion = true``. A post counts
as an *evasion-only hit* when the evasion rule matches and the plain one does not: on ordinary
text that is a false positive (unless someone really wrote leetspeak, which the printed terms
let a reader judge without printing the posts).

Usage: ``python bench/evasion.py [--quick]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from veille.match import Matcher
from veille.model import Post
from veille.rules import Rule

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA = SHARED / "sentiment"
WORDS = (
    "attentat bombe tuer abattre explosion arme otage flic police menace "
    "aanslag bom doden schieten wapen gijzelaar politie bedreiging "
    "anschlag bombe toten erschiessen waffe geisel polizei drohung "
    "attack bomb kill shoot weapon hostage police threat terror riot"
).split()


def keyword_list() -> list[str]:
    """MLMA's hate-speech search keywords (an example watch list; evaluation only). They are
    offensive: they are counted, never printed."""
    path = SHARED / "lexicons" / "mlma-keywords" / "keywords.txt"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[2:]
    return [ln.strip() for ln in lines if ln.strip() and not set(ln.strip()) <= set("_*-")]


def catalogue(words: list[str], evasion: bool) -> Matcher:
    rules = []
    for i, word in enumerate(words):
        try:
            rules.append(Rule.of(f"k{i}", '"' + word.replace('"', " ") + '"', evasion=evasion))
        except ValueError:
            continue
    return Matcher(rules)


def corpora() -> dict[str, list[str]]:
    out = {}
    for lang, folder in (("fr", "french"), ("de", "german"), ("en", "english")):
        texts: list[str] = []
        for name in ("train_text.txt", "val_text.txt"):
            path = DATA / "xlmt" / folder / name
            if path.exists():
                texts += path.read_text(encoding="utf-8").splitlines()
        if lang == "en" and (DATA / "tweeteval" / "val_text.txt").exists():
            texts += (DATA / "tweeteval" / "val_text.txt").read_text("utf-8").splitlines()
        out[lang] = texts
    return out


def measure(
    plain: Matcher, evasive: Matcher, texts: list[str], lang: str, show_terms: bool
) -> dict[str, object]:
    plain_hits = evasion_hits = extra = 0
    terms: Counter[str] = Counter()
    start = time.process_time()
    for i, text in enumerate(texts):
        post = Post(platform="corpus", native_id=str(i), text=text, lang=lang)
        a = {m.rule for m in plain.match(post)}
        found = evasive.match(post)
        plain_hits += bool(a)
        evasion_hits += bool(found)
        if {m.rule for m in found} - a:
            extra += 1
            if show_terms:
                for m in found:
                    if m.rule not in a:
                        terms.update(text[s:e].lower() for s, e in m.spans)
    seconds = time.process_time() - start
    n = max(len(texts), 1)
    return {
        "posts": len(texts),
        "plain_hit_rate": round(plain_hits / n, 4),
        "evasion_hit_rate": round(evasion_hits / n, 4),
        "evasion_only_rate": round(extra / n, 4),
        "evasion_only_terms": dict(terms.most_common(8)),
        "posts_s": round(len(texts) / seconds) if seconds else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    catalogues = {"threat-words": sorted(set(WORDS)), "mlma-keywords": keyword_list()}
    results: dict[str, dict[str, object]] = {}
    print(
        f"{'catalogue':<14} {'rules':>5} {'lang':<4} {'posts':>6} {'plain':>7} "
        f"{'evasion':>8} {'evasion-only':>13}"
    )
    texts_by_lang = corpora()
    for name, words in catalogues.items():
        if not words:
            continue
        plain, evasive = catalogue(words, False), catalogue(words, True)
        for lang, texts in texts_by_lang.items():
            if args.quick:
                texts = texts[:500]
            r = measure(plain, evasive, texts, lang, show_terms=name == "threat-words")
            results[f"{name}/{lang}"] = r
            print(
                f"{name:<14} {len(words):>5} {lang:<4} {r['posts']:>6} "
                f"{r['plain_hit_rate']:>7.2%} {r['evasion_hit_rate']:>8.2%} "
                f"{r['evasion_only_rate']:>13.2%}  {r['evasion_only_terms'] or ''}"
            )
    print(json.dumps({"benchmark": "evasion", "quick": args.quick, "results": results}))


if __name__ == "__main__":
    main()
