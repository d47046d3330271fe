"""Assembling a pipeline: the rule catalogue and the picklable recipe of its processor.

Kept apart from :mod:`veille.pipeline` (which only runs stages) and from the CLI (which only
parses options), so ``veille run``, ``veille demo``, the benchmark and tests build the very same
thing.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veille.clock import utcnow
from veille.enrich.detect import Urgent
from veille.match.matcher import Matcher
from veille.model import Severity
from veille.pipeline import Enricher, Language, Processor
from veille.rules.files import Diagnostic, RuleFileError, load
from veille.rules.rule import Rule
from veille.rules.versions import VersionRegistry

RuleSpec = tuple[str, str, bool]
"""What a worker needs of a rule to match exactly like the main process: id, query, evasion."""


@dataclass(frozen=True)
class Catalogue:
    """The rules as loaded once by the main process; workers get them as :data:`RuleSpec`."""

    rules: Sequence[Rule]
    warnings: Sequence[Diagnostic] = ()

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> Catalogue:
        """Read rule files and folders; raises :class:`RuleFileError` listing every error."""
        loaded = load(paths)
        if loaded.errors:
            raise RuleFileError(loaded.errors)
        return cls(loaded.rules, loaded.diagnostics)

    def specs(self) -> tuple[RuleSpec, ...]:
        """The enabled rules, as a worker process rebuilds them."""
        return tuple((r.id, r.query.source, r.evasion) for r in self.rules if r.enabled)

    def versions(self, registry: VersionRegistry) -> dict[str, int]:
        """The version of each enabled rule, as ``registry`` numbers them."""
        return registry.assign((r.id, r.query.source) for r in self.rules if r.enabled)

    def severities(self) -> dict[str, Severity]:
        """The severity of each rule (urgency scoring adds the most severe match's)."""
        return {r.id: r.severity for r in self.rules}


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
    once per process this way). ``severities``, when given, are the rule severities the
    urgency step scores with (instead of what its factory read from the rule files).
    """

    rules: tuple[RuleSpec, ...]
    versions: Mapping[str, int]
    language: str | None = None
    enrichers: tuple[str, ...] = ()
    engine: str = field(default="daachorse")
    severities: Mapping[str, Severity] = field(default_factory=dict)

    @classmethod
    def of(cls, catalogue: Catalogue, versions: Mapping[str, int], **options: Any) -> ProcessorSpec:
        """The recipe matching ``catalogue`` (with the ``versions`` the store gave its rules)."""
        return cls(
            rules=catalogue.specs(),
            versions=dict(versions),
            severities=catalogue.severities(),
            **options,
        )

    def matcher(self) -> Matcher:
        """The compiled matcher of these rules (the slow part of a rebuild)."""
        rules = [Rule.of(rule_id, query, evasion=evasion) for rule_id, query, evasion in self.rules]
        return Matcher(rules, FixedVersions(self.versions), self.engine)  # type: ignore[arg-type]

    def __call__(self) -> Processor:
        language: Language | None = _import(self.language)() if self.language else None
        enrichers: list[Enricher] = [_import(target)() for target in self.enrichers]
        return Processor(
            self.matcher(), language=language, enrichers=self._rule_aware(enrichers), clock=utcnow
        )

    def renew(self, processor: Processor) -> Processor:
        """A processor like ``processor`` but with these rules: a new matcher, the urgency
        step scoring with these severities, every other step (models loaded, velocity
        counts) kept. For a rule change in the main process; call it off the event loop."""
        return Processor(
            self.matcher(),
            language=processor.language,
            enrichers=self._rule_aware(processor.enrichers),
            clock=processor.clock,
        )

    def _rule_aware(self, enrichers: Sequence[Enricher]) -> list[Enricher]:
        if not self.severities:
            return list(enrichers)
        out: list[Enricher] = []
        for step in enrichers:
            if isinstance(step, Urgent):
                step = copy.copy(step)  # the running processor's step stays as it was
                step.severity_of = dict(self.severities).get
            out.append(step)
        return out
