"""Assembling a pipeline from settings: rules, matcher, processor factory, sources.

Kept apart from :mod:`veille.pipeline` (which only runs stages) and from the CLI (which only
parses options), so ``veille run``, ``veille demo``, the benchmark and tests build the very same
thing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veille.clock import utcnow
from veille.match.matcher import Matcher
from veille.pipeline import Enricher, Language, Processor
from veille.rules.files import Loaded, RuleFileError, expand, load_text
from veille.rules.rule import Rule
from veille.rules.versions import VersionRegistry


@dataclass(frozen=True)
class Catalogue:
    """The rule files' text as read once (so every worker compiles exactly the same rules)."""

    files: Mapping[str, str]
    rules: Sequence[Rule]

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> Catalogue:
        """Read rule files and folders; raises :class:`RuleFileError` listing every error."""
        files: dict[str, str] = {}
        for path in expand(paths):
            try:
                files[str(path)] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise RuleFileError([]) from ValueError(f"{path}: cannot read: {exc}")
        rules = _parse(files)
        return cls(files, rules)

    def versions(self, registry: VersionRegistry) -> dict[str, int]:
        """The version of each enabled rule, as ``registry`` numbers them."""
        return registry.assign((r.id, r.query.source) for r in self.rules if r.enabled)


def _parse(files: Mapping[str, str]) -> list[Rule]:
    loaded = Loaded()
    for name, text in files.items():
        load_text(text, name, loaded)
    if loaded.errors:
        raise RuleFileError(loaded.errors)
    return loaded.rules


class FixedVersions:
    """A :class:`VersionRegistry` that answers from versions assigned beforehand (workers)."""

    def __init__(self, versions: Mapping[str, int]) -> None:
        self._versions = dict(versions)

    def assign(self, rules: Iterable[tuple[str, str]]) -> dict[str, int]:
        return {rule_id: self._versions.get(rule_id, 1) for rule_id, _ in rules}


def _import(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class ProcessorSpec:
    """A picklable recipe for a :class:`Processor`: what each worker process builds.

    ``language`` and ``enrichers`` name factories as ``"module:function"``; each factory is
    called with no argument in the worker and returns the hook (a detector loads its model
    once per process this way).
    """

    files: Mapping[str, str]
    versions: Mapping[str, int]
    language: str | None = None
    enrichers: tuple[str, ...] = ()
    engine: str = field(default="daachorse")

    def __call__(self) -> Processor:
        matcher = Matcher(_parse(self.files), FixedVersions(self.versions), self.engine)  # type: ignore[arg-type]
        language: Language | None = _import(self.language)() if self.language else None
        enrichers: list[Enricher] = [_import(target)() for target in self.enrichers]
        return Processor(matcher, language=language, enrichers=enrichers, clock=utcnow)
