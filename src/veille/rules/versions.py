"""Rule versions: every change of a rule's query makes a new version, and matches record it.

The store implements :class:`VersionRegistry` persistently (table ``rule_versions``) so versions
survive restarts; :class:`MemoryVersionRegistry` serves tests and ``veille match``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable


@runtime_checkable
class VersionRegistry(Protocol):
    """Maps ``(rule id, query text)`` to a version number, starting at 1."""

    def assign(self, rules: Iterable[tuple[str, str]]) -> dict[str, int]:
        """Return the version of each ``(rule id, query)``.

        A rule seen for the first time gets 1; the same query as its latest version keeps that
        version; any other query text (even one used before) gets latest + 1. Queries are
        compared exactly as written, after stripping surrounding whitespace.
        """
        ...


class MemoryVersionRegistry:
    """:class:`VersionRegistry` held in memory (versions restart at 1 with the process)."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[str, int]] = {}

    def assign(self, rules: Iterable[tuple[str, str]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for rule_id, query in rules:
            query = query.strip()
            latest = self._latest.get(rule_id)
            if latest is None:
                version = 1
            elif latest[0] == query:
                version = latest[1]
            else:
                version = latest[1] + 1
            self._latest[rule_id] = (query, version)
            out[rule_id] = version
        return out
