"""Labelled threat data and its scoring: shared by ``train/threat.py`` and ``veille eval threat``.

Two sources. GermEval 2026 harmful-content ``vio`` (German, real posts; in ``../shared/data``,
never shipped) is split by post id: a fixed 30 % is the development set, never trained on. The
cases written by the veille developers (``data/eval/threat``) cover FR/NL/DE/EN, including
"talks about a threat"; their ``heldout`` files are only ever evaluated.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Final, Literal

Split = Literal["train", "dev"]
Gold = Literal["threat", "mention", "none"]

GERMEVAL_LABELS: Final[dict[str, Gold]] = {
    "call2violence": "threat",
    "prospensity": "threat",
    "support": "threat",
    "glorification": "threat",
    "other": "mention",
    "nothing": "none",
}
"""GermEval ``vio`` classes → our three: endorsing or calling for violence is a threat; "other"
(violence-related, e.g. reporting a crime) talks about violence; "nothing" is none."""

DEV_PERCENT: Final = 30


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled post."""

    id: str
    text: str
    lang: str
    gold: Gold
    source: str
    fine: str = ""
    """The source's own label (GermEval class, or the case's note: news, quote, negation …)."""


def germeval_split(post_id: str) -> Split:
    """Stable split by id, so that a post is on the same side in every GermEval task file."""
    return "dev" if zlib.crc32(post_id.encode()) % 100 < DEV_PERCENT else "train"


def load_germeval(root: Path, split: Split) -> list[Example]:
    """GermEval ``vio`` posts of one split from ``root`` (``…/shared/data/harm``)."""
    path = root / "germeval-harmful" / "vio.csv"
    examples = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader)
        if header[:2] != ["id", "description"]:
            raise ValueError(f"{path}: unexpected header {header}")
        for line, row in enumerate(reader, start=2):
            if len(row) != 3 or row[2] not in GERMEVAL_LABELS:
                raise ValueError(f"{path}:{line}: expected id;text;label, got {row[:3]}")
            if germeval_split(row[0]) == split:
                gold = GERMEVAL_LABELS[row[2]]
                examples.append(Example(row[0], row[1], "de", gold, "germeval", row[2]))
    return examples


def load_cases(kind: Literal["train", "heldout"], langs: Iterable[str] = ()) -> list[Example]:
    """The developers' written cases (``train`` or ``heldout``), optionally for some languages."""
    wanted = set(langs)
    folder = resources.files("veille.data.eval").joinpath("threat")
    examples = []
    for lang in ("fr", "nl", "de", "en"):
        if wanted and lang not in wanted:
            continue
        name = f"{kind}-{lang}.jsonl"
        for line, raw in enumerate(folder.joinpath(name).read_text("utf-8").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                gold = row["label"]
                if gold not in ("threat", "mention", "none"):
                    raise ValueError(f"label {gold!r}")
                examples.append(
                    Example(
                        row["id"], row["text"], lang, gold, f"cases-{kind}", row.get("note", "")
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{name}:{line}: bad case: {exc}") from exc
    return examples


@dataclass(slots=True)
class Scores:
    """Binary threat-vs-rest counts plus the three-way confusion of one evaluation set."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(gold, predicted) → count, with gold in threat/mention/none (or a finer source label)
    and predicted in threat/mention/none."""

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


def score(
    examples: Sequence[Example],
    predict: Callable[[Example], str],
    fine: bool = False,
) -> Scores:
    """Score ``predict`` (returning threat / mention / none) on ``examples``."""
    scores = Scores()
    for example in examples:
        predicted = predict(example)
        positive = example.gold == "threat"
        flagged = predicted == "threat"
        if positive and flagged:
            scores.tp += 1
        elif positive:
            scores.fn += 1
        elif flagged:
            scores.fp += 1
        else:
            scores.tn += 1
        row = example.fine if fine and example.fine else example.gold
        scores.confusion[(row, predicted)] += 1
    return scores
