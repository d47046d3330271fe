"""Train the shipped sentiment model: seeded, reproducible, hyper-parameters chosen on train only.

    python train/sentiment.py [--data ../shared/data] [--out src/veille/data/models/sentiment.npz]

Data: the UMSAB/XLM-T train splits for French, German and English (1,838 tweets each), plus the
TweetEval sentiment tweets that are in neither XLM-T split (English). The XLM-T *val* split is
never read for fitting or model choice: C and the weight of the lexicon features are chosen by
stratified 3-fold cross-validation on train; val is scored once, at the end, for the record.

Features (``veille.enrich.sentiment_features``, the same code that runs in production):
sublinear tf-idf over word uni/bigrams with negation marking and over character 2–5-grams, each
block L2-normalised, plus dense lexicon/surface features. Model: multinomial logistic
regression (scikit-learn at train time; numpy only at run time).

Requires the ``train`` extra: ``pip install -e '.[train]'``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import multiprocessing
import random
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lexicons

from veille.enrich.sentiment_features import (
    DENSE_FEATURES,
    Analysed,
    char_features,
    dense_features,
    word_features,
)

SEED = 20240601
LANGS = {"fr": "french", "de": "german", "en": "english"}
LABELS = ("negative", "neutral", "positive")
GRID_C = (0.5, 2.0, 8.0)
GRID_DENSE = (2.0,)
MIN_DF = 2
FOLDS = 3

Sample = tuple[str, str]  # (text, lang)
Raw = tuple[list[str], list[str], list[float]]  # word features, char features, dense features


def read_xlmt(data: Path, lang: str, split: str) -> tuple[list[str], list[int]]:
    """One XLM-T split: texts and labels (0 negative, 1 neutral, 2 positive)."""
    base = data / "sentiment/xlmt" / LANGS[lang]
    texts = (base / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in (base / f"{split}_labels.txt").read_text().split()]
    if len(texts) != len(labels):
        raise ValueError(f"{base}/{split}: {len(texts)} texts but {len(labels)} labels")
    return texts, labels


def read_tweeteval_extra(data: Path, exclude: set[str]) -> tuple[list[str], list[int]]:
    """TweetEval sentiment val tweets that are not in XLM-T (its EN part overlaps TweetEval)."""
    base = data / "sentiment/tweeteval"
    texts = (base / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in (base / "val_labels.txt").read_text().split()]
    keep = [(t, y) for t, y in zip(texts, labels, strict=True) if t.strip() not in exclude]
    return [t for t, _ in keep], [y for _, y in keep]


class Featuriser:
    """Fits the vocabulary and idf on training samples; turns samples into a sparse matrix."""

    def __init__(self, lex: dict[str, dict[str, float]]) -> None:
        self.lex = lex
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0)

    def raw(self, samples: Sequence[Sample]) -> list[Raw]:
        """Features before vocabulary and weighting: computed once, reused across folds."""
        out = []
        for text, lang in samples:
            an = Analysed(text)
            out.append(
                (word_features(an), char_features(an.tokens), dense_features(an, self.lex[lang]))
            )
        return out

    def fit(self, raws: Sequence[Raw]) -> Featuriser:
        df: Counter[str] = Counter()
        for words, chars, _ in raws:
            df.update(set(words))
            df.update(set(chars))
        kept = sorted(k for k, v in df.items() if v >= MIN_DF)
        self.vocab = {k: i for i, k in enumerate(kept)}
        n = len(raws)
        self.idf = np.array([math.log((1 + n) / (1 + df[k])) + 1 for k in kept])
        return self

    def transform(self, raws: Sequence[Raw], dense_scale: float) -> sparse.csr_matrix:
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        width = len(self.vocab)
        for r, (words, chars, dense) in enumerate(raws):
            for block in (words, chars):
                counts = Counter(self.vocab[f] for f in block if f in self.vocab)
                weights = {i: (1 + math.log(c)) * self.idf[i] for i, c in counts.items()}
                norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
                for i, w in weights.items():
                    rows.append(r)
                    cols.append(i)
                    vals.append(w / norm)
            for j, v in enumerate(dense):
                rows.append(r)
                cols.append(width + j)
                vals.append(v * dense_scale)
        shape = (len(raws), width + len(DENSE_FEATURES))
        return sparse.csr_matrix((vals, (rows, cols)), shape=shape)


def fit_model(
    lex: dict[str, dict[str, float]],
    raws: Sequence[Raw],
    labels: Sequence[int],
    c: float,
    dense_scale: float,
) -> tuple[Featuriser, LogisticRegression]:
    """Featurise and fit; deterministic for given inputs (lbfgs has no random state)."""
    feat = Featuriser(lex).fit(raws)
    model = LogisticRegression(C=c, max_iter=5000)
    # One BLAS thread: on a busy 2-core machine, threads made lbfgs eight times slower.
    with threadpool_limits(1):
        model.fit(feat.transform(raws, dense_scale), list(labels))
    return feat, model


def macro_f1_by_lang(
    feat: Featuriser,
    model: LogisticRegression,
    samples: Sequence[Sample],
    raws: Sequence[Raw],
    labels: Sequence[int],
    dense_scale: float,
) -> dict[str, float]:
    """Macro-F1 per language of ``samples``."""
    pred = model.predict(feat.transform(raws, dense_scale))
    out = {}
    for lang in LANGS:
        idx = [i for i, (_, lg) in enumerate(samples) if lg == lang]
        if idx:
            gold = [labels[i] for i in idx]
            out[lang] = float(f1_score(gold, [pred[i] for i in idx], average="macro"))
    return out


_CV: dict[str, Any] = {}
"""What the forked CV workers read (set before the pool forks, so nothing is pickled)."""


def _cv_task(task: tuple[float, float, int]) -> float:
    c, ds, k = task
    lex, samples, raws, labels, folds = (
        _CV[k] for k in ("lex", "samples", "raws", "labels", "folds")
    )
    tr, te = folds[k]
    feat, model = fit_model(lex, [raws[i] for i in tr], [labels[i] for i in tr], c, ds)
    per = macro_f1_by_lang(
        feat,
        model,
        [samples[i] for i in te],
        [raws[i] for i in te],
        [labels[i] for i in te],
        ds,
    )
    return sum(per.values()) / len(per)


def cross_validate(
    lex: dict[str, dict[str, float]],
    samples: list[Sample],
    raws: list[Raw],
    labels: list[int],
    jobs: int,
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Stratified k-fold CV (strata: language x label) over the grid; best by mean macro-F1."""
    strata = [f"{lg}{y}" for (_, lg), y in zip(samples, labels, strict=True)]
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(samples, strata))
    _CV.update(lex=lex, samples=samples, raws=raws, labels=labels, folds=folds)
    grid = list(itertools.product(GRID_C, GRID_DENSE))
    tasks = [(c, ds, k) for c, ds in grid for k in range(FOLDS)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        fold_scores = pool.map(_cv_task, tasks, chunksize=1)
    results = []
    for g, (c, ds) in enumerate(grid):
        mean = float(np.mean(fold_scores[g * FOLDS : (g + 1) * FOLDS]))
        results.append({"C": c, "dense_scale": ds, "cv_macro_f1": mean})
        print(f"  C={c:<4} dense_scale={ds:<4} cv mean macro-F1 {mean:.4f}")
    best = max(results, key=lambda r: r["cv_macro_f1"])
    return best, results


def export(
    path: Path,
    feat: Featuriser,
    model: LogisticRegression,
    dense_scale: float,
    lex: dict[str, dict[str, float]],
    meta: dict[str, object],
) -> None:
    """Write the numpy-only model file that ``veille.enrich.sentiment`` loads."""
    # Class order in the file is always negative, neutral, positive.
    order = [list(model.classes_).index(k) for k in range(3)]
    coef = model.coef_[order].T.astype(np.float32)  # (features, 3)
    width = len(feat.vocab)
    np.savez_compressed(
        path,
        vocab=np.frombuffer("\n".join(feat.vocab).encode("utf-8"), dtype=np.uint8),
        idf=feat.idf.astype(np.float32),
        sparse_weights=coef[:width],
        dense_weights=coef[width:] * np.float32(dense_scale),
        bias=model.intercept_[order].astype(np.float32),
        lexicons=np.frombuffer(json.dumps(lex, ensure_ascii=False).encode("utf-8"), np.uint8),
        meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8),
    )


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=root.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=root / "src/veille/data/models/sentiment.npz")
    parser.add_argument("--no-cv", action="store_true", help="skip CV, use --c/--dense-scale")
    parser.add_argument("--c", type=float, default=2.0)
    parser.add_argument("--dense-scale", type=float, default=2.0)
    parser.add_argument("--jobs", type=int, default=2, help="processes for cross-validation")
    args = parser.parse_args(argv)
    random.seed(SEED)
    np.random.seed(SEED)

    lex = lexicons.build(args.data)
    samples: list[Sample] = []
    labels: list[int] = []
    val: dict[str, tuple[list[str], list[int]]] = {}
    for lang in LANGS:
        texts, ys = read_xlmt(args.data, lang, "train")
        samples += [(t, lang) for t in texts]
        labels += ys
        val[lang] = read_xlmt(args.data, lang, "val")
    seen = {t.strip() for t, _ in samples} | {t.strip() for t in val["en"][0]}
    extra_t, extra_y = read_tweeteval_extra(args.data, seen)
    samples += [(t, "en") for t in extra_t]
    labels += extra_y
    print(f"training samples: {len(samples)} ({len(extra_t)} from TweetEval)")
    raws = Featuriser(lex).raw(samples)

    if args.no_cv:
        best = {"C": args.c, "dense_scale": args.dense_scale, "cv_macro_f1": None}
        grid: list[dict[str, float]] = []
    else:
        print("cross-validation on train:")
        best, grid = cross_validate(lex, samples, raws, labels, args.jobs)
    c, ds = float(best["C"]), float(best["dense_scale"])  # type: ignore[arg-type]
    print(f"chosen: C={c} dense_scale={ds}")
    feat, model = fit_model(lex, raws, labels, c, ds)

    val_samples = [(t, lang) for lang in LANGS for t in val[lang][0]]
    val_labels = [y for lang in LANGS for y in val[lang][1]]
    val_raws = feat.raw(val_samples)
    scores = macro_f1_by_lang(feat, model, val_samples, val_raws, val_labels, ds)
    mean = sum(scores.values()) / len(scores)
    print("val macro-F1:", {k: round(v, 4) for k, v in scores.items()}, f"mean {mean:.4f}")

    digest = hashlib.sha256()
    for text, lang in samples:
        digest.update(f"{lang}\t{text}\n".encode())
    meta = {
        "trained_on": "XLM-T/UMSAB sentiment train fr/de/en (DEFT 2017, SB-10K, SemEval-2017)"
        " + TweetEval sentiment val minus XLM-T texts",
        "lexicons": "Pattern en/fr/nl (PDDL), VADER en (MIT), VADER-FR (MIT), "
        "textblob-de/German Polarity Lexicon (MIT), veille-sentiment.tsv (ours)",
        "samples": len(samples),
        "train_sha256": digest.hexdigest(),
        "seed": SEED,
        "C": c,
        "dense_scale": ds,
        "cv_macro_f1": best["cv_macro_f1"],
        "cv_grid": grid,
        "val_macro_f1": scores,
        "vocabulary": len(feat.vocab),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(args.out, feat, model, ds, lex, meta)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
