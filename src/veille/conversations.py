"""Conversations: rebuild threads from reply ids, flag them when a rule matches, follow them.

Pure decision logic (no I/O, the time is passed in); the store loads the state it needs, calls
these functions inside its write transaction and persists the outcome.

Threads. Every post belongs to the conversation of its root, on its own platform. The root is
``Post.root_id`` when the platform gives it (Bluesky reply root, Reddit link id, X
``conversation_id``); otherwise it is the root of the parent (``Post.reply_to``, all that
Mastodon gives) as far as the store knows it, or the parent itself while the parent is unknown
(a *provisional* root). When that parent arrives later and turns out to be a reply itself, every
post provisionally rooted at it is *relinked* to the real root, and a flagged conversation under
the provisional root is merged into the real one. A post with neither id (RSS) is its own root.

Flagging. A conversation is flagged when one of its posts matches a rule. From then on, its
later posts are kept and counted even without a match while their activity time is within the
follow window (default 72 h) after the last match. The conversation tracks its matched rules,
post count, participants, and first and last activity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from veille.model import Post

Key = tuple[str, str]
"""``(platform, native id)`` of a post or of a conversation's root."""

DEFAULT_FOLLOW_WINDOW: Final = timedelta(hours=72)
_MAX_CHAIN: Final = 10_000


class Conversation(msgspec.Struct, kw_only=True):
    """A flagged conversation, as stored."""

    platform: str
    root: str
    flagged_at: datetime
    follow_until: datetime
    rules: frozenset[str] = frozenset()
    post_count: int = 0
    participants: int = 0
    first_activity: datetime | None = None
    last_activity: datetime | None = None
    id: int | None = None
    """The store's row id (``None`` until stored)."""

    @property
    def key(self) -> Key:
        return (self.platform, self.root)

    def follows(self, at: datetime) -> bool:
        """Whether a post active at ``at`` is within the follow window."""
        return at <= self.follow_until


class Threads(msgspec.Struct, frozen=True):
    """Where each post of a batch belongs, and which provisional roots must be relinked."""

    roots: list[str]
    """The conversation root (native id, same platform) of each post, in batch order."""
    relinks: dict[Key, str]
    """Posts (and a conversation) rooted at ``key`` now belong to root ``value``. Every post of
    the batch that is not a root is listed: the store applies the entries it has rows for."""


def activity_time(post: Post, now: datetime) -> datetime:
    """When a post counts as active: its creation time unless missing or in the future."""
    return active_at(post.created_at, post.received_at, now)


def active_at(created: datetime | None, received: datetime | None, now: datetime) -> datetime:
    """The first of ``created``, ``received`` that is known and not after ``now``, else ``now``.

    A naive time is taken as UTC. Clamping to ``now`` keeps a post dated in the future (a bad
    clock, or a hostile source) from stretching a follow window.
    """
    for value in (created, received):
        if value is not None:
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            if value <= now:
                return value
    return now


def participant(post: Post) -> str:
    """Who took part: the author id, else the handle, else empty (anonymous)."""
    return post.author.id or post.author.handle


def resolve_roots(posts: Sequence[Post], stored: Mapping[Key, str]) -> Threads:
    """The conversation root of each post, given the roots ``stored`` for already-known posts.

    ``stored`` maps ``(platform, native id)`` of stored posts (at least the parents named by
    ``reply_to``) to their stored root. Posts of the batch count as known to the posts after
    them, and a post arriving after its children relinks them.
    """
    known: dict[Key, str] = dict(stored)
    relinks: dict[Key, str] = {}

    def final(platform: str, root: str) -> str:
        for _ in range(_MAX_CHAIN):
            target = relinks.get((platform, root))
            if target is None:
                return root
            root = target
        raise ValueError(f"thread relink chain longer than {_MAX_CHAIN} at {platform}:{root}")

    roots: list[str] = []
    for post in posts:
        platform, native = post.platform, post.native_id
        if post.root_id:
            root = post.root_id
        elif post.reply_to:
            root = known.get((platform, post.reply_to), post.reply_to)
        else:
            root = native
        if (platform, root) in relinks:  # the root named is itself a reply (rare)
            root = final(platform, root)
        known[(platform, native)] = root
        if root != native:
            relinks[(platform, native)] = root
        roots.append(root)
    # Only the roots relinked since they were set need following again (the membership test
    # spares most posts a call: this runs for every post the store writes).
    return Threads(
        roots=[
            final(post.platform, root) if (post.platform, root) in relinks else root
            for post, root in zip(posts, roots, strict=True)
        ],
        relinks={key: final(key[0], root) for key, root in relinks.items()},
    )


def merge(into: Conversation | None, other: Conversation, root: str) -> Conversation:
    """The conversation ``other`` (under a provisional root) merged into ``into`` under ``root``.

    Counts are added as if the two threads were disjoint; the store recounts from the archive.
    """
    if into is None:
        return msgspec.structs.replace(other, root=root, id=None)
    return Conversation(
        platform=into.platform,
        root=root,
        flagged_at=min(into.flagged_at, other.flagged_at),
        follow_until=max(into.follow_until, other.follow_until),
        rules=into.rules | other.rules,
        post_count=into.post_count + other.post_count,
        participants=into.participants + other.participants,
        first_activity=_earliest(into.first_activity, other.first_activity),
        last_activity=_latest(into.last_activity, other.last_activity),
        id=into.id,
    )


class Activity(msgspec.Struct, frozen=True):
    """One post of a batch as the flagging logic sees it."""

    conversation: Key
    author: str
    at: datetime
    rules: frozenset[str]
    """Rules the post matched (empty: no match)."""
    new: bool = True
    """False for a post already stored (a duplicate or an edit): it is not counted again."""


class ArchiveStats(msgspec.Struct, frozen=True):
    """What the store already holds of a conversation that is not flagged yet."""

    post_count: int = 0
    first_activity: datetime | None = None
    last_activity: datetime | None = None


class Outcome(msgspec.Struct):
    """What to store for a batch."""

    keep: list[bool]
    """Whether each post is stored (always, under ``keep = "all"``)."""
    conversations: dict[Key, Conversation]
    """Every conversation the batch changed or flagged, in its new state."""
    flagged: list[Key]
    """Conversations flagged by this batch, in the order they were flagged."""
    joined: set[tuple[Key, str]]
    """``(conversation, participant)`` pairs seen in this batch (maybe known already)."""


def follow(
    activities: Sequence[Activity],
    flagged: Mapping[Key, Conversation],
    archive: Mapping[Key, ArchiveStats],
    *,
    now: datetime,
    window: timedelta = DEFAULT_FOLLOW_WINDOW,
    keep_all: bool = True,
) -> Outcome:
    """Flag and follow conversations through one batch, in arrival order.

    ``flagged`` holds the stored state of the batch's flagged conversations; ``archive`` the
    stored posts of the not-yet-flagged conversations in which a post of the batch matched.
    Inputs are not modified.
    """
    state: dict[Key, Conversation] = {}
    pending: dict[Key, _Pending] = {}
    new_flags: list[Key] = []
    joined: set[tuple[Key, str]] = set()
    keep: list[bool] = []
    for act in activities:
        key = act.conversation
        conv = state.get(key)
        if conv is None and key in flagged:
            conv = state[key] = msgspec.structs.replace(flagged[key])
        if conv is None and act.rules:
            earlier = pending.pop(key, None)
            conv = state[key] = _flag(key, archive.get(key), earlier, act, now)
            new_flags.append(key)
            if earlier is not None:
                joined.update((key, author) for author in earlier.authors)
        kept = keep_all or bool(act.rules) or (conv is not None and conv.follows(act.at))
        keep.append(kept)
        if not kept:
            continue
        if conv is None:
            # Not flagged (yet): remember the kept post in case a later one flags the thread.
            if act.new:
                pending.setdefault(key, _Pending()).add(act)
            continue
        if act.new:
            conv.post_count += 1
            conv.first_activity = _earliest(conv.first_activity, act.at)
            conv.last_activity = _latest(conv.last_activity, act.at)
        if act.author:
            joined.add((key, act.author))
        if act.rules:
            conv.rules = conv.rules | act.rules
            conv.follow_until = max(conv.follow_until, act.at + window)
    return Outcome(keep=keep, conversations=state, flagged=new_flags, joined=joined)


class _Pending:
    """Kept posts of a not-yet-flagged conversation earlier in the same batch."""

    __slots__ = ("authors", "count", "first", "last")

    def __init__(self) -> None:
        self.count = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.authors: list[str] = []

    def add(self, act: Activity) -> None:
        self.count += 1
        self.first = _earliest(self.first, act.at)
        self.last = _latest(self.last, act.at)
        if act.author:
            self.authors.append(act.author)


def _flag(
    key: Key,
    stats: ArchiveStats | None,
    earlier: _Pending | None,
    act: Activity,
    now: datetime,
) -> Conversation:
    """A conversation flagged now, counting what was stored before and earlier in the batch."""
    stats = stats or ArchiveStats()
    conv = Conversation(
        platform=key[0],
        root=key[1],
        flagged_at=now,
        follow_until=act.at,
        post_count=stats.post_count,
        first_activity=stats.first_activity,
        last_activity=stats.last_activity,
    )
    if earlier is not None:
        conv.post_count += earlier.count
        conv.first_activity = _earliest(conv.first_activity, earlier.first)
        conv.last_activity = _latest(conv.last_activity, earlier.last)
    return conv


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a >= b else b
