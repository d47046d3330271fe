"""Detectors' cost on one core: prefiltered against full path, and against naive peers.

Posts: the generated FR/NL/DE/EN stream of ``bench/match_corpus.py`` (the posts of
``bench/pipeline.py``) with 3 % urgent-looking posts mixed in (the developers' written threat
cases and personal-data / confidential templates), and the real posts recorded in
``../shared/data/fixtures`` when present.

1. Before / after: CPU microseconds per post of each detector and of the whole ``Detect`` step,
   on its full path (``prefilter=False``: every recogniser on every post) and prefiltered (the
   default, same findings: tests/enrich/test_detect.py checks it).
2. Peers are what one writes first: a Python ``re`` loop over every lexicon entry,
   phonenumbers' own ``PhoneNumberMatcher`` on the whole text, one regex per confidentiality
   marker, and hashing every window of the post for protected names.

    python bench/enrich_detect.py [--quick] [--posts N]

Prints two tables, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parent))

import match_corpus
from veille.enrich.base import Detector, Document
from veille.enrich.confidential import (
    DEFAULT_MARKERS,
    DEFAULT_PHRASES,
    ConfidentialDetector,
)
from veille.enrich.detect import Detect, Urgent
from veille.enrich.lexicon import fold_token, tokenize
from veille.enrich.personal_data import (
    _ADDRESS,
    _CARD,
    _EMAIL,
    _GPS_DECIMAL,
    _IBAN,
    _NATIONAL_ID,
    _PLATE_NEW,
    PersonalDataDetector,
)
from veille.enrich.protected import ProtectedDetector, ProtectedList
from veille.enrich.threat import LANGUAGES, ThreatDetector, guess_text_language
from veille.enrich.threat_data import load_cases
from veille.model import Author, Enrichment, Post
from veille.normalise.fold import Folded, fold
from veille.pipeline import freeze_heap
from veille.testing import recorded_texts

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fixtures"

URGENT_TEMPLATES = (
    "Appelle-le au 0470 {a:02d} {b:02d} {c:02d}, il habite rue de la Loi {a}",
    "Rijksregisternummer 85.07.30-033.28 en IBAN BE32 1234 5678 9002",
    "VERTROUWELIJK - PV BR.20.LL.0{a}{b}{c}/2024 - niet verspreiden",
    "mail jan.peeters{a}@example.be, plaque 1-ABC-{a:03d}, 50.84{a:02d}, 4.35{b:02d}",
)


def make_posts(count: int, seed: int = 11) -> list[Post]:
    rng = random.Random(seed)
    cases = load_cases("train")
    terms = match_corpus.catalogue_terms(match_corpus.rule_queries(500))
    out = []
    for n, item in enumerate(match_corpus.posts(count, terms)):
        text, lang = item.text, item.lang
        if rng.random() < 0.03:
            if rng.random() < 0.5:
                case = rng.choice(cases)
                text, lang = case.text, case.lang
            else:
                a, b, c = rng.randrange(100), rng.randrange(100), rng.randrange(100)
                text = rng.choice(URGENT_TEMPLATES).format(a=a, b=b, c=c)
        out.append(bench_post(n, text, lang, rng.choice([None, 12, 300, 4_000, 120_000])))
    return out


def bench_post(n: int, text: str, lang: str, followers: int | None = None) -> Post:
    return Post(
        platform="bench", native_id=str(n), text=text, lang=lang, author=Author(followers=followers)
    )


def recorded_posts(count: int) -> list[Post]:
    """The recorded real posts (Bluesky, Mastodon, X, Reddit, RSS fixtures), repeated up to
    ``count`` so that timings are not a few milliseconds long, their language guessed among
    FR/NL/DE/EN as a language stage would have set it; none without the shared data."""
    if not FIXTURES.is_dir():
        return []
    texts = recorded_texts(FIXTURES)
    if not texts:
        return []
    langs = [guess_text_language(t) for t in texts]
    return [bench_post(n, texts[n % len(texts)], langs[n % len(texts)]) for n in range(count)]


def protected_list(size: int, seed: int = 5) -> ProtectedList:
    rng = random.Random(seed)
    first = ["jan", "piet", "anne", "marie", "luc", "sophie", "karl", "heinz", "john", "mary"]
    last = [
        "peeters",
        "janssens",
        "dupont",
        "lambert",
        "muller",
        "schmidt",
        "smith",
        "jones",
        "maes",
        "claes",
    ]
    names = ProtectedList.new(pepper="bench")
    for i in range(size):
        names.add(f"{rng.choice(first)} {rng.choice(last)}{i}", f"person {i}")
    return names


# --- naive peers ------------------------------------------------------------------------


def naive_threat() -> Callable[[Post], object]:
    """One compiled regex per lexicon entry of the post's language, searched one by one."""
    import tomllib
    from importlib import resources

    compiled: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for lang in LANGUAGES:
        raw = resources.files("veille.data.lexicons.threat").joinpath(f"{lang}.toml")
        data = tomllib.loads(raw.read_text("utf-8"))
        entries = []
        for category, words in data.items():
            for word in words:
                body = r"\W+".join(
                    r"(?:\w+\W+){0,4}"
                    if p == "~"
                    else re.escape(p.rstrip("*")) + (r"\w*" if p.endswith("*") else "")
                    for p in word.split()
                )
                entries.append((category, re.compile(rf"\b{body}\b")))
        compiled[lang] = entries

    def detect(post: Post) -> object:
        text = " ".join(fold_token(t.form) for t in tokenize(post.text))
        return [c for c, pattern in compiled[post.lang or "en"] if pattern.search(text)]

    return detect


def naive_personal_data() -> Callable[[Post], object]:
    """phonenumbers' own matcher over the whole text, and every pattern on every post."""
    patterns = [_NATIONAL_ID, _CARD, _IBAN, _EMAIL, _PLATE_NEW, _GPS_DECIMAL, _ADDRESS]

    def detect(post: Post) -> object:
        found: list[object] = [m.start for m in phonenumbers.PhoneNumberMatcher(post.text, "BE")]
        for pattern in patterns:
            found.extend(m.span() for m in pattern.finditer(post.text))
        return found

    return detect


def naive_confidential() -> Callable[[Post], object]:
    """One regex per marker and phrase."""
    patterns = [re.compile(rf"\b{re.escape(m)}\b") for m in DEFAULT_MARKERS] + [
        re.compile(rf"\b{re.escape(p)}\b", re.IGNORECASE) for p in DEFAULT_PHRASES
    ]

    def detect(post: Post) -> object:
        return [m.span() for p in patterns for m in p.finditer(post.text)]

    return detect


def naive_protected(names: ProtectedList, folds: dict[str, Folded]) -> Callable[[Post], object]:
    """Hash every window of every listed length (no first-word prefilter)."""
    key = hashlib.sha256(names.salt + names.pepper).digest()
    lengths = sorted({e.words for e in names.entries.values()})

    def detect(post: Post) -> object:
        tokens = folds[post.native_id].tokens
        found = []
        for length in lengths:
            for i in range(len(tokens) - length + 1):
                window = " ".join(tokens[i : i + length]).encode()
                digest = hashlib.blake2b(window, key=key, digest_size=16).digest()
                if digest in names.entries:
                    found.append(i)
        return found

    return detect


# --- timing -----------------------------------------------------------------------------


def rate(fn: Callable[[Post], object], posts: Sequence[Post], repeat: int = 3) -> float:
    """Posts per CPU-second of this process: each slice of 500 posts is run ``repeat`` times
    and its best time kept (after a warm-up post), the slices' best times summed.

    CPU time rather than wall time: on a shared machine other jobs stretch wall time, and
    one core's CPU time is what one worker process can deliver. Best per slice, because a
    burst of other work on the machine slows one slice, not all of them.
    """
    fn(posts[0])
    total = 0.0
    for at in range(0, len(posts), 500):
        chunk = posts[at : at + 500]
        best = float("inf")
        for _ in range(repeat):
            start = time.process_time()
            for post in chunk:
                fn(post)
            best = min(best, time.process_time() - start)
        total += best
    return len(posts) / total


DETECTORS = ("threat", "personal_data", "confidential", "protected")
SHOWN = {"detect": "Detect (all four)", "detect_default": "Detect (no protected list)"}


def before_after(posts: Sequence[Post], names: ProtectedList) -> dict[str, tuple[float, float]]:
    """CPU µs per post of each detector and of the whole step (``detect``), full path and
    prefiltered, on the same posts with the pipeline's fold given."""
    folds = {post.native_id: fold(post.text) for post in posts}
    out: dict[str, tuple[float, float]] = {}
    steps = [Detect(protected=names, prefilter=False), Detect(protected=names)]
    unprotected = [Detect(prefilter=False), Detect()]

    def doc(post: Post) -> Document:
        return Document.of(post.text, post.lang, folded=folds[post.native_id])

    def alone(detector: Detector) -> float:
        return 1e6 / rate(lambda p: detector.detect(doc(p)), posts)

    def whole(step: Detect) -> float:
        return 1e6 / rate(lambda p: step(p, folds[p.native_id], [], Enrichment(lang=p.lang)), posts)

    for name, full, fast in zip(DETECTORS, *(step.detectors for step in steps), strict=True):
        out[name] = (alone(full), alone(fast))
    out["detect"] = (whole(steps[0]), whole(steps[1]))
    out["detect_default"] = (whole(unprotected[0]), whole(unprotected[1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 posts, under a minute")
    parser.add_argument("--posts", type=int, default=None)
    args = parser.parse_args()
    count = args.posts or (2_000 if args.quick else 20_000)
    posts = make_posts(count)
    recorded = recorded_posts(count)
    names = protected_list(1_000)
    # As the pipeline does once started: the posts held here are not walked by every
    # collection (it would charge the heap's size to whichever step allocates most).
    freeze_heap()
    result: dict[str, object] = {"posts": count, "recorded_posts": len(recorded)}

    print(
        "Before / after: CPU µs per post on one core (best of 3 per 500 posts, folded text "
        "given), full path (every recogniser on every post) → prefiltered (same findings)"
    )
    print(f"{'posts':40} {'detector':26} {'full µs':>9} {'prefiltered µs':>15} {'speed-up':>9}")
    sets = [(f"generated ({count:,}, 3 % urgent-looking)", "generated", posts)]
    if recorded:
        distinct = len({post.text for post in recorded})
        sets.append((f"recorded real posts ({distinct:,} distinct)", "recorded", recorded))
    for label, key, chosen in sets:
        costs = before_after(chosen, names)
        for name, (full, fast) in costs.items():
            shown_name = SHOWN.get(name, name.replace("_", " "))
            print(f"{label:40} {shown_name:26} {full:9.1f} {fast:15.1f} {full / fast:8.1f}x")
            result[f"{key}_{name}_full_us"] = round(full, 1)
            result[f"{key}_{name}_us"] = round(fast, 1)
            label = ""

    threat = ThreatDetector()
    personal = PersonalDataDetector()
    confidential = ConfidentialDetector()
    protected = ProtectedDetector(names)
    detect = Detect(protected=names)
    urgent = Urgent()
    folds = {post.native_id: fold(post.text) for post in posts}

    def doc(post: Post) -> Document:
        return Document.of(post.text, post.lang, folded=folds[post.native_id])

    def combined(post: Post) -> object:
        folded = folds[post.native_id]
        enrichment = detect(post, folded, [], Enrichment(lang=post.lang))
        return urgent(post, folded, [], enrichment)

    rows = [
        ("threat", rate(lambda p: threat.detect(doc(p)), posts), rate(naive_threat(), posts)),
        (
            "personal data",
            rate(lambda p: personal.detect(doc(p)), posts),
            rate(naive_personal_data(), posts),
        ),
        (
            "confidential",
            rate(lambda p: confidential.detect(doc(p)), posts),
            rate(naive_confidential(), posts),
        ),
        (
            "protected (1,000 names)",
            rate(lambda p: protected.detect(doc(p)), posts),
            rate(naive_protected(names, folds), posts),
        ),
        ("all detectors + urgency", rate(combined, posts), None),
    ]
    print()
    print("Against naive peers: generated posts, posts per CPU-second on one core")
    print(f"{'detector':32} {'veille posts/s':>15} {'naive posts/s':>15} {'speed-up':>9}")
    for name, ours, naive in rows:
        peer = f"{naive:15,.0f}" if naive else f"{'-':>15}"
        ratio = f"{ours / naive:8.1f}x" if naive else f"{'-':>9}"
        print(f"{name:32} {ours:15,.0f} {peer} {ratio}")
    keys = ["threat", "personal_data", "confidential", "protected", "combined"]
    for key, (_, ours, naive) in zip(keys, rows, strict=True):
        result[key] = round(ours)
        if naive:
            result[f"{key}_naive"] = round(naive)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
