"""Checking a draft before it is posted: the detectors turned towards what staff write.

Professional secrecy: a post by a member of staff must not carry personal data of the public, a
protected colleague's name, case numbers or internal markers, nor the terms the institution
declared secret (watch rules tagged ``secrecy``, which also watch the networks for their leak).
The review says, for each problem, where it is, why and what to do; nothing of the draft is
stored (the caller audits that a check happened, not what was checked).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from threading import Lock
from typing import Final, Literal

import msgspec

from veille.config import Settings
from veille.enrich.detect import Detect
from veille.match import Matcher
from veille.model import Enrichment, Finding, Post, Severity
from veille.normalise.language import LanguageDetector, default_detector
from veille.rules.files import load_rules
from veille.rules.rule import Rule

Level = Literal["stop", "check"]
"""``stop``: must not be posted as is; ``check``: look again before posting."""
Verdict = Literal["ok", "check", "stop"]

MAX_DRAFT_CHARS: Final = 20_000
"""A draft longer than this is refused (no network takes longer posts)."""

ADVICE: Final[dict[str, tuple[Level, str]]] = {
    "national_id": ("stop", "A national register number identifies a person: remove it."),
    "iban": ("stop", "A bank account number: remove it unless it is the institution's own."),
    "payment_card": ("stop", "A payment card number: remove it."),
    "protected_name": (
        "stop",
        "This names a protected member of staff: remove the name or ask their permission.",
    ),
    "doxxing": (
        "stop",
        "A protected person together with personal data or a place: this must not be posted.",
    ),
    "confidential": (
        "stop",
        "An internal marker or case reference: professional secrecy forbids publishing it.",
    ),
    "phone": ("check", "A phone number: is it an official number meant for the public?"),
    "email": ("check", "An e-mail address: is it an official address meant for the public?"),
    "licence_plate": ("check", "A licence plate identifies a person: blur or remove it."),
    "gps": ("check", "Exact coordinates: do they reveal an operation or a home?"),
    "address": ("check", "A street address: does it reveal a home or an ongoing operation?"),
    "threat": ("check", "This wording can read as a threat: rephrase it."),
}
"""Level and advice per finding kind (English; the dashboard translates them)."""

SECRECY_ADVICE: Final = "A term your institution declared confidential: remove it."
_STOP_SEVERITIES: Final[frozenset[Severity]] = frozenset({"high", "critical"})


class DraftIssue(msgspec.Struct, frozen=True, kw_only=True):
    """One problem in a draft: what, where (character offsets), how serious, why, what to do."""

    kind: str
    level: Level
    start: int
    end: int
    why: str
    advice: str
    rule: str = ""
    """For a secrecy rule: its id."""


class DraftReview(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict on a draft and its problems in text order."""

    verdict: Verdict
    lang: str
    issues: tuple[DraftIssue, ...] = ()
    secrecy_rules: int = 0
    """How many secrecy rules were checked (0: only the detectors)."""


class DraftTooLong(ValueError):
    """The draft is longer than :data:`MAX_DRAFT_CHARS`."""


class DraftChecker:
    """Reviews drafts with the configured detectors and the secrecy rules (built once)."""

    def __init__(
        self,
        detect: Detect,
        secrecy_rules: Sequence[Rule] = (),
        allowed: Iterable[str] = (),
        languages: LanguageDetector | None = None,
    ) -> None:
        self.detect = detect
        self.languages = languages or default_detector()
        rules = [r for r in secrecy_rules if r.enabled]
        self.rules = {r.id: r for r in rules}
        self.matcher = Matcher(rules) if rules else None
        self.allowed = frozenset(_canonical(a) for a in allowed if a.strip())
        """Values that may appear (the institution's own phone numbers, addresses, IBAN …)."""

    def review(self, text: str, lang: str = "") -> DraftReview:
        """Every problem of ``text``; ``lang`` is a hint (guessed among FR/NL/DE/EN if empty)."""
        if len(text) > MAX_DRAFT_CHARS:
            raise DraftTooLong(
                f"the draft has {len(text):,} characters; at most {MAX_DRAFT_CHARS:,} are checked"
            )
        if not lang or lang == "und":
            lang = self.languages.detect(text)
        post = Post(platform="draft", native_id="draft", text=text, lang=lang)
        found = self.detect(post, None, (), Enrichment(lang=lang))  # guesses among 4 if und
        issues = [i for f in found.findings for i in self._from_finding(text, f)]
        if self.matcher is not None:
            for match in self.matcher.match(post):
                rule = self.rules[match.rule]
                level: Level = "stop" if rule.severity in _STOP_SEVERITIES else "check"
                why = f"secrecy rule {rule.name or rule.id}"
                issues.extend(
                    DraftIssue(
                        kind="secrecy",
                        level=level,
                        start=s,
                        end=e,
                        why=why,
                        advice=SECRECY_ADVICE,
                        rule=rule.id,
                    )
                    for s, e in match.spans
                )
        issues.sort(key=lambda i: (i.start, i.end, i.kind))
        verdict: Verdict = "ok"
        if issues:
            verdict = "stop" if any(i.level == "stop" for i in issues) else "check"
        return DraftReview(
            verdict=verdict, lang=found.lang, issues=tuple(issues), secrecy_rules=len(self.rules)
        )

    def _from_finding(self, text: str, finding: Finding) -> list[DraftIssue]:
        known = ADVICE.get(finding.kind)
        if known is None or (finding.is_verdict and finding.label != "threat"):
            return []  # sentiment, "no threat", kinds a new detector adds without advice yet
        level, advice = known
        spans = finding.spans or ((0, len(text)),)
        return [
            DraftIssue(
                kind=finding.kind,
                level=level,
                start=s,
                end=e,
                why=finding.explanation or finding.kind,
                advice=advice,
            )
            for s, e in spans
            if _canonical(text[s:e]) not in self.allowed
        ]


def _canonical(value: str) -> str:
    """A value as compared with the allow-list: folded, without spaces and separators."""
    text = unicodedata.normalize("NFKC", value).casefold()
    return "".join(ch for ch in text if ch.isalnum() or ch in "@+")


def checker_from_settings(settings: Settings) -> DraftChecker:
    """The checker as ``veille.toml`` configures it: detectors, secrecy rules, allowed values."""
    paths = [p for p in settings.rules.paths if Path(p).exists()]  # none yet: detectors only
    return DraftSecrecy(settings).checker(load_rules(paths))


class DraftSecrecy:
    """Keeps one checker for a long-running process, rebuilt when the secrecy rules change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tags = frozenset(settings.draft.rule_tags)
        self._detect: Detect | None = None
        self._key: tuple[tuple[str, str, str, bool], ...] | None = None
        self._checker: DraftChecker | None = None
        self._lock = Lock()

    def checker(self, catalogue: Sequence[Rule]) -> DraftChecker:
        """The checker for the secrecy rules among ``catalogue`` (the rules as they are now)."""
        rules = [r for r in catalogue if self.tags.intersection(r.tags)]
        key = tuple((r.id, r.query.source, r.severity, r.enabled) for r in rules)
        with self._lock:
            if self._checker is None or key != self._key:
                if self._detect is None:
                    self._detect = Detect(self.settings.detect)
                self._checker = DraftChecker(self._detect, rules, self.settings.draft.allowed)
                self._key = key
            return self._checker
