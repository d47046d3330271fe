"""The literal prefilter: one pass over a folded post finds every rule literal in it.

Two engines were measured on the same catalogues (bench/match.py, docs/benchmarks.md):
daachorse (a compact double-array Aho-Corasick automaton) and Vectorscan through the
``hyperscan`` wheel. daachorse is the default: see the benchmark table for why. Vectorscan stays
available (``engine="hyperscan"``) when the optional wheel is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import daachorse

Engine = Literal["daachorse", "hyperscan"]
Hit = tuple[int, int, int]
"""``(start, end, pattern id)`` with character offsets in the scanned string."""


class Scanner(Protocol):
    def scan(self, text: str) -> list[Hit]:
        """Every occurrence of every pattern, overlapping ones included."""
        ...


class _Nothing:
    def scan(self, text: str) -> list[Hit]:
        return []


class DaachorseScanner:
    """Character-wise double-array Aho-Corasick (offsets are characters, as Python counts)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._automaton = daachorse.CharwiseDoubleArrayAhoCorasick(list(patterns))
        self.scan = self._automaton.find_overlapping


class HyperscanScanner:
    """Vectorscan in literal mode over UTF-8; byte offsets are turned back into characters."""

    def __init__(self, patterns: Sequence[str]) -> None:
        import hyperscan  # optional: only installed for the benchmark

        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        encoded = [p.encode("utf-8") for p in patterns]
        self._lengths = [len(p) for p in patterns]
        self._db.compile(
            expressions=encoded,
            ids=list(range(len(encoded))),
            elements=len(encoded),
            flags=0,
            literal=True,
        )

    def scan(self, text: str) -> list[Hit]:
        data = text.encode("utf-8")
        ends: list[tuple[int, int]] = []

        def on_match(pid: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            ends.append((end, pid))

        self._db.scan(data, match_event_handler=on_match)
        if not ends:
            return []
        ascii_only = len(data) == len(text)
        hits: list[Hit] = []
        for end, pid in ends:
            char_end = end if ascii_only else len(data[:end].decode("utf-8"))
            hits.append((char_end - self._lengths[pid], char_end, pid))
        return hits


def build_scanner(patterns: Sequence[str], engine: Engine = "daachorse") -> Scanner:
    """A scanner over ``patterns`` (ids are list positions) with the chosen engine."""
    if not patterns:
        return _Nothing()
    if engine == "hyperscan":
        return HyperscanScanner(patterns)
    return DaachorseScanner(patterns)
