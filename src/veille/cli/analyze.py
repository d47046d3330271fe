"""``veille analyze``: JSON Lines posts on stdin → one JSON line of detections per post."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
import msgspec

from veille.cli.jsonl import JsonLines
from veille.cli.rules import load_or_exit
from veille.config import load_settings
from veille.enrich import Detect, Urgent
from veille.enrich.sentiment import ModelFileError, SentimentStep, from_finding, load_backend
from veille.match import Matcher
from veille.model import Author, Enrichment, Finding, Post, Severity
from veille.normalise.fold import fold
from veille.normalise.language import LanguageDetector


class InputAuthor(msgspec.Struct):
    handle: str = ""
    followers: int | None = None


class InputPost(msgspec.Struct):
    """One input line, as ``veille match`` takes it (only ``id`` and ``text`` required), plus
    optional reach and conversation speed for urgency. Other keys are ignored."""

    id: str
    text: str
    lang: str = ""
    platform: str = ""
    author: str | InputAuthor = ""
    followers: int | None = None
    velocity: float | None = None
    """Posts per minute in the post's conversation, when the caller knows it."""


LineSection = Callable[[Enrichment], dict[str, Any]]
"""Adds keys to an output line from the enrichment; other stages register theirs in
:data:`SECTIONS` (e.g. ``sentiment``)."""


def _verdict(finding: Finding) -> dict[str, Any]:
    return {"label": finding.label, "score": finding.score}


def _threat_section(enrichment: Enrichment) -> dict[str, Any]:
    finding = enrichment.verdict("threat")
    if finding is None:
        return {}
    threat: dict[str, Any] = {
        "label": "threat" if finding.label == "threat" else "none",
        "score": finding.score,
    }
    if finding.label == "mention":
        threat["talks_about"] = True
    if finding.explanation:
        threat["explanation"] = finding.explanation
    if finding.spans:
        threat["spans"] = [list(s) for s in finding.spans]
    return {"threat": threat}


def _sensitive_section(enrichment: Enrichment) -> dict[str, Any]:
    sensitive = [
        {
            "kind": f.kind,
            "start": start,
            "end": end,
            "score": f.score,
            "explanation": f.explanation,
        }
        for f in enrichment.hits()
        for start, end in f.spans[:1]
    ]
    return {"sensitive": sensitive}


def _urgency_section(enrichment: Enrichment) -> dict[str, Any]:
    u = enrichment.urgency
    return {"urgency": {"severity": u.severity, "score": u.score, "reasons": list(u.reasons)}}


def _sentiment_section(enrichment: Enrichment) -> dict[str, Any]:
    finding = enrichment.verdict("sentiment")
    if finding is None:
        return {}
    s = from_finding(finding)
    return {"sentiment": {"label": s.label, "score": s.score, "polarity": s.polarity}}


SECTIONS: list[LineSection] = [
    _sentiment_section,
    _threat_section,
    _sensitive_section,
    _urgency_section,
]
"""How an output line is assembled, in order; append a section to add keys."""


def analysis_line(post_id: str, enrichment: Enrichment) -> dict[str, Any]:
    """The JSON object ``veille analyze`` prints for one post."""
    line: dict[str, Any] = {"id": post_id, "lang": enrichment.lang}
    for section in SECTIONS:
        line.update(section(enrichment))
    return line


def _velocity(known: dict[str, float]) -> Callable[[Post], float | None]:
    return lambda post: known.get(post.native_id)


@click.command("analyze")
@click.option(
    "--rules",
    "files",
    multiple=True,
    type=click.Path(),
    help="Rule file or folder (repeatable): matching rules add their severity to urgency.",
)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Settings file for the [detect] section (default: $VEILLE_CONFIG, else ./veille.toml).",
)
def analyze(files: tuple[str, ...], config: str | None) -> None:
    """Language, sentiment, threats, personal data, confidential markers and protected names in
    JSON Lines posts from stdin; print one JSON line per post.

    Input: {"id": "...", "text": "...", "lang": "fr", "followers": 3000, "velocity": 12}
    (only id and text required; "author" may be a handle or {"handle", "followers"}).

    Output: {"id", "lang" (fr/nl/de/en or und; the input "lang" is only a hint),
    "sentiment": {"label": "negative"|"neutral"|"positive", "score", "polarity"},
    "threat": {"label": "threat"|"none", "score", "talks_about"?, "explanation"?, "spans"?},
    "sensitive": [{"kind", "start", "end", "score", "explanation"}],
    "urgency": {"severity", "score", "reasons"}}, offsets in characters of the text.
    A bad line is reported on stderr with its number and skipped; the exit status is then 1.
    """
    all_settings = load_settings(config)
    settings = all_settings.detect
    try:
        detect = Detect(settings)
        lang_cfg, sent_cfg = all_settings.language, all_settings.sentiment
        detector = LanguageDetector(lang_cfg.languages, min_confidence=lang_cfg.min_confidence)
        sentiment = SentimentStep(load_backend(sent_cfg.backend, sent_cfg.model_path))
    except (ValueError, ModelFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    matcher: Matcher | None = None
    severities: dict[str, Severity] = {}
    if files:
        rules = load_or_exit(files)
        matcher = Matcher(rules)
        severities = {r.id: r.severity for r in rules}
    velocity: dict[str, float] = {}  # of the post being analysed, from its input line
    urgent = Urgent(settings.urgency, severity_of=severities.get, velocity_of=_velocity(velocity))
    encoder = msgspec.json.Encoder()
    out = sys.stdout.buffer
    lines = JsonLines(sys.stdin.buffer, InputPost)
    for item in lines:
        author = item.author if isinstance(item.author, InputAuthor) else InputAuthor(item.author)
        followers = item.followers if item.followers is not None else author.followers
        post = Post(
            platform=item.platform,
            native_id=item.id,
            text=item.text,
            lang_hint=item.lang,
            author=Author(handle=author.handle, followers=followers),
        )
        post.lang = detector.detect(post.text, post.lang_hint)
        folded = fold(post.text)
        matches = matcher.match(post, folded) if matcher is not None else []
        enrichment = detect(post, folded, matches, Enrichment(lang=post.lang))
        enrichment = sentiment(post, folded, matches, enrichment)
        velocity.clear()
        if item.velocity is not None:
            velocity[item.id] = item.velocity
        enrichment = urgent(post, folded, matches, enrichment)
        # The detectors may pick a lexicon for an undetermined post; the line reports the
        # language veille settled on.
        enrichment = msgspec.structs.replace(enrichment, lang=post.lang)
        out.write(encoder.encode(analysis_line(item.id, enrichment)) + b"\n")
    out.flush()
    lines.exit_if_bad()
