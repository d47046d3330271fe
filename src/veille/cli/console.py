"""The live console of ``veille run`` and ``veille demo``: counters, latest matches, flagged
conversations. An after-store hook of the pipeline, so it shows only what is stored.

Post text is hostile input: it is shown as plain text (never as markup) with control
characters made visible, so no post can drive the terminal.
"""

from __future__ import annotations

import time
import unicodedata
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from veille.model import Match, Post
from veille.pipeline import Stats, Stored

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


@dataclass(frozen=True)
class RuleInfo:
    """What the console shows of a rule."""

    severity: str = "medium"
    name: str = ""


@dataclass(frozen=True)
class ConversationLine:
    """One flagged conversation as the console lists it."""

    key: str
    rules: Sequence[str]
    posts: int
    participants: int
    last_activity: datetime | None


def safe(text: str, limit: int = 10_000) -> str:
    """``text`` with line breaks as spaces and other control characters made visible."""
    out = []
    for char in text[:limit]:
        if char in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cf") and char not in "\u200d":
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


def highlighted(post: Post, matches: Sequence[Match], width: int = 90) -> Text:
    """The post's text with matched spans in bold, cut around the first match."""
    spans = sorted({span for m in matches for span in m.spans})
    start = max(0, spans[0][0] - 20) if spans and len(post.text) > width else 0
    text = Text(safe(post.text[start : start + width]))
    for begin, end in spans:
        if begin >= start and end <= start + width:
            text.stylize("bold reverse", begin - start, end - start)
    if start:
        text = Text("…") + text
    if len(post.text) > start + width:
        text.append("…")
    return text


class LiveConsole:
    """Collects what each commit stored and renders it; use as an after-store hook."""

    def __init__(
        self,
        stats: Stats,
        rules: Mapping[str, RuleInfo],
        conversations: Callable[[], list[ConversationLine]],
        *,
        console: Console | None = None,
        plain: bool | None = None,
        latest: int = 12,
    ) -> None:
        self.stats = stats
        self.rules = rules
        self.fetch_conversations = conversations
        self.console = console or Console()
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.latest: deque[tuple[Post, Sequence[Match]]] = deque(maxlen=latest)
        self.conversations: list[ConversationLine] = []
        self.flagged_total = 0
        self._fetched = 0.0
        self._live: Live | None = None

    def __enter__(self) -> LiveConsole:
        if not self.plain:
            self._live = Live(
                get_renderable=self.render, console=self.console, refresh_per_second=4
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._refresh_conversations(force=True)
            self._live.__exit__(None, None, None)
            self._live = None
        # One line however narrow the terminal (or pipe): a wrapped summary splits its counts
        # from their names where the rate's width happens to put the edge.
        self.console.print(self.summary(), soft_wrap=True)

    def __call__(self, stored: Stored) -> None:
        lines: list[str] = []
        for post, matches in zip(stored.posts, stored.matches, strict=True):
            if matches:
                self.latest.append((post, matches))
                if self.plain:
                    lines.append(self._match_line(post, matches).plain)
        self.flagged_total += len(stored.flagged)
        if self.plain:
            lines += [f"flagged conversation {p}:{safe(root)}" for p, root in stored.flagged]
            if lines:
                # Plain lines skip rich's layout engine: a busy stream prints thousands.
                self.console.file.write("\n".join(lines) + "\n")
                self.console.file.flush()
        else:
            self._refresh_conversations()

    def _refresh_conversations(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._fetched > 1.0:
            self._fetched = now
            self.conversations = self.fetch_conversations()

    def summary(self) -> Text:
        """One line of counters."""
        s = self.stats
        return Text(
            f"{s.stored:,} posts stored ({s.rate:,.0f}/s) · {s.matched_posts:,} matched "
            f"({s.matches:,} matches) · {self.flagged_total:,} conversations flagged · "
            f"{s.quarantined:,} quarantined"
        )

    def _match_line(self, post: Post, matches: Sequence[Match]) -> Text:
        line = Text()
        worst = self._worst(matches)
        line.append(f"[{worst}] ", style=SEVERITY_STYLE.get(worst, ""))
        line.append(", ".join(m.rule for m in matches), style="bold")
        line.append(f" {post.lang or '?'} @{safe(post.author.handle, 60)}: ")
        return line + highlighted(post, matches)

    def _worst(self, matches: Sequence[Match]) -> str:
        order = list(SEVERITY_STYLE)
        return min((self.rules.get(m.rule, RuleInfo()).severity for m in matches), key=order.index)

    def render(self) -> RenderableType:
        """Counters, the latest matches and the flagged conversations."""
        matches = Table(title="Latest matches", expand=True, title_justify="left")
        matches.add_column("severity", no_wrap=True)
        matches.add_column("rule", no_wrap=True)
        matches.add_column("lang", no_wrap=True)
        matches.add_column("author", no_wrap=True, max_width=18)
        matches.add_column("text", ratio=1)
        for post, found in reversed(self.latest):
            worst = self._worst(found)
            matches.add_row(
                Text(worst, style=SEVERITY_STYLE.get(worst, "")),
                Text("\n".join(m.rule for m in found)),
                Text(post.lang or "?"),
                Text("@" + safe(post.author.handle, 60)),
                highlighted(post, found),
            )
        conversations = Table(title="Flagged conversations", expand=True, title_justify="left")
        conversations.add_column("conversation", no_wrap=True)
        conversations.add_column("rules", ratio=1)
        conversations.add_column("posts", justify="right")
        conversations.add_column("people", justify="right")
        conversations.add_column("last activity", no_wrap=True)
        for c in self.conversations:
            last = c.last_activity.strftime("%H:%M:%S") if c.last_activity else "?"
            conversations.add_row(
                Text(safe(c.key, 60)),
                Text(", ".join(c.rules)),
                str(c.posts),
                str(c.participants),
                last,
            )
        return Group(self.summary(), matches, conversations)
