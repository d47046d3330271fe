"""Turn parsed queries into small evaluator trees, evaluated on the folded tokens of one post.

Only candidate rules get here (the prefilter found one of their anchors). Each word-position
atom first tests its literal (``" word "``, ``" a phrase "``, ``" stem"``, ``" @handle "``)
against the scan string with one substring search, so absent atoms cost almost nothing; present
ones list their token positions (and, in evasion rules, positions in the evasion view). Boolean
nodes combine those; NEAR compares token positions; ``explain`` lists where each term matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import re2

from veille.model import Post, Span
from veille.normalise.fold import Folded
from veille.normalise.fold_evasion import EvasionView, skeleton
from veille.rules.parser import regex_options
from veille.rules.query import (
    And,
    Filter,
    Hashtag,
    Mention,
    Near,
    Not,
    Or,
    Parsed,
    Positional,
    Prefix,
    Query,
    Regex,
    Words,
)

Occurrence = tuple[int, int, int, int]
"""``(first token, last token, start char, end char)``: token indices for NEAR, chars to show."""
MAX_REGEX_SPANS = 100
_URL = re2.compile(r"https?://[^\s/?#<>\"']+", regex_options())


class Context:
    """What evaluating rules against one post needs: the post, its fold, its evasion view."""

    __slots__ = ("_ev_tokens", "_hosts", "evasion", "folded", "post")

    def __init__(self, post: Post, folded: Folded, evasion: EvasionView | None) -> None:
        self.post = post
        self.folded = folded
        self.evasion = evasion
        self._ev_tokens: list[str] | None = None
        self._hosts: set[str] | None = None

    def evasion_tokens(self) -> list[str]:
        if self._ev_tokens is None:
            scan = self.evasion.scan if self.evasion is not None else " "
            self._ev_tokens = scan[1:-1].split(" ") if len(scan) > 1 else []
        return self._ev_tokens

    def hosts(self) -> set[str]:
        """Host names of the post's links and of URLs written in its text (lower case)."""
        if self._hosts is None:
            hosts = set()
            urls = list(self.post.links) + [m.group(0) for m in _URL.finditer(self.post.text)]
            for url in urls:
                try:
                    host = urlsplit(url).hostname
                except ValueError:
                    continue
                if host:
                    hosts.add(host.rstrip("."))
            self._hosts = hosts
        return self._hosts


class Literals:
    """Distinct literal strings → ids (the prefilter's pattern table)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def id(self, literal: str) -> int:
        found = self.ids.get(literal)
        if found is None:
            found = self.ids[literal] = len(self.ids)
        return found

    @property
    def patterns(self) -> list[str]:
        return list(self.ids)


class Node:
    """An evaluator: ``test`` says whether it holds; ``explain`` adds term spans."""

    __slots__ = ()

    def test(self, ctx: Context) -> bool:
        raise NotImplementedError

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        raise NotImplementedError


def evasion_literal(node: Words | Prefix) -> str:
    """The prefilter literal of a word or prefix in the evasion view."""
    if isinstance(node, Words):
        return " " + " ".join(skeleton(w) for w in node.words) + " "
    return " " + skeleton(node.stem)


def _starts(tokens: Sequence[str], words: tuple[str, ...]) -> list[int]:
    """Where the consecutive ``words`` start in ``tokens``."""
    first, k = words[0], len(words)
    if k == 1:
        return [i for i, t in enumerate(tokens) if t == first]
    return [i for i, t in enumerate(tokens) if t == first and tuple(tokens[i : i + k]) == words]


class Atom(Node):
    """A word-position node: words (a term or phrase), a prefix, a hashtag or a mention."""

    __slots__ = (
        "ev_literal",
        "ev_prefix",
        "ev_words",
        "evasion",
        "hashtag",
        "label",
        "literal",
        "prefix",
        "width",
        "words",
    )

    def __init__(self, label: str, node: Words | Prefix | Hashtag | Mention, evasion: bool):
        self.label = label
        self.prefix: str | None = None
        self.hashtag = False
        words: tuple[str, ...]
        if isinstance(node, Words):
            words = node.words
        elif isinstance(node, Prefix):
            words = ()
            self.prefix = node.stem
        elif isinstance(node, Hashtag):
            words = (node.tag,)
            self.hashtag = True
        else:
            words = (node.handle,)
        self.words = words
        self.width = len(words) or 1
        # Substring tests on the scan strings reject absent atoms before any Python loop.
        if self.prefix is not None:
            self.literal = " " + self.prefix
        else:
            self.literal = " " + " ".join(words) + " "
        self.evasion = evasion and not isinstance(node, Hashtag | Mention)
        if self.evasion:
            self.ev_words = tuple(skeleton(w) for w in words)
            self.ev_prefix = skeleton(self.prefix) if self.prefix is not None else None
            self.ev_literal = evasion_literal(node)  # type: ignore[arg-type]

    def occurrences(self, ctx: Context) -> list[Occurrence]:
        f = ctx.folded
        out: list[Occurrence] = []
        last = self.width - 1
        if self.literal in f.scan:
            tokens = f.tokens
            if self.prefix is not None:
                stem = self.prefix
                starts = [i for i, t in enumerate(tokens) if t.startswith(stem)]
            else:
                starts = _starts(tokens, self.words)
                if self.hashtag:
                    starts = [i for i in starts if i in f.hashtags]
            spans = f.spans
            out = [(i, i + last, spans[i][0], spans[i + last][1]) for i in starts]
        view = ctx.evasion
        if self.evasion and view is not None and self.ev_literal in view.scan:
            words = ctx.evasion_tokens()
            if self.ev_prefix is not None:
                stem = self.ev_prefix
                ev_starts = [i for i, t in enumerate(words) if t.startswith(stem)]
            else:
                ev_starts = _starts(words, self.ev_words)
            for i in ev_starts:
                occ = (
                    view.ranges[i][0],
                    view.ranges[i + last][1],
                    view.spans[i][0],
                    view.spans[i + last][1],
                )
                if occ not in out:
                    out.append(occ)
        return out

    def test(self, ctx: Context) -> bool:
        return bool(self.occurrences(ctx))

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        out.setdefault(self.label, []).extend((o[2], o[3]) for o in self.occurrences(ctx))


class Group(Node):
    """An OR group standing on one side of NEAR: occurrences of any member."""

    __slots__ = ("members",)

    def __init__(self, members: list[Atom | Group]) -> None:
        self.members = members

    def atoms(self) -> list[Atom]:
        out: list[Atom] = []
        for m in self.members:
            out += m.atoms() if isinstance(m, Group) else [m]
        return out

    def test(self, ctx: Context) -> bool:
        return any(a.test(ctx) for a in self.atoms())

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        for a in self.atoms():
            a.explain(ctx, out)


class AllOf(Node):
    __slots__ = ("children",)

    def __init__(self, children: list[Node]) -> None:
        self.children = children

    def test(self, ctx: Context) -> bool:
        return all(c.test(ctx) for c in self.children)

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        for c in self.children:
            c.explain(ctx, out)


class AnyOf(Node):
    __slots__ = ("children",)

    def __init__(self, children: list[Node]) -> None:
        self.children = children

    def test(self, ctx: Context) -> bool:
        return any(c.test(ctx) for c in self.children)

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        for c in self.children:
            if c.test(ctx):
                c.explain(ctx, out)


class NoneOf(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child

    def test(self, ctx: Context) -> bool:
        return not self.child.test(ctx)

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        return None


class Close(Node):
    """NEAR/ONEAR: an occurrence of each side, not overlapping, at most n words between."""

    __slots__ = ("distance", "left", "ordered", "right")

    def __init__(self, left: Atom | Group, right: Atom | Group, distance: int, ordered: bool):
        self.left = left.atoms() if isinstance(left, Group) else [left]
        self.right = right.atoms() if isinstance(right, Group) else [right]
        self.distance = distance
        self.ordered = ordered

    def _close(self, a: Occurrence, b: Occurrence) -> bool:
        if a[1] < b[0]:
            return b[0] - a[1] - 1 <= self.distance
        if not self.ordered and b[1] < a[0]:
            return a[0] - b[1] - 1 <= self.distance
        return False

    def _pairs(self, ctx: Context) -> Iterable[tuple[Atom, Occurrence, Atom, Occurrence]]:
        lefts = [(atom, o) for atom in self.left for o in atom.occurrences(ctx)]
        if not lefts:
            return
        rights = [(atom, o) for atom in self.right for o in atom.occurrences(ctx)]
        for la, lo in lefts:
            for ra, ro in rights:
                if self._close(lo, ro):
                    yield la, lo, ra, ro

    def test(self, ctx: Context) -> bool:
        return any(True for _ in self._pairs(ctx))

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        for la, lo, ra, ro in self._pairs(ctx):
            for atom, occ in ((la, lo), (ra, ro)):
                spans = out.setdefault(atom.label, [])
                if (occ[2], occ[3]) not in spans:
                    spans.append((occ[2], occ[3]))


class FieldIs(Node):
    __slots__ = ("field", "value")

    def __init__(self, node: Filter) -> None:
        self.field = node.field
        self.value = node.value

    def test(self, ctx: Context) -> bool:
        post = ctx.post
        if self.field == "lang":
            lang = (post.lang or post.lang_hint).lower()
            return lang == self.value or lang.startswith(self.value + "-")
        if self.field == "platform":
            return post.platform.lower() == self.value
        if self.field == "author":
            return post.author.handle.lower().removeprefix("@") == self.value
        return any(h == self.value or h.endswith("." + self.value) for h in ctx.hosts())

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        return None


class Pattern(Node):
    """A re2 regular expression on the original text."""

    __slots__ = ("label", "regex")

    def __init__(self, label: str, node: Regex) -> None:
        self.label = label
        self.regex = re2.compile(node.pattern, regex_options())

    def test(self, ctx: Context) -> bool:
        return self.regex.search(ctx.post.text) is not None

    def explain(self, ctx: Context, out: dict[str, list[Span]]) -> None:
        spans = out.setdefault(self.label, [])
        for m in self.regex.finditer(ctx.post.text):
            if m.end() > m.start():
                spans.append(m.span())
            if len(spans) >= MAX_REGEX_SPANS:
                break


_OTHER_ATOMS = (Prefix, Hashtag, Mention)


def compile_query(query: Parsed, node: Query, evasion: bool) -> Node:
    """An evaluator for ``node`` of ``query``."""
    # One class per isinstance test (a ``A | B`` union is built anew at every call): this runs
    # over every node of a catalogue at each build.
    if isinstance(node, Words):
        if not node.words:
            return AnyOf([])  # a term with no word in it never matches
        return Atom(query.source[node.start : node.end], node, evasion)
    if isinstance(node, _OTHER_ATOMS):
        return Atom(query.source[node.start : node.end], node, evasion)
    if isinstance(node, And):
        return AllOf([compile_query(query, c, evasion) for c in node.children])
    if isinstance(node, Or):
        return AnyOf([compile_query(query, c, evasion) for c in node.children])
    if isinstance(node, Not):
        return NoneOf(compile_query(query, node.child, evasion))
    if isinstance(node, Near):
        left = _positional(query, node.left, evasion)
        right = _positional(query, node.right, evasion)
        return Close(left, right, node.distance, node.ordered)
    if isinstance(node, Filter):
        return FieldIs(node)
    return Pattern(query.text(node), node)


def _positional(query: Parsed, node: Positional, evasion: bool) -> Atom | Group:
    if isinstance(node, Or):
        return Group([_positional(query, c, evasion) for c in node.children])  # type: ignore[arg-type]
    if isinstance(node, Words) and not node.words:
        return Group([])
    return Atom(query.text(node), node, evasion)
