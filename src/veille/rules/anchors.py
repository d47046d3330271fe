"""Anchors: literal terms at least one of which every post matching a query must contain.

This is the Lucene Monitor "presearcher" idea. The matcher indexes each rule under its anchors
and evaluates a rule only when its anchors show up in a post; the store's archive search uses
the same anchors as a full-text prefilter, then verifies candidates with the real matcher.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from veille.rules.frequent import FREQUENT
from veille.rules.query import And, Hashtag, Mention, Near, Or, Parsed, Prefix, Query, Words

AnchorKind = Literal["words", "prefix", "hashtag", "mention"]
_BASE_COST: dict[str, float] = {"prefix": 4.0, "words": 2.0, "hashtag": 1.0, "mention": 1.0}


class Anchor(msgspec.Struct, frozen=True, order=True, gc=False):
    """A literal a matching post contains: folded ``words`` (space-separated, a phrase when
    several), a word ``prefix``, a ``hashtag`` (without ``#``) or a ``mention`` (with ``@``)."""

    kind: AnchorKind
    text: str

    @property
    def cost(self) -> float:
        """Rough guess of how often the literal occurs: short and wildcard literals are common."""
        base = _BASE_COST[self.kind]
        if self.kind == "words" and " " in self.text:
            words = self.text.split(" ")
            base = 10.0 if all(w in FREQUENT for w in words) else 0.5
        elif self.text in FREQUENT:
            base *= 10.0
        return base / min(max(len(self.text), 1), 8)


def _cost(anchors: frozenset[Anchor]) -> float:
    return sum(a.cost for a in anchors)


def node_anchors(node: Query) -> frozenset[Anchor] | None:
    """Anchors of a node: ``None`` when it can match without any literal (NOT, filters,
    regex), an empty set when it can never match (a term with no letters or digits)."""
    # One class per isinstance test (a ``A | B`` union is built anew at every call): this runs
    # over every node of a catalogue at each build.
    if isinstance(node, Words):
        return frozenset([Anchor("words", " ".join(node.words))]) if node.words else frozenset()
    if isinstance(node, Prefix):
        return frozenset([Anchor("prefix", node.stem)])
    if isinstance(node, Hashtag):
        return frozenset([Anchor("hashtag", node.tag)])
    if isinstance(node, Mention):
        return frozenset([Anchor("mention", node.handle)])
    if isinstance(node, Or):
        union: set[Anchor] = set()
        for child in node.children:
            sub = node_anchors(child)
            if sub is None:
                return None
            union |= sub
        return frozenset(union)
    if isinstance(node, And):
        children: tuple[Query, ...] = node.children
    elif isinstance(node, Near):
        children = (node.left, node.right)
    else:  # NOT, filters and regexes need no literal
        return None
    options = [a for a in map(node_anchors, children) if a is not None]
    if len(options) < 2:
        return options[0] if options else None
    return min(options, key=_cost)


def anchors(query: Parsed) -> frozenset[Anchor] | None:
    """Anchors of a whole query (see :func:`node_anchors`)."""
    return node_anchors(query.root)
