"""Warnings for rule authors: rules that can never match, match almost everything, or cost
every post an evaluation. Errors are found by the parser and the file loader."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import product
from typing import Final

from veille.rules.anchors import node_anchors
from veille.rules.files import Diagnostic
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


def check_rule(rule: Rule) -> list[str]:
    """Warnings about one rule, as messages."""
    warnings: list[str] = []
    root = rule.query.root
    for node in walk(root):
        if isinstance(node, Words) and not node.words:
            warnings.append(f"{rule.query.text(node)} has no letters or digits: it can never match")
        if isinstance(node, Prefix) and len(node.stem) <= MIN_STEM:
            warnings.append(
                f"very broad wildcard {rule.query.text(node)}: it matches many common words"
            )
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
        warnings.append("this rule can never match (its conditions contradict each other)")
    elif not positive:
        warnings.append("only filters and no term: it matches every post that passes them")
    elif len(filters) <= MAX_TRUTH_TABLE_VARIABLES and _satisfiable(root, leaves, filters):
        warnings.append(
            "this rule matches posts containing none of its terms (NOT-only): "
            "it will flag almost everything"
        )
    elif positive and node_anchors(root) is None:
        warnings.append(
            "no required word, phrase or hashtag: this rule is evaluated for every post "
            "(keep such rules rare)"
        )
    return warnings


def check(rules: Iterable[Rule]) -> list[Diagnostic]:
    """Warnings for every rule, located at the rule's definition."""
    out: list[Diagnostic] = []
    for rule in rules:
        for message in check_rule(rule):
            out.append(
                Diagnostic("warning", message, rule.file or "<rules>", rule.line, rule=rule.id)
            )
    return out
