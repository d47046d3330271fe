"""Conversation velocity: posts per minute of a post's conversation over a recent window.

Urgency amplifies a post that already scored when its conversation is moving fast. The count is
kept in this process, keyed by conversation root, in bounded memory:

* the root of a post is ``root_id`` when the platform gives it, else the root already seen for
  its parent (``reply_to``), else the parent itself — the same rule as :mod:`veille.conversations`
  but over the posts this process has seen, not the store;
* time is the post's activity time (creation, else reception, never after the clock), so a
  replayed stream gets the velocities it had when it was live;
* a post seen twice (an edit, a redelivery) and a deletion do not count again;
* at most ``max_conversations`` conversations and ``max_posts`` remembered post ids are kept
  (least recently active forgotten first), and at most ``max_per_conversation`` times per
  conversation (the oldest dropped), so a hostile flood cannot grow memory.

Pure apart from that state: no I/O, an injectable clock.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from datetime import timedelta

from veille.clock import Clock, utcnow
from veille.conversations import Key, activity_time
from veille.model import Post


class ConversationVelocity:
    """Call with each post in stream order; returns its conversation's posts per minute."""

    def __init__(
        self,
        window: timedelta = timedelta(minutes=5),
        *,
        max_conversations: int = 100_000,
        max_posts: int = 200_000,
        max_per_conversation: int = 1_000,
        clock: Clock = utcnow,
    ) -> None:
        if window <= timedelta(0):
            raise ValueError(f"velocity window must be positive, not {window}")
        self.window = window
        self.max_conversations = max_conversations
        self.max_posts = max_posts
        self.max_per_conversation = max_per_conversation
        self.clock = clock
        self._minutes = window.total_seconds() / 60
        self._roots: OrderedDict[Key, str] = OrderedDict()
        """Post → its conversation root, for the posts seen (replies find their root here)."""
        self._times: OrderedDict[Key, list[float]] = OrderedDict()
        """Conversation → sorted activity times (POSIX seconds) of its recent posts."""

    def __len__(self) -> int:
        """How many conversations are tracked."""
        return len(self._times)

    def root(self, post: Post) -> str:
        """The conversation root of ``post`` as far as this process knows."""
        if post.root_id:
            return post.root_id
        if post.reply_to:
            return self._roots.get((post.platform, post.reply_to), post.reply_to)
        return post.native_id

    def __call__(self, post: Post) -> float:
        """Record ``post`` and return its conversation's posts per minute over the window that
        ends at the post's activity time (the post itself included)."""
        key = (post.platform, post.native_id)
        seen = key in self._roots
        root = self._roots[key] if seen else self.root(post)
        conversation = (post.platform, root)
        at = activity_time(post, self.clock()).timestamp()
        times = self._times.get(conversation)
        if times is None:
            times = self._times[conversation] = []
        else:
            self._times.move_to_end(conversation)
        if not seen and not post.deleted:
            self._remember(key, root)
            bisect.insort(times, at)
            # Times older than the window before the newest can no longer count.
            del times[: bisect.bisect_right(times, times[-1] - self.window.total_seconds())]
            if len(times) > self.max_per_conversation:
                del times[: len(times) - self.max_per_conversation]
        while len(self._times) > self.max_conversations:
            self._times.popitem(last=False)
        start = at - self.window.total_seconds()
        count = bisect.bisect_right(times, at) - bisect.bisect_right(times, start)
        return round(count / self._minutes, 2)

    def _remember(self, key: Key, root: str) -> None:
        self._roots[key] = root
        if len(self._roots) > self.max_posts:
            self._roots.popitem(last=False)
