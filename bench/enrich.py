"""Language identification + sentiment throughput on one core, with their peers.

Peers, run in the same process on the same posts:
  * language — py3langid over its 97 languages, py3langid restricted to FR/NL/DE/EN
    (``set_languages``), lingua (restricted to the four) when installed, and veille's
    ``LanguageDetector`` (both steps: foreign check, then restricted choice with the hint) one
    post per call (``detect``: what a caller with one text gets) and per batch of 100 and 1,000
    posts (``detect_many``: what the pipeline calls, once per batch);
  * sentiment — veille's built-in model one post per call and per batch of 100 and 1,000, the
    batch of 1,000 with its token cache cleared before each batch (worst case), and VADER
    (English lexicon rules) when installed;
  * the pair the pipeline runs per batch: language then sentiment.

Posts: the XLM-T val tweets (FR/DE/EN) and veille's Dutch sentences when ../shared/data is
present, then the generated posts ``bench/pipeline.py`` measures its stages on. Speed is CPU
time of this process (``time.process_time``): on a shared machine wall time measures the
neighbours too.

Usage: python bench/enrich.py [--quick] [--posts N]. Prints a table; the last stdout line is
one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from veille.enrich.evaluate import XLMT, read_dutch, read_xlmt
from veille.enrich.sentiment import default_model
from veille.normalise.language import LanguageDetector

sys.path.insert(0, str(Path(__file__).resolve().parent))
import match_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def datasets(count: int) -> dict[str, list[tuple[str, str]]]:
    """``count`` (text, language tag) pairs of each data set: real tweets (cycled) when the
    shared data is there, and the generated posts of ``bench/pipeline.py``."""
    out: dict[str, list[tuple[str, str]]] = {}
    if DATA.is_dir():
        texts: list[tuple[str, str]] = []
        for lang in XLMT:
            texts += [(t, lang) for t in read_xlmt(DATA, lang, "val")[0]]
        texts += [(t, "nl") for t in read_dutch()[0]]
        out["XLM-T val tweets + veille Dutch sentences, cycled"] = (
            texts * (count // len(texts) + 1)
        )[:count]
    generated = [(p.text, p.lang) for p in match_corpus.posts(count, [])]
    out["generated posts (bench/match_corpus.py, as bench/pipeline.py)"] = generated
    return out


Batched = Callable[[list[str], list[str]], object]
"""A peer: called with a batch of texts and their platform language tags."""


def measure(fn: Batched, posts: list[tuple[str, str]], batch: int, repeats: int = 3) -> float:
    """Posts per CPU-second of ``fn`` over ``posts`` cut in batches: the best of ``repeats``
    passes after a short warm-up (other jobs on a shared machine only ever slow a pass down)."""
    texts, hints = [t for t, _ in posts], [h for _, h in posts]
    fn(texts[:50], hints[:50])
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for at in range(0, len(texts), batch):
            fn(texts[at : at + batch], hints[at : at + batch])
        best = min(best, time.process_time() - start)
    return len(posts) / max(best, 1e-9)


def each(fn: Callable[[str, str], object]) -> Batched:
    """A one-post-per-call peer as a batch peer."""
    return lambda texts, hints: [fn(t, h) for t, h in zip(texts, hints, strict=True)]


def peers() -> dict[str, tuple[Batched, int]]:
    """Each peer and the batch size it is measured with."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    four = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    four.set_languages(["fr", "nl", "de", "en"])
    detector = LanguageDetector()
    model = default_model()
    out: dict[str, tuple[Batched, int]] = {
        "language: py3langid, 97 languages": (each(lambda t, _: full.classify(t)), 1),
        "language: py3langid, restricted to 4": (each(lambda t, _: four.classify(t)), 1),
    }
    try:
        from lingua import Language, LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_languages(
            Language.FRENCH, Language.DUTCH, Language.GERMAN, Language.ENGLISH
        ).build()
        out["language: lingua, restricted to 4"] = (
            each(lambda t, _: lingua.detect_language_of(t)),
            1,
        )
    except ImportError:
        pass
    out["language: veille, one post per call"] = (each(detector.detect), 1)
    for size in BATCHES:
        out[f"language: veille, batches of {size:,}"] = (detector.detect_many, size)
    out["sentiment: veille, one post per call"] = (each(model.analyze), 1)
    for size in BATCHES:
        out[f"sentiment: veille, batches of {size:,}"] = (model.analyze_many, size)

    def cold(texts: list[str], langs: list[str]) -> object:
        model._char_cache.clear()  # every token unseen in each batch: the cache's worst case
        return model.analyze_many(texts, langs)

    out["sentiment: veille, batches of 1,000, cache cleared"] = (cold, 1000)
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        vader = SentimentIntensityAnalyzer()
        out["sentiment: VADER (English rules)"] = (each(lambda t, _: vader.polarity_scores(t)), 1)
    except ImportError:
        pass

    def pair(texts: list[str], hints: list[str]) -> object:
        return model.analyze_many(texts, detector.detect_many(texts, hints))

    out[PAIR] = (pair, 1000)
    return out


BATCHES = (100, 1000)
PAIR = "language + sentiment (veille, batches of 1,000)"
TARGETS = {
    "language: veille, batches of 1,000": 40.0,
    "sentiment: veille, batches of 1,000": 80.0,
    PAIR: 120.0,
}
"""CPU µs per post on one core (issue 5: 2,000 posts/s on two cores leaves 1,000 µs per post
for everything; language and sentiment get 40 and 80)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--posts", type=int, default=None)
    args = parser.parse_args()
    count = args.posts or (1_500 if args.quick else 20_000)
    report: dict[str, dict[str, float]] = {}
    for origin, posts in datasets(count).items():
        mean_chars = sum(len(t) for t, _ in posts) / len(posts)
        print(f"\n{len(posts)} posts: {origin}, mean {mean_chars:.0f} characters, one core")
        print(f"{'peer':<52} {'posts/s':>10} {'µs/post':>9}")
        results: dict[str, float] = {}
        for name, (fn, batch) in peers().items():
            rate = measure(fn, posts, batch)
            results[name] = round(rate, 1)
            print(f"{name:<52} {rate:>10,.0f} {1e6 / rate:>9.1f}")
        for name, target in TARGETS.items():
            cost = 1e6 / results[name]
            verdict = "meets" if cost <= target else "MISSES"
            print(f"{name}: {cost:.1f} µs/post — {verdict} the {target:.0f} µs target")
        report[origin] = results
    print(json.dumps({"bench": "enrich", "posts": count, "posts_per_s": report}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
