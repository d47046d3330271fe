"""The shapes the API answers with (and the dashboard renders): one model per resource.

Posts are always shown through :func:`post_view`, which applies the caller's scope — matches of
rules they cannot see are dropped, authors pseudonymised when their watch lists ask for it,
personal data the detectors found replaced by ``⟨kind⟩`` unless the caller may see it — and
keeps only links whose scheme is http or https.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from veille.conversations import Conversation
from veille.model import PERSONAL_KINDS, Finding, Span
from veille.store.reads import StoredPost, ThreadNode
from veille.web.scope import Pseudonymiser, Scope

T = TypeVar("T")

SAFE_SCHEMES = frozenset({"http", "https"})
MAX_URL = 2048


def safe_url(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL without credentials, else ``None``."""
    if not url or len(url) > MAX_URL or any(c in url for c in "\x00\r\n\t "):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.netloc or "@" in parts.netloc:
        return None
    return url


def _merged(text: str, spans: Iterable[Span]) -> list[tuple[int, int]]:
    cleaned: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in spans):
        if end <= start:
            continue
        if cleaned and start <= cleaned[-1][1]:
            cleaned[-1] = (cleaned[-1][0], max(cleaned[-1][1], end))
        else:
            cleaned.append((start, end))
    return cleaned


def segments(text: str, spans: list[Span] | tuple[Span, ...]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, highlighted) pairs along the merged, clipped ``spans``."""
    out: list[tuple[str, bool]] = []
    at = 0
    for start, end in _merged(text, spans):
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < len(text):
        out.append((text[at:], False))
    return out


def marks(
    text: str, matched: Iterable[Span], found: Iterable[tuple[Span, str]]
) -> list[tuple[str, str, str]]:
    """``text`` cut into ``(piece, css classes, title)``: ``match`` where a rule matched,
    ``finding`` where a detector found something (the title names the kinds)."""
    starts: dict[int, list[tuple[int, str]]] = {}
    bounds = {0, len(text)}
    for (s, e), kind in [*((span, "") for span in matched), *found]:
        s, e = max(0, s), min(len(text), e)
        if s < e:
            starts.setdefault(s, []).append((e, kind))
            bounds.update((s, e))
    out: list[tuple[str, str, str]] = []
    open_: list[tuple[int, str]] = []
    cuts = sorted(bounds)
    for start, end in itertools.pairwise(cuts):
        open_ = [(e, k) for e, k in open_ if e > start] + starts.get(start, [])
        kinds = sorted({k for _, k in open_ if k})
        classes = " ".join(
            c for c, on in (("match", any(not k for _, k in open_)), ("finding", kinds)) if on
        )
        out.append((text[start:end], classes, ", ".join(kinds)))
    return out


def mask_text(text: str, cuts: Sequence[tuple[Span, str]]) -> tuple[str, Callable[[int], int]]:
    """``text`` with each ``(span, kind)`` of ``cuts`` replaced by ``⟨kind⟩``, and the function
    that moves an offset of ``text`` to the masked text (inside a cut: to its edges)."""
    kinds = {span: kind for span, kind in cuts}
    pieces: list[str] = []
    starts: list[int] = []  # original start of each cut
    moves: list[tuple[int, int, int, int]] = []  # (start, end, new start, new end)
    at = shift = 0
    for start, end in _merged(text, kinds):
        kind = next((k for (s, e), k in sorted(kinds.items()) if start <= s < end), "")
        label = f"⟨{kind}⟩"
        pieces += [text[at:start], label]
        new_start = start + shift
        shift += len(label) - (end - start)
        starts.append(start)
        moves.append((start, end, new_start, new_start + len(label)))
        at = end
    pieces.append(text[at:])

    def move(offset: int) -> int:
        i = bisect_right(starts, offset) - 1
        if i < 0:
            return offset
        start, end, new_start, new_end = moves[i]
        if offset == start:
            return new_start
        if offset < end:
            return new_end
        return new_end + offset - end

    return "".join(pieces), move


def personal_cuts(found: Iterable[Finding]) -> list[tuple[Span, str]]:
    """The personal-data spans among ``found``, with their kind."""
    return [(span, f.kind) for f in found if f.kind in PERSONAL_KINDS for span in f.spans]


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorOut(BaseModel):
    """Every error: ``{"error": {"code", "message", "detail"?}}``."""

    error: ErrorBody


class Page(BaseModel, Generic[T]):
    """A page of results; pass ``next`` back as ``cursor`` for the following page."""

    items: list[T]
    next: str | None = None


class MatchOut(BaseModel):
    rule: str
    version: int
    spans: list[tuple[int, int]]
    terms: dict[str, list[tuple[int, int]]]
    backfilled: bool = False
    matched_at: datetime | None = None


class FindingOut(BaseModel):
    """What a detector found: a classifier's verdict (``label`` set) or a hit (spans)."""

    kind: str
    detector: str
    label: str = ""
    score: float
    spans: list[tuple[int, int]] = Field(
        [], description="Where, in the post's text as served (masked text when masked)"
    )
    explanation: str = ""


class UrgencyOut(BaseModel):
    severity: str
    score: float
    reasons: list[str] = []


class AuthorOut(BaseModel):
    id: str = ""
    handle: str = ""
    display_name: str = ""
    followers: int | None = None
    pseudonymised: bool = False


class PostOut(BaseModel):
    id: int
    platform: str
    native_id: str
    text: str
    author: AuthorOut
    url: str | None = Field(None, description="Link to the original post (http/https only)")
    lang: str = ""
    created_at: datetime | None = None
    stored_at: datetime
    reply_to: str | None = None
    conversation: str
    """``platform:root`` of the conversation the post belongs to."""
    hashtags: list[str] = []
    deleted: bool = False
    edited: bool = False
    matches: list[MatchOut] = []
    segments: list[tuple[str, bool]] = Field(
        [], description="The text cut along the matched spans: (piece, highlighted)"
    )
    findings: list[FindingOut] = Field(
        [], description="What the detectors found in this text (post and conversation reads)"
    )
    urgency: UrgencyOut | None = None
    masked: bool = Field(
        False, description="Personal data in the text was replaced by ⟨kind⟩ for this caller"
    )

    def marks(self) -> list[tuple[str, str, str]]:
        """The text cut along its highlighted segments and the detectors' spans (dashboard)."""
        highlighted: list[Span] = []
        at = 0
        for piece, hit in self.segments:
            if hit:
                highlighted.append((at, at + len(piece)))
            at += len(piece)
        found = [(span, f.kind) for f in self.findings for span in f.spans]
        return marks(self.text, highlighted, found)

    def personal_data(self) -> list[str]:
        """The kinds of personal data this view shows in clear."""
        if self.masked:
            return []
        return sorted({f.kind for f in self.findings if f.kind in PERSONAL_KINDS})


def post_view(
    stored: StoredPost,
    scope: Scope,
    tags_of: dict[str, tuple[str, ...]],
    mask: Pseudonymiser,
    *,
    reveal: bool = False,
) -> PostOut:
    """A stored post as the caller may see it; personal data the detectors found is replaced
    by ``⟨kind⟩`` (text, and every span moved along) unless ``reveal``."""
    post = stored.post
    text = post.text
    cuts = [] if reveal else personal_cuts(stored.findings)
    move: Callable[[int], int] = int
    if cuts:
        text, move = mask_text(text, cuts)

    def moved(spans: Iterable[Span]) -> list[tuple[int, int]]:
        return [(move(s), move(e)) for s, e in spans]

    found = [
        m for m in stored.matches if scope.sees_rule(m.match.rule, tags_of.get(m.match.rule, ()))
    ]
    author = post.author
    if scope.pseudonymous:
        key = author.id or author.handle
        shown = AuthorOut(
            id=mask(post.platform, key),
            handle=mask(post.platform, key),
            pseudonymised=True,
        )
        url = None
    else:
        shown = AuthorOut(
            id=author.id,
            handle=author.handle,
            display_name=author.display_name,
            followers=author.followers,
        )
        url = safe_url(post.url)
    spans = moved(s for m in found for s in m.match.spans)
    urgency = stored.urgency
    return PostOut(
        id=stored.id,
        platform=post.platform,
        native_id=post.native_id,
        text=text,
        author=shown,
        url=url,
        lang=post.lang,
        created_at=post.created_at,
        stored_at=stored.stored_at,
        reply_to=post.reply_to,
        conversation=f"{post.platform}:{stored.conversation_root}",
        hashtags=list(post.hashtags),
        deleted=post.deleted,
        edited=stored.version > 1,
        matches=[
            MatchOut(
                rule=m.match.rule,
                version=m.match.version,
                spans=moved(m.match.spans),
                terms={t: moved(v) for t, v in m.match.terms.items()},
                backfilled=m.match.backfilled,
                matched_at=m.matched_at,
            )
            for m in found
        ],
        segments=segments(text, spans),
        findings=[
            FindingOut(
                kind=f.kind,
                detector=f.detector,
                label=f.label,
                score=f.score,
                spans=moved(f.spans),
                explanation=f.explanation,
            )
            for f in stored.findings
        ],
        urgency=None
        if urgency is None
        else UrgencyOut(
            severity=urgency.severity, score=urgency.score, reasons=list(urgency.reasons)
        ),
        masked=bool(cuts),
    )


class ConversationOut(BaseModel):
    id: int
    key: str
    platform: str
    root: str
    rules: list[str]
    post_count: int
    participants: int
    flagged_at: datetime
    follow_until: datetime
    first_activity: datetime | None = None
    last_activity: datetime | None = None


def conversation_view(
    conv: Conversation, scope: Scope, tags_of: dict[str, tuple[str, ...]]
) -> ConversationOut:
    return ConversationOut(
        id=conv.id or 0,
        key=f"{conv.platform}:{conv.root}",
        platform=conv.platform,
        root=conv.root,
        rules=scope.visible_rules(sorted(conv.rules), tags_of),
        post_count=conv.post_count,
        participants=conv.participants,
        flagged_at=conv.flagged_at,
        follow_until=conv.follow_until,
        first_activity=conv.first_activity,
        last_activity=conv.last_activity,
    )


class ThreadNodeOut(BaseModel):
    post: PostOut
    replies: list[ThreadNodeOut] = []


def thread_view(
    nodes: list[ThreadNode],
    scope: Scope,
    tags_of: dict[str, tuple[str, ...]],
    mask: Pseudonymiser,
    *,
    reveal: bool = False,
) -> list[ThreadNodeOut]:
    # Iterative, so a deep thread cannot exhaust the recursion limit.
    out: list[ThreadNodeOut] = []
    stack: list[tuple[ThreadNode, list[ThreadNodeOut]]] = [(n, out) for n in reversed(nodes)]
    while stack:
        node, into = stack.pop()
        view = ThreadNodeOut(post=post_view(node.post, scope, tags_of, mask, reveal=reveal))
        into.append(view)
        stack.extend((child, view.replies) for child in reversed(node.replies))
    return out


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    thread: list[ThreadNodeOut]
    truncated: bool = False


class ProblemOut(BaseModel):
    level: Literal["error", "warning"]
    field: str
    message: str
    start: int = 0
    end: int = 0


class RuleIn(BaseModel):
    """A rule as the editor sends it (see docs/rules.md for the query language)."""

    id: str = Field(..., min_length=1, max_length=200)
    query: str = Field(..., max_length=100_000)
    severity: Literal["info", "low", "medium", "high", "critical"] = "medium"
    name: str = Field("", max_length=10_000)
    description: str = Field("", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=100)
    owner: str = Field("", max_length=10_000)
    enabled: bool = True
    evasion: bool = False


class RuleSave(RuleIn):
    reason: str = Field("", max_length=2000, description="Why the rule changes (audited)")
    etag: str = Field("", max_length=64, description="The etag the editor loaded")


class RuleOut(RuleIn):
    file: str = ""
    line: int = 0
    version: int | None = None
    etag: str = ""


class ValidationOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class DryRunIn(RuleIn):
    days: float = Field(7, gt=0, le=366)


class DryRunExample(BaseModel):
    post: PostOut
    match: MatchOut


class DryRunOut(BaseModel):
    since: datetime
    scanned: int
    matched: int
    truncated: bool
    per_day: dict[str, int]
    compared: bool
    only_new: int
    only_old: int
    examples: list[DryRunExample]


class RuleTestIn(RuleIn):
    text: str = Field(..., max_length=100_000)
    lang: str = Field("", max_length=16)


class RuleTestOut(BaseModel):
    matched: bool
    match: MatchOut | None = None
    segments: list[tuple[str, bool]] = []


class RuleEditOut(BaseModel):
    id: int
    version: int
    at: datetime
    actor: str
    reason: str
    file: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class QueryVersionOut(BaseModel):
    version: int
    query: str
    created_at: datetime


class RuleHistoryOut(BaseModel):
    edits: list[RuleEditOut]
    versions: list[QueryVersionOut]


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    lang: str = ""
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    teams: list[str] = []


class UserIn(BaseModel):
    username: str = Field(..., min_length=1, max_length=64)
    role: Literal["admin", "analyst", "viewer"]
    password: str = Field(..., min_length=12, max_length=1024)
    display_name: str = Field("", max_length=200)


class UserPatch(BaseModel):
    role: Literal["admin", "analyst", "viewer"] | None = None
    disabled: bool | None = None
    display_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=12, max_length=1024)
    lang: Literal["fr", "nl", "en", ""] | None = None


class TokenIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    days: float | None = Field(90, gt=0, le=3660, description="Lifetime; null: no expiry")


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class NewTokenOut(TokenOut):
    token: str = Field(
        ..., description="The secret, shown once: send it as `Authorization: Bearer …`"
    )


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str
    detail: dict[str, Any]
    hash: str


class AuditVerifyOut(BaseModel):
    ok: bool
    entries: int
    head_id: int
    head_hash: str
    problem: str = ""


class MeOut(BaseModel):
    username: str
    role: str
    permissions: list[str]
    pseudonymous: bool
    watch_lists: list[str]
