"""Language identification + sentiment throughput on one core, with their peers.

Peers, run in the same process on the same posts:
  * language — py3langid over its 97 languages, py3langid restricted to FR/NL/DE/EN
    (``set_languages``), and veille's ``LanguageDetector`` (both steps: foreign check, then
    restricted choice with the hint); lingua (restricted to the four) when installed;
  * sentiment — veille's built-in model, and VADER (English lexicon rules) when installed;
  * the pair veille runs per post: language then sentiment.

Posts: the XLM-T val tweets (FR/DE/EN) and veille's Dutch sentences when ../shared/data is
present, else the generated posts of bench/corpus.py. Speed is CPU time of this process
(``time.process_time``): on a shared machine wall time measures the neighbours too.

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

import msgspec

from veille.enrich.evaluate import XLMT, read_dutch, read_xlmt
from veille.enrich.sentiment import default_model
from veille.normalise.language import LanguageDetector

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_posts(count: int) -> tuple[list[tuple[str, str]], str]:
    """``count`` (text, language) pairs, real tweets when the shared data is there."""
    texts: list[tuple[str, str]] = []
    if DATA.is_dir():
        for lang in XLMT:
            texts += [(t, lang) for t in read_xlmt(DATA, lang, "val")[0]]
        texts += [(t, "nl") for t in read_dutch()[0]]
        origin = "XLM-T val tweets + veille Dutch sentences"
    else:
        for raw in corpus.posts(count):
            post = msgspec.json.decode(raw)
            texts.append((post["text"], post.get("lang", "")))
        origin = "bench/corpus.py generated posts"
    out = (texts * (count // len(texts) + 1))[:count]
    return out, origin


def measure(fn: Callable[[str, str], object], posts: list[tuple[str, str]]) -> float:
    """Posts per CPU-second of ``fn`` over ``posts`` (after a short warm-up)."""
    for text, lang in posts[:50]:
        fn(text, lang)
    start = time.process_time()
    for text, lang in posts:
        fn(text, lang)
    return len(posts) / max(time.process_time() - start, 1e-9)


def peers() -> dict[str, Callable[[str, str], object]]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    four = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    four.set_languages(["fr", "nl", "de", "en"])
    detector = LanguageDetector()
    model = default_model()
    out: dict[str, Callable[[str, str], object]] = {
        "language: py3langid, 97 languages": lambda t, _: full.classify(t),
        "language: py3langid, restricted to 4": lambda t, _: four.classify(t),
        "language: veille LanguageDetector": lambda t, h: detector.detect(t, h),
    }
    try:
        from lingua import Language, LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_languages(
            Language.FRENCH, Language.DUTCH, Language.GERMAN, Language.ENGLISH
        ).build()
        out["language: lingua, restricted to 4"] = lambda t, _: lingua.detect_language_of(t)
    except ImportError:
        pass
    out["sentiment: veille built-in model"] = lambda t, lang: model.analyze(t, lang)

    def cold(text: str, lang: str) -> object:
        model._char_cache.clear()  # every token unseen: the worst case of the token cache
        return model.analyze(text, lang)

    out["sentiment: veille, token cache cleared"] = cold
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        vader = SentimentIntensityAnalyzer()
        out["sentiment: VADER (English rules)"] = lambda t, _: vader.polarity_scores(t)
    except ImportError:
        pass
    out["language + sentiment (veille, per post)"] = lambda t, h: model.analyze(
        t, detector.detect(t, h)
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--posts", type=int, default=None)
    args = parser.parse_args()
    count = args.posts or (2_000 if args.quick else 20_000)
    posts, origin = load_posts(count)
    mean_chars = sum(len(t) for t, _ in posts) / len(posts)
    print(f"{len(posts)} posts ({origin}), mean {mean_chars:.0f} characters, one core")
    print(f"{'peer':<42} {'posts/s':>10} {'µs/post':>9}")
    results: dict[str, float] = {}
    for name, fn in peers().items():
        rate = measure(fn, posts)
        results[name] = round(rate, 1)
        print(f"{name:<42} {rate:>10,.0f} {1e6 / rate:>9.1f}")
    both = results["language + sentiment (veille, per post)"]
    verdict = "meets" if both >= 2000 else "MISSES"
    print(f"language + sentiment: {both:,.0f} posts/s — {verdict} the 2,000 posts/s target")
    print(json.dumps({"bench": "enrich", "posts": len(posts), "posts_per_s": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
