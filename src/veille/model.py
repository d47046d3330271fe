"""The records that flow between stages.

Every stage exchanges these plain typed records and nothing else; a record crosses a process
boundary as JSON (msgspec) of exactly this shape. This module imports no stage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "low", "medium", "high", "critical")

Span = tuple[int, int]
"""A half-open ``[start, end)`` range of character offsets in a post's original text."""


class Author(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Who wrote a post, as far as the platform tells us."""

    id: str = ""
    handle: str = ""
    display_name: str = ""
    followers: int | None = None


class RawItem(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A payload exactly as a source received it, before any interpretation.

    Keeping the raw bytes until normalisation means a payload that fails to map can be
    quarantined whole, with its error, instead of being lost.
    """

    source: str
    """Name of the configured source instance, e.g. ``"replay"`` or ``"mastodon:example"``."""
    platform: str
    """Which mapping in ``normalise`` turns this payload into a Post: ``generic``, ``bluesky`` …"""
    payload: bytes
    received_at: datetime
    origin: str = ""
    """Where in the source it came from (``line 12``, ``request 3 item 4``): quoted in errors."""


class Post(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One public post (or comment, reply, article) in the platform-neutral shape.

    Its identity is ``(platform, native_id)``: storing is an upsert on that key.
    Thread fields hold *native ids* on the same platform.
    """

    platform: str
    native_id: str
    text: str = ""
    author: Author = Author()
    url: str = ""
    lang: str = ""
    """Language veille settled on (ISO 639-1, ``und`` when unsure, empty before detection)."""
    lang_hint: str = ""
    """Language the platform or author declared: a hint, not the truth."""
    created_at: datetime | None = None
    received_at: datetime | None = None
    reply_to: str | None = None
    root_id: str | None = None
    quote_of: str | None = None
    repost_of: str | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    edited_at: datetime | None = None
    deleted: bool = False
    raw: str = ""
    """The source payload this post was mapped from (JSON or XML text), kept for audit.

    Mappers leave it empty: the pipeline keeps the payload's bytes beside the post and the
    store writes them as its raw copy (``Store.write_batch(payloads=…)``), so the payload is
    never decoded into a ``str`` nor sent back from a worker process. It is set here only for
    a payload that is not well-formed UTF-8 (decoded with U+FFFD replacements) and by callers
    that build posts themselves."""

    @property
    def key(self) -> tuple[str, str]:
        """The identity of the post across the whole system."""
        return (self.platform, self.native_id)


class Match(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A watch rule matched a post; spans explain why, for highlighting."""

    rule: str
    version: int
    spans: tuple[Span, ...] = ()
    """Merged spans of every term that contributed, in the original text."""
    terms: dict[str, tuple[Span, ...]] = {}
    """The explanation: for each query term that matched, where it matched."""
    backfilled: bool = False


class Finding(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """What one detector found in a post: a kind, a verdict or a hit, where, and why.

    Two shapes share this record. A *classifier* (threat, sentiment …) gives one finding per
    post whose ``label`` is its verdict, ``"none"`` included. A *span detector* (personal data,
    confidential markers, protected names) gives one finding per hit, with an empty ``label``.
    """

    kind: str
    """What was found: ``threat``, ``sentiment``, ``national_id``, ``iban``, ``phone``, ``email``,
    ``payment_card``, ``licence_plate``, ``gps``, ``address``, ``protected_name``,
    ``confidential`` … (a new detector adds its kinds; consumers ignore kinds they do not know)."""
    detector: str
    """Which detector produced it: ``threat``, ``personal_data``, ``protected``, ``confidential``,
    ``sentiment`` …"""
    label: str = ""
    """A classifier's verdict (``"threat"`` / ``"none"``, ``"negative"`` …); empty for a hit."""
    score: float = 1.0
    """Confidence in ``[0, 1]``: a probability for classifiers, a fixed confidence for hits."""
    spans: tuple[Span, ...] = ()
    """Where, in the post's original text (half-open character offsets)."""
    explanation: str = ""
    """One short line a human can read. Never contains protected names in clear."""

    @property
    def is_verdict(self) -> bool:
        """True for a classifier's per-post verdict, false for a span detector's hit."""
        return bool(self.label)


PERSONAL_KINDS: Final[frozenset[str]] = frozenset(
    {
        "national_id",
        "iban",
        "phone",
        "email",
        "payment_card",
        "licence_plate",
        "gps",
        "address",
        "protected_name",
    }
)
"""Finding kinds whose spans are personal data: masked in alert messages, and in the dashboard
for whoever may not see personal data."""


class Urgency(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How urgent a post is and why, in words an operator reads on a pager."""

    severity: Severity = "info"
    score: float = 0.0
    """The points behind the severity (see ``veille.enrich.urgency``); higher is more urgent."""
    reasons: tuple[str, ...] = ()
    """E.g. ``("call to violence", "names a protected officer", "3,000 followers")``."""


class Enrichment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Everything the enrich stage learned about one post."""

    lang: str = ""
    """Language the detectors used (ISO 639-1, ``und`` when unsure)."""
    findings: tuple[Finding, ...] = ()
    urgency: Urgency = Urgency()

    def verdict(self, kind: str) -> Finding | None:
        """The classifier verdict of ``kind`` (e.g. ``"threat"``), if that classifier ran."""
        for finding in self.findings:
            if finding.kind == kind and finding.is_verdict:
                return finding
        return None

    def hits(self) -> tuple[Finding, ...]:
        """The span detectors' hits (sensitive information), in text order."""
        found = [f for f in self.findings if not f.is_verdict]
        return tuple(sorted(found, key=lambda f: f.spans[0] if f.spans else (0, 0)))


Stage = Literal["source", "normalise", "match", "enrich", "store", "alert"]


class Quarantined(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A record that failed a stage, kept whole with its error so that nothing is silently lost.

    The rest of its batch goes on; an operator can read the error, fix the cause and replay
    the payload.
    """

    source: str
    """Name of the source instance the record came from."""
    stage: Stage
    """Where it failed."""
    error: str
    """What went wrong and where (line, byte offset, field), in words."""
    payload: bytes
    """The record as received (possibly cut to a bound, which ``error`` then says)."""
    at: datetime
    platform: str = ""


AlertKind = Literal["rule", "urgent", "trend", "source"]
"""Where an alert comes from: a rule match with a severity, a detector's urgency score, a
volume/sentiment spike, or a source that went silent."""

AlertStatus = Literal["firing", "acknowledged", "resolved"]


class AlertSignal(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Something that may deserve an alert: the one input every producer hands the alert engine.

    Rule matches, detector urgency, trend spikes and silent sources all reduce to this shape, so
    routing, grouping, silences and delivery treat them alike. Signals with the same
    ``fingerprint`` update one alert instead of raising another (deduplication).
    """

    kind: AlertKind
    severity: Severity
    title: str
    """One line a human reads first, e.g. ``"Call to violence in a flagged conversation"``."""
    reasons: tuple[str, ...] = ()
    """Why it fired, in words: ``("call to violence", "names a protected officer")``."""
    rule: str = ""
    """The watch rule that matched, or the topic / source the signal is about."""
    conversation: str = ""
    """Conversation id (``platform:root native id``) the alert is about, when there is one."""
    platform: str = ""
    native_id: str = ""
    """The post that triggered the signal, when there is one."""
    source: str = ""
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    """Free labels for routing and grouping (``team``, ``topic`` …)."""
    url: str = ""
    """Link to the original post or page on its platform."""
    excerpt: str = ""
    """A short piece of the triggering text for the message (bounded by the engine)."""
    spans: tuple[Span, ...] = ()
    """What matched inside ``excerpt``, for highlighting."""
    observed_at: datetime | None = None
    """When the triggering post entered veille: the start of the alert latency clock."""
    fingerprint: str = ""
    """Identity for deduplication; empty means derived from kind, rule, conversation and post."""
    resolved: bool = False
    """The condition is over (a silent source speaks again, a spike ended): resolve the alert."""


class Alert(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An alert as the engine keeps it: the latest signal for a fingerprint, plus its handling."""

    id: int
    fingerprint: str
    kind: AlertKind
    severity: Severity
    title: str
    reasons: tuple[str, ...] = ()
    rule: str = ""
    conversation: str = ""
    platform: str = ""
    native_id: str = ""
    source: str = ""
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    url: str = ""
    excerpt: str = ""
    spans: tuple[Span, ...] = ()
    status: AlertStatus = "firing"
    count: int = 1
    """How many signals were folded into this alert."""
    first_seen: datetime
    last_seen: datetime
    observed_at: datetime | None = None
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    resolved_by: str = ""
    resolved_at: datetime | None = None
    assignee: str = ""
    escalated_at: datetime | None = None


MatchOp = Literal["=", "!=", "=~", "!~"]
"""How a silence matcher compares a label: equal, not equal, matches the RE2 expression (whole
value), does not match it — as in Alertmanager."""


class SilenceMatcher(msgspec.Struct, frozen=True, kw_only=True):
    r"""One condition of a silence on one label, written ``rule=fr.manif``, ``rule=~fr\..*``,
    ``platform!=demo`` or ``conversation!~bluesky:.*``."""

    name: str
    value: str
    op: MatchOp = "="

    @property
    def text(self) -> str:
        """The matcher as written: ``name``, operator, ``value``."""
        return f"{self.name}{self.op}{self.value}"


class Silence(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Mute alerts whose labels satisfy every matcher, from ``starts_at`` to ``ends_at``.

    A silence always names who created it and why, and always expires.
    """

    id: int = 0
    matchers: tuple[SilenceMatcher, ...]
    """All must hold. The label ``tag`` holds for ``=``/``=~`` when one of the alert's tags
    does, and for ``!=``/``!~`` when none does."""
    created_by: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime | None = None
    expired_by: str = ""


NotificationStatus = Literal["pending", "delivered", "dead", "suppressed"]
NotificationReason = Literal["group", "repeat", "escalation"]


class Notification(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One message to one receiver (an outbox row): pending until delivered or dead-lettered."""

    id: int
    receiver: str
    reason: NotificationReason
    status: NotificationStatus
    idempotency_key: str
    due_at: datetime
    created_at: datetime
    group_key: str = ""
    alert_ids: tuple[int, ...] = ()
    payload: bytes = b""
    """The frozen JSON body, fixed at the first attempt so every retry sends the same message."""
    attempts: int = 0
    last_error: str = ""
    delivered_at: datetime | None = None


SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: Final[tuple[SentimentLabel, ...]] = ("negative", "neutral", "positive")


class Sentiment(msgspec.Struct, frozen=True, kw_only=True):
    """The mood of a post. In an :class:`Enrichment` it is the ``sentiment`` verdict
    (:class:`Finding` with ``label`` and ``score``); ``polarity`` rides in its explanation."""

    label: SentimentLabel
    score: float
    """Probability of ``label``, in [0, 1] (a classifier's confidence, as every Finding)."""
    polarity: float = 0.0
    """``P(positive) - P(negative)`` in [-1, 1]: sums and averages meaningfully in trends."""
