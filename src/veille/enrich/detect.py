"""The detectors as pipeline enrichment steps, and :func:`analyze`, the single entry point.

Both steps have the pipeline's ``Enricher`` shape ``(post, folded, matches, enrichment) →
enrichment``: :class:`Detect` adds the findings of every detector, :class:`Urgent` (last)
scores urgency from everything found before it, sentiment included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Final

import msgspec

from veille.config import DetectSettings, UrgencySettings, load_settings
from veille.enrich.base import Detector, Document
from veille.enrich.confidential import (
    DEFAULT_MARKERS,
    DEFAULT_PATTERNS,
    DEFAULT_PHRASES,
    ConfidentialDetector,
)
from veille.enrich.personal_data import PersonalDataDetector
from veille.enrich.protected import ProtectedDetector, ProtectedList, doxxing
from veille.enrich.threat import ThreatDetector, guess_text_language
from veille.enrich.urgency import score_urgency
from veille.enrich.velocity import ConversationVelocity
from veille.model import Enrichment, Finding, Match, Post, Severity
from veille.normalise.fold import Folded
from veille.rules.files import load

SeverityOf = Callable[[str], Severity | None]
"""Severity of a rule by id (``None`` when unknown); the pipeline asks its current catalogue."""
VelocityOf = Callable[[Post], float | None]
"""Posts per minute of the post's conversation, when the caller tracks it."""


class Detect:
    """Runs threat, personal-data, confidential and protected-name detection on a post."""

    def __init__(
        self,
        settings: DetectSettings | None = None,
        protected: ProtectedList | None = None,
        *,
        prefilter: bool = True,
    ) -> None:
        """``prefilter=False`` runs every recogniser on every post: the same findings, slower
        (the reference the prefiltered path is tested and benchmarked against)."""
        cfg = settings or DetectSettings()
        self.max_chars = cfg.max_chars
        conf = cfg.confidential
        detectors: list[Detector] = [
            ThreatDetector(
                threshold=cfg.threat.threshold,
                require_structure=cfg.threat.require_structure,
                prefilter=prefilter,
            ),
            PersonalDataDetector(
                tuple(cfg.personal_data.kinds), cfg.personal_data.phone_region, prefilter
            ),
            ConfidentialDetector(
                markers=[*(conf.markers or DEFAULT_MARKERS), *conf.extra_markers],
                phrases=[*(conf.phrases or DEFAULT_PHRASES), *conf.extra_phrases],
                patterns={**(conf.patterns or DEFAULT_PATTERNS), **conf.extra_patterns},
                prefilter=prefilter,
            ),
        ]
        if protected is None and cfg.protected.path:
            protected = ProtectedList.load(cfg.protected.path, cfg.protected.pepper)
        self.protected = protected is not None and len(protected) > 0
        if protected is not None:
            detectors.append(ProtectedDetector(protected))
        self.detectors = tuple(detectors)

    def findings(self, doc: Document) -> list[Finding]:
        """Every detector's findings on ``doc``, then doxxing from their combination."""
        found: list[Finding] = []
        for detector in self.detectors:
            found.extend(detector.detect(doc))
        if self.protected:
            found.extend(doxxing(doc, found))
        return found

    def __call__(
        self, post: Post, folded: Folded | None, matches: Sequence[Match], enrichment: Enrichment
    ) -> Enrichment:
        """Pipeline step: add this post's findings to ``enrichment``."""
        doc = Document.of(post.text, enrichment.lang or post.lang, self.max_chars, folded)
        if doc.lang in ("", "und"):
            # A cheap guess among FR/NL/DE/EN so that the lexicons fit; the language stage,
            # when installed before this step, gives the real answer.
            doc.lang = guess_text_language(doc.text)
        found = self.findings(doc)
        return msgspec.structs.replace(
            enrichment, lang=doc.lang, findings=(*enrichment.findings, *found)
        )


class Urgent:
    """Last pipeline step: the post's urgency from everything found before it."""

    def __init__(
        self,
        settings: UrgencySettings | None = None,
        severity_of: SeverityOf | None = None,
        velocity_of: VelocityOf | None = None,
    ) -> None:
        self.settings = settings or UrgencySettings()
        self.severity_of = severity_of
        self.velocity_of = velocity_of

    def __call__(
        self, post: Post, folded: Folded | None, matches: Sequence[Match], enrichment: Enrichment
    ) -> Enrichment:
        """Pipeline step: set ``enrichment.urgency``."""
        rules: list[tuple[str, Severity]] = []
        if self.severity_of is not None:
            for m in matches:
                severity = self.severity_of(m.rule)
                if severity is not None:
                    rules.append((m.rule, severity))
        urgency = score_urgency(
            enrichment.findings,
            rules=rules,
            followers=post.author.followers,
            velocity=self.velocity_of(post) if self.velocity_of is not None else None,
            settings=self.settings,
        )
        return msgspec.structs.replace(enrichment, urgency=urgency)


_default: tuple[Detect, Urgent] | None = None


def analyze(
    post: Post,
    folded: Folded | None = None,
    matches: Sequence[Match] = (),
    *,
    detect: Detect | None = None,
    urgent: Urgent | None = None,
) -> Enrichment:
    """Everything the detectors say about ``post``, urgency included (default settings unless
    ``detect``/``urgent`` are given)."""
    global _default
    if detect is None or urgent is None:
        if _default is None:
            _default = (Detect(), Urgent())
        detect = detect or _default[0]
        urgent = urgent or _default[1]
    enrichment = detect(post, folded, matches, Enrichment(lang=post.lang))
    return urgent(post, folded, matches, enrichment)


ENRICHERS: Final = ("veille.enrich.detect:pipeline_detect", "veille.enrich.detect:pipeline_urgent")
"""The factories ``veille run`` hands the pipeline (``ProcessorSpec.enrichers``), in order.
Other enrichment steps (sentiment) go before ``pipeline_urgent``, which scores what all found."""


def pipeline_detect() -> Detect:
    """The detectors as the settings configure them (called once in each worker process)."""
    return Detect(load_settings().detect)


def pipeline_urgent() -> Urgent:
    """Urgency with the severity of the configured rules and the velocity of each post's
    conversation, counted in this process (called once in each worker)."""
    settings = load_settings()
    cfg = settings.detect.urgency
    severities = {r.id: r.severity for r in load(settings.rules.paths).rules}
    velocity = ConversationVelocity(
        timedelta(seconds=cfg.velocity_window),
        max_conversations=cfg.velocity_conversations,
        max_posts=2 * cfg.velocity_conversations,
    )
    return Urgent(cfg, severity_of=severities.get, velocity_of=velocity)
