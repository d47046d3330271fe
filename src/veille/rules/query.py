"""The parsed form of a watch-rule query: a small tree of frozen nodes.

Every node remembers where it came from in the query text (``start``/``end`` offsets), so that
errors point at the fault and every match can say which term matched where. Words are stored
already folded (:func:`veille.normalise.fold.fold_word`), exactly as the matcher compares them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

FilterField = Literal["lang", "platform", "author", "domain"]
FILTER_FIELDS: tuple[FilterField, ...] = ("lang", "platform", "author", "domain")


# msgspec Structs rather than frozen dataclasses: a 100,000-rule catalogue builds some 300,000
# nodes, and these are five times cheaper to create. gc=False is safe: trees are built bottom-up
# from immutable parts, so they never hold a reference cycle.
class Node(msgspec.Struct, frozen=True, gc=False):
    """Base of every query node: its ``[start, end)`` range in the query text."""

    start: int
    end: int


class Words(Node, frozen=True, gc=False):
    """A term (one word) or a ``"phrase"`` (consecutive words), folded; also matches hashtags."""

    words: tuple[str, ...]


class Prefix(Node, frozen=True, gc=False):
    """``stem*``: any word starting with the folded stem."""

    stem: str


class Hashtag(Node, frozen=True, gc=False):
    """``#tag``: only that hashtag (folded, stored without ``#``)."""

    tag: str


class Mention(Node, frozen=True, gc=False):
    """``@handle``: only that mention (folded, stored with its ``@``)."""

    handle: str


class Filter(Node, frozen=True, gc=False):
    """``lang:fr``, ``platform:bluesky``, ``author:handle``, ``domain:example.org``."""

    field: FilterField
    value: str


class Regex(Node, frozen=True, gc=False):
    """``/pattern/``: a google-re2 regular expression, case-insensitive, on the original text."""

    pattern: str


class And(Node, frozen=True, gc=False):
    children: tuple[Query, ...]


class Or(Node, frozen=True, gc=False):
    children: tuple[Query, ...]


class Not(Node, frozen=True, gc=False):
    child: Query


class Near(Node, frozen=True, gc=False):
    """``a NEAR/n b`` (either order) or ``a ONEAR/n b`` (a first): at most n words between."""

    left: Positional
    right: Positional
    distance: int
    ordered: bool


Atom = Words | Prefix | Hashtag | Mention
"""Nodes that match at word positions."""
Positional = Atom | Or
"""What may stand on either side of NEAR: an atom, or an OR group of atoms."""
Query = Atom | Filter | Regex | And | Or | Not | Near


class Parsed(msgspec.Struct, frozen=True, gc=False):
    """A parsed query with its source text (terms are explained by their text in the query)."""

    source: str
    root: Query

    def text(self, node: Node) -> str:
        """The query text a node was parsed from (``flic*``, ``"exact phrase"`` …)."""
        return self.source[node.start : node.end]


def atoms(node: Query) -> list[Atom]:
    """Every word-position node under ``node``, in query order."""
    if isinstance(node, Words | Prefix | Hashtag | Mention):
        return [node]
    if isinstance(node, And | Or):
        return [a for child in node.children for a in atoms(child)]
    if isinstance(node, Not):
        return atoms(node.child)
    if isinstance(node, Near):
        return atoms(node.left) + atoms(node.right)
    return []


def walk(node: Query) -> list[Query]:
    """``node`` and all nodes below it, depth first."""
    out: list[Query] = [node]
    if isinstance(node, And | Or):
        for child in node.children:
            out += walk(child)
    elif isinstance(node, Not):
        out += walk(node.child)
    elif isinstance(node, Near):
        out += walk(node.left) + walk(node.right)
    return out
