"""Benchmark: the veille matcher against its peers on the same generated posts and catalogues.

Peers, all in this process on the same posts:

* ``veille`` — the compiled matcher (daachorse prefilter), folded text in, match sets out;
* ``veille-hs`` — the same matcher with the Vectorscan (``hyperscan`` wheel) prefilter;
* ``flashtext`` — a popular keyword extractor: finds the rules' words and phrases, a rule
  "matches" when one of its terms is found (no booleans, NEAR or wildcards);
* ``regex-loop`` — how simple monitors work: one Python ``re`` per rule (its terms as
  ``\\b(?:a|b)\\b``), tried on every post.

For each: build time, peak memory of the build, posts/s on one core, ratio to veille, and
agreement (share of posts whose set of matching rules equals veille's; veille itself is
checked against the naive reference matcher of the test suite on a sample).

veille's catalogue goes the way a deployment's does: written to a TOML rule file, loaded
(``parse``: TOML, validation, query parsing) then built; both times and the peak memory of the
whole path are reported. The peers get the same parsed rules.

Usage: ``python bench/match.py [--quick] [--sizes 1000,10000,100000]``; the last line of
output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "match")]

import match_corpus as corpus  # noqa: E402
from veille.match import Matcher  # noqa: E402
from veille.model import Post  # noqa: E402
from veille.normalise.fold import fold  # noqa: E402
from veille.rules import Rule, load_rules  # noqa: E402
from veille.rules.query import Words, atoms  # noqa: E402


def rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_build(build: Callable[[], Any]) -> tuple[Any, float, float]:
    """(object, seconds, peak MiB above the RSS before the build)."""
    gc.collect()
    with contextlib.suppress(OSError):  # reset the peak-RSS mark: VmHWM is then this build's
        Path("/proc/self/clear_refs").write_text("5")
    before = rss_mib("VmRSS")
    start = time.process_time()
    obj = build()
    seconds = time.process_time() - start
    return obj, seconds, max(0.0, rss_mib("VmHWM") - before)


def throughput(run: Callable[[Any], Any], items: list[Any], min_seconds: float) -> float:
    """Items per CPU second of this process over at least ``min_seconds`` (whole passes).

    CPU time rather than wall time: the benchmark machine may be shared, and one core's work
    is what the targets are about."""
    done, start = 0, time.process_time()
    while True:
        for item in items:
            run(item)
        done += len(items)
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return done / elapsed


def load_and_build(queries: list[str], folder: Path) -> tuple[list[Rule], Matcher, dict[str, Any]]:
    """The whole path a deployment takes: a TOML rule file on disk to a ready matcher.

    ``parse_s`` is reading, TOML parsing, validating and parsing every query; ``build_s`` is
    the matcher build; ``peak_mib`` is the peak RSS growth over both."""
    path = folder / "rules.toml"
    path.write_text(
        "".join(
            f'[[rule]]\nid = "r{i}"\nquery = {json.dumps(q, ensure_ascii=False)}\n'
            'severity = "medium"\n\n'
            for i, q in enumerate(queries)
        ),
        encoding="utf-8",
    )
    gc.collect()
    with contextlib.suppress(OSError):  # reset the peak-RSS mark: VmHWM is then this path's
        Path("/proc/self/clear_refs").write_text("5")
    before = rss_mib("VmRSS")
    start = time.process_time()
    rules = load_rules([path])
    parsed = time.process_time()
    matcher = Matcher(rules)
    built = time.process_time()
    figures = {
        "parse_s": round(parsed - start, 3),
        "build_s": round(built - parsed, 3),
        "total_s": round(built - start, 3),
        "peak_mib": round(max(0.0, rss_mib("VmHWM") - before), 1),
    }
    return rules, matcher, figures


def rule_terms(rule: Rule) -> list[str]:
    """The words and phrases of a rule's query (what keyword tools can look for)."""
    return [" ".join(a.words) for a in atoms(rule.query.root) if isinstance(a, Words) and a.words]


def run_size(n_rules: int, n_posts: int, min_seconds: float, peers: set[str]) -> dict[str, Any]:
    queries = corpus.rule_queries(n_rules)
    posts = [
        Post(platform="bench", native_id=p.id, text=p.text, lang=p.lang)
        for p in corpus.posts(n_posts, corpus.catalogue_terms(queries))
    ]
    folded = [(p, fold(p.text)) for p in posts]
    with tempfile.TemporaryDirectory() as folder:
        rules, matcher, path = load_and_build(queries, Path(folder))
    out: dict[str, Any] = {"rules": n_rules, "posts": n_posts, "parse_s": path["parse_s"]}
    truth = [frozenset(m.rule for m in matcher.match(p, f)) for p, f in folded]
    hits = sum(1 for t in truth if t)
    rate = throughput(lambda pf: matcher.match(pf[0], pf[1]), folded, min_seconds)
    out["veille"] = {
        "build_s": path["build_s"],
        "peak_mib": path["peak_mib"],
        "posts_s": round(rate),
        "file_to_matcher_s": path["total_s"],
    }
    out["posts_with_match"] = round(hits / len(posts), 4)
    out["literals"] = matcher.literal_count
    out["unanchored_rules"] = len(matcher.unanchored)

    # veille against the naive reference (slow: a sample of posts)
    from reference import reference_match

    sample = posts[: max(5, 20_000 // n_rules)]
    with_hits = [p for p, t in zip(posts, truth, strict=True) if t][:10]
    agree = all(
        [m.rule for m in matcher.match(p)] == [m.rule for m in reference_match(p, rules)]
        for p in sample + with_hits
    )
    out["veille"]["agrees_with_reference"] = agree
    out["veille"]["reference_sample"] = len(sample) + len(with_hits)

    if "veille-hs" in peers:
        try:
            hs, build_s, mem = measure_build(lambda: Matcher(rules, engine="hyperscan"))
        except ImportError:
            out["veille-hs"] = {"error": "hyperscan wheel not installed"}
        else:
            rate_hs = throughput(lambda pf: hs.match(pf[0], pf[1]), folded, min_seconds)
            same = sum(
                frozenset(m.rule for m in hs.match(p, f)) == t
                for (p, f), t in zip(folded, truth, strict=True)
            )
            out["veille-hs"] = {
                "build_s": round(build_s, 3),
                "peak_mib": round(mem, 1),
                "posts_s": round(rate_hs),
                "agreement": round(same / len(posts), 4),
            }

    if "flashtext" in peers:
        try:
            from flashtext import KeywordProcessor
        except ImportError:
            out["flashtext"] = {"error": "flashtext not installed"}
        else:

            def build_flashtext() -> Any:
                kp = KeywordProcessor()
                for rule in rules:
                    for term in rule_terms(rule):
                        kp.add_keyword(term, rule.id)
                return kp

            kp, build_s, mem = measure_build(build_flashtext)
            lowered = [p.text.lower() for p in posts]
            rate_ft = throughput(kp.extract_keywords, lowered, min_seconds)
            same = sum(
                frozenset(kp.extract_keywords(t)) == truth_set
                for t, truth_set in zip(lowered, truth, strict=True)
            )
            out["flashtext"] = {
                "build_s": round(build_s, 3),
                "peak_mib": round(mem, 1),
                "posts_s": round(rate_ft),
                "agreement": round(same / len(posts), 4),
            }

    if "regex-loop" in peers:

        def build_loop() -> list[tuple[str, re.Pattern[str]]]:
            compiled = []
            for rule in rules:
                terms = [re.escape(t).replace(r"\ ", r"\s+") for t in rule_terms(rule)]
                if terms:
                    pattern = r"\b(?:" + "|".join(terms) + r")\b"
                    compiled.append((rule.id, re.compile(pattern, re.IGNORECASE)))
            return compiled

        loop, build_s, mem = measure_build(build_loop)

        def run_loop(text: str) -> frozenset[str]:
            return frozenset(rule_id for rule_id, rx in loop if rx.search(text))

        few = [p.text for p in posts[: max(20, 2_000_000 // (n_rules * 10))]]
        rate_rx = throughput(run_loop, few, min_seconds / 2)
        same = sum(run_loop(text) == t for text, t in zip(few, truth, strict=False))
        out["regex-loop"] = {
            "build_s": round(build_s, 3),
            "peak_mib": round(mem, 1),
            "posts_s": round(rate_rx, 1),
            "agreement": round(same / len(few), 4),
            "posts_timed": len(few),
        }
    return out


def fold_speed(n_posts: int, min_seconds: float) -> dict[str, float]:
    """Posts/s of the two fold implementations (same posts, same output)."""
    from veille.normalise.fold import COMPILED, fold_compiled, fold_python

    texts = [p.text for p in corpus.posts(n_posts, [])]
    out = {"python_posts_s": round(throughput(fold_python, texts, min_seconds))}
    if COMPILED:
        out["compiled_posts_s"] = round(throughput(fold_compiled, texts, min_seconds))
        assert all(fold_compiled(t) == fold_python(t) for t in texts)
    return out


def print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'rules':>7} {'peer':<11} {'build s':>8} {'peak MiB':>9} {'posts/s':>11} "
        f"{'x veille':>9} {'agrees':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        base = r["veille"]["posts_s"]
        for peer in ("veille", "veille-hs", "flashtext", "regex-loop"):
            f = r.get(peer)
            if not f:
                continue
            if "error" in f:
                print(f"{r['rules']:>7} {peer:<11} {f['error']}")
                continue
            agrees = "ref ok" if f.get("agrees_with_reference") else f"{f.get('agreement', 0):.1%}"
            if peer == "veille" and not f.get("agrees_with_reference"):
                agrees = "REF FAIL"
            print(
                f"{r['rules']:>7} {peer:<11} {f['build_s']:>8.3f} {f['peak_mib']:>9.1f} "
                f"{f['posts_s']:>11,.0f} {f['posts_s'] / base:>9.3f} {agrees:>8}"
            )
        v = r["veille"]
        print(
            f"{'':>7} rule file to matcher: parse {r['parse_s']:.2f} s + build "
            f"{v['build_s']:.2f} s = {v['file_to_matcher_s']:.2f} s, peak {v['peak_mib']:.0f} MiB; "
            f"{r['literals']} literals; {r['posts_with_match']:.1%} of posts match; "
            f"{r['unanchored_rules']} unanchored rules"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--sizes", default="", help="catalogue sizes, e.g. 1000,10000,100000")
    parser.add_argument("--peers", default="veille-hs,flashtext,regex-loop")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s] or (
        [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    )
    n_posts = 3_000 if args.quick else 50_000
    min_seconds = 0.5 if args.quick else 5.0
    peers = set(args.peers.split(","))
    results = []
    for size in sizes:
        results.append(run_size(size, n_posts, min_seconds, peers))
    print(
        f"# CPU time of one process; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
    folding = fold_speed(n_posts, min_seconds)
    print_table(results)
    print(
        f"fold: pure Python {folding['python_posts_s']:,} posts/s, "
        f"compiled {folding.get('compiled_posts_s', 0):,} posts/s"
    )
    print(
        json.dumps({"benchmark": "match", "quick": args.quick, "fold": folding, "results": results})
    )


if __name__ == "__main__":
    main()
