"""``veille eval``: measure detectors on labelled data (one subcommand per detector)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from veille.enrich.base import Document
from veille.enrich.threat import ThreatDetector
from veille.enrich.threat_data import Example, Scores, load_cases, load_germeval, score

DATA_HELP = (
    "Folder of the shared data (default: $VEILLE_SHARED_DATA, else ../shared/data when present). "
    "Without it only the written cases are measured."
)


@click.group("eval")
def eval_group() -> None:
    """Measure detectors on labelled development data (docs/detection.md explains the data)."""


def shared_data(option: str | None) -> Path | None:
    """The shared data folder from the option, the environment or beside the working copy."""
    if option:
        if not Path(option).is_dir():
            raise click.BadParameter(f"{option} is not a folder", param_hint="--data")
        return Path(option)
    for candidate in (os.environ.get("VEILLE_SHARED_DATA"), "../shared/data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def ordinary_posts(root: Path) -> Iterator[tuple[str, str, list[str]]]:
    """``(name, lang, texts)`` of unlabelled-for-threat everyday posts, to count false alarms.

    XLM-T sentiment tweets (FR/DE/EN, *val* split: the train split was used to study false
    alarms while building the detector), GermEval 2018 posts labelled OTHER (not offensive),
    TweetEval posts labelled not offensive. None of them trained the threat model. A few real
    threats may hide in them, so the rate is an upper bound.
    """
    xlmt = root / "sentiment" / "xlmt"
    for lang, folder in (("fr", "french"), ("de", "german"), ("en", "english")):
        path = xlmt / folder / "val_text.txt"
        if path.is_file():
            yield f"XLM-T sentiment tweets, val ({lang})", lang, _read_lines(path)
    germeval = root / "harm" / "germeval2018" / "germeval2018.training.txt"
    if germeval.is_file():
        rows = [line.split("\t") for line in _read_lines(germeval)]
        yield "GermEval 2018, not offensive", "de", [r[0] for r in rows if r[1:2] == ["OTHER"]]
    offensive = root / "harm" / "tweeteval" / "offensive"
    if (offensive / "val_text.txt").is_file():
        texts = _read_lines(offensive / "val_text.txt")
        labels = _read_lines(offensive / "val_labels.txt")
        yield (
            "TweetEval, not offensive (val)",
            "en",
            [t for t, label in zip(texts, labels, strict=True) if label.strip() == "0"],
        )


def _row(name: str, lang: str, s: Scores) -> dict[str, Any]:
    return {
        "set": name,
        "lang": lang,
        "n": s.n,
        "threats": s.tp + s.fn,
        "precision": round(s.precision, 3),
        "recall": round(s.recall, 3),
        "f1": round(s.f1, 3),
        "false_alarm_rate": round(s.false_alarm_rate, 4),
        "confusion": {f"{g} -> {p}": n for (g, p), n in sorted(s.confusion.items())},
    }


@eval_group.command("threat")
@click.option("--data", "data", default=None, help=DATA_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of tables.")
@click.option(
    "--threshold", type=float, default=None, help="Decision threshold (default: the model's)."
)
@click.option(
    "--no-structure",
    is_flag=True,
    help="Measure without requiring who-threatens-whom structure ([detect.threat] setting).",
)
def eval_threat(
    data: str | None, as_json: bool, threshold: float | None, no_structure: bool
) -> None:
    """Precision, recall and F1 of the threat detector per language on development data never
    trained on: the GermEval 2026 ``vio`` dev split (German, real posts), the held-out written
    cases (FR/NL/DE/EN), and the false-alarm rate on everyday posts."""
    detector = ThreatDetector(threshold=threshold, require_structure=not no_structure)

    def predict(example: Example) -> str:
        return detector.detect(Document.of(example.text, example.lang))[0].label

    rows: list[dict[str, Any]] = []
    root = shared_data(data)
    if root is not None and (root / "harm" / "germeval-harmful" / "vio.csv").is_file():
        dev = load_germeval(root / "harm", "dev")
        rows.append(_row("GermEval 2026 vio, dev split", "de", score(dev, predict, fine=True)))
    for lang in ("fr", "nl", "de", "en"):
        cases = load_cases("heldout", [lang])
        rows.append(_row("written cases, held out", lang, score(cases, predict)))
    by_note = score(load_cases("heldout"), predict, fine=True)
    notes = {
        note: {p: n for (g, p), n in by_note.confusion.items() if g == note}
        for note in sorted({g for g, _ in by_note.confusion})
    }
    alarms: list[dict[str, Any]] = []
    if root is not None:
        for name, lang, texts in ordinary_posts(root):
            flagged = sum(_flags(detector, text, lang) for text in texts)
            alarms.append(
                {
                    "set": name,
                    "lang": lang,
                    "n": len(texts),
                    "flagged": flagged,
                    "rate": round(flagged / len(texts), 4) if texts else 0.0,
                }
            )
    result = {
        "threshold": detector.threshold,
        "require_structure": detector.require_structure,
        "sets": rows,
        "held_out_by_kind": notes,
        "false_alarms": alarms,
        "shared_data": str(root) if root is not None else None,
    }
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    _print(result)


def _flags(detector: ThreatDetector, text: str, lang: str) -> bool:
    return detector.detect(Document.of(text, lang))[0].label == "threat"


def _print(result: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"Threat detector (threshold {result['threshold']})")
    for column in ("set", "lang", "n", "threats", "precision", "recall", "F1", "false alarms"):
        table.add_column(column, justify="left" if column in ("set", "lang") else "right")
    for r in result["sets"]:
        table.add_row(
            r["set"],
            r["lang"],
            str(r["n"]),
            str(r["threats"]),
            f"{r['precision']:.2f}",
            f"{r['recall']:.2f}",
            f"{r['f1']:.2f}",
            f"{r['false_alarm_rate']:.1%}",
        )
    console.print(table)
    confusion = Table(title="Gold label → predicted (threat / mention = talks about it / none)")
    confusion.add_column("set")
    confusion.add_column("gold")
    for predicted in ("threat", "mention", "none"):
        confusion.add_column(predicted, justify="right")
    for r in result["sets"]:
        golds = sorted({k.split(" -> ")[0] for k in r["confusion"]})
        for gold in golds:
            cells = [
                str(r["confusion"].get(f"{gold} -> {p}", 0)) for p in ("threat", "mention", "none")
            ]
            confusion.add_row(f"{r['set']} ({r['lang']})", gold, *cells)
    console.print(confusion)
    kinds = Table(title="Held-out cases by kind (all languages)")
    kinds.add_column("kind")
    for predicted in ("threat", "mention", "none"):
        kinds.add_column(predicted, justify="right")
    for note, counts in result["held_out_by_kind"].items():
        kinds.add_row(note, *(str(counts.get(p, 0)) for p in ("threat", "mention", "none")))
    console.print(kinds)
    if result["false_alarms"]:
        alarms = Table(title="False alarms on everyday posts (upper bound)")
        for column in ("set", "lang", "posts", "flagged", "rate"):
            alarms.add_column(column, justify="left" if column in ("set", "lang") else "right")
        for a in result["false_alarms"]:
            alarms.add_row(a["set"], a["lang"], str(a["n"]), str(a["flagged"]), f"{a['rate']:.2%}")
        console.print(alarms)
    else:
        console.print("Shared data not found: GermEval and false-alarm sets skipped (see --data).")
