"""Warnings for rule authors: rules that can never match, match almost everything, or cost
every post an evaluation. Errors are found by the parser and the file loader."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import product
from typing import Final, NamedTuple

from veille.rules.anchors import node_anchors
from veille.rules.files import Diagnostic, Sources
from veille.rules.parser import MIN_STEM, unparse
from veille.rules.query import And, Filter, Near, Not, Or, Prefix, Query, Words, walk
from veille.rules.rule import Rule

MAX_TRUTH_TABLE_VARIABLES: Final = 12
_SINGLE_VALUED: Final = ("lang", "platform", "author")


def _variables(node: Query) -> list[Query]:
    """The leaves of the boolean structure (atoms, filters, regexes, NEAR as a whole)."""
    if isinstance(node, And | Or):
        return [v for child in node.children for v in _variables(child)]
    if isinstance(node, Not):
        return _variables(node.child)
    return [node]


def _evaluate(node: Query, truth: dict[str, bool]) -> bool:
    if isinstance(node, And):
        return all(_evaluate(child, truth) for child in node.children)
    if isinstance(node, Or):
        return any(_evaluate(child, truth) for child in node.children)
    if isinstance(node, Not):
        return not _evaluate(node.child, truth)
    return truth[unparse(node)]


def _consistent(truth: dict[str, bool], leaves: dict[str, Query]) -> bool:
    """A post has one language, platform and author; a NEAR needs both of its sides."""
    seen: dict[str, str] = {}
    for key, value in truth.items():
        leaf = leaves[key]
        if isinstance(leaf, Words) and not leaf.words and value:
            return False
        if (
            value
            and isinstance(leaf, Filter)
            and leaf.field in _SINGLE_VALUED
            and seen.setdefault(leaf.field, leaf.value) != leaf.value
        ):
            return False
        if value and isinstance(leaf, Near):
            for side in (leaf.left, leaf.right):
                inner = {unparse(v): truth.get(unparse(v), False) for v in _variables(side)}
                if not _evaluate(side, inner):
                    return False
    return True


def _assignments(leaves: dict[str, Query], free: list[str]) -> Iterator[dict[str, bool]]:
    fixed = {k: False for k in leaves if k not in free}
    for values in product((False, True), repeat=len(free)):
        truth = dict(fixed)
        truth.update(zip(free, values, strict=True))
        yield truth


def _satisfiable(root: Query, leaves: dict[str, Query], free: list[str]) -> bool:
    return any(_consistent(t, leaves) and _evaluate(root, t) for t in _assignments(leaves, free))


class Finding(NamedTuple):
    """A warning about a rule and the characters ``[start, end)`` of its query it is about."""

    message: str
    start: int
    end: int


def findings(rule: Rule) -> list[Finding]:
    """Warnings about one rule, each with the part of the query it concerns."""
    out: list[Finding] = []
    root = rule.query.root
    whole = (0, len(rule.query.source))
    for node in walk(root):
        if isinstance(node, Words) and not node.words:
            message = f"{rule.query.text(node)} has no letters or digits: it can never match"
            out.append(Finding(message, node.start, node.end))
        if isinstance(node, Prefix) and len(node.stem) <= MIN_STEM:
            message = f"very broad wildcard {rule.query.text(node)}: it matches many common words"
            out.append(Finding(message, node.start, node.end))
    # Expand NEAR's sides into variables too, so the truth table can respect what NEAR needs.
    leaves: dict[str, Query] = {}
    for leaf in _variables(root):
        leaves[unparse(leaf)] = leaf
        if isinstance(leaf, Near):
            for side in (leaf.left, leaf.right):
                leaves.update((unparse(v), v) for v in _variables(side))
    positive = [k for k, v in leaves.items() if not isinstance(v, Filter)]
    filters = [k for k, v in leaves.items() if isinstance(v, Filter)]
    if len(leaves) <= MAX_TRUTH_TABLE_VARIABLES and not _satisfiable(root, leaves, list(leaves)):
        message = "this rule can never match (its conditions contradict each other)"
        out.append(Finding(message, *whole))
    elif not positive:
        message = "only filters and no term: it matches every post that passes them"
        out.append(Finding(message, *whole))
    elif len(filters) <= MAX_TRUTH_TABLE_VARIABLES and _satisfiable(root, leaves, filters):
        message = (
            "this rule matches posts containing none of its terms (NOT-only): "
            "it will flag almost everything"
        )
        negation = next((n for n in walk(root) if isinstance(n, Not)), None)
        out.append(Finding(message, *((negation.start, negation.end) if negation else whole)))
    elif positive and node_anchors(root) is None:
        message = (
            "no required word, phrase or hashtag: this rule is evaluated for every post "
            "(keep such rules rare)"
        )
        out.append(Finding(message, *whole))
    return out


def check_rule(rule: Rule) -> list[str]:
    """Warnings about one rule, as messages."""
    return [finding.message for finding in findings(rule)]


def check(rules: Iterable[Rule], texts: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """Warnings for every rule, each pointing at the part of its query it is about in the rule
    file (``texts``, by file name, else read again), or at the rule's line when not found."""
    sources = Sources(texts)
    return [
        sources.at_query("warning", finding.message, rule, finding.start, finding.end)
        for rule in rules
        for finding in findings(rule)
    ]
