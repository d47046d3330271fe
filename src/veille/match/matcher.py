"""The compiled matcher: every rule of a catalogue in one prefilter plus small evaluators.

Per post: one scan of the folded text finds every rule literal present; only the rules
indexed under a literal that occurred (their *anchors*, see :mod:`veille.rules.anchors`) are
evaluated, plus the rare rules without any required literal. A post without any literal of the
catalogue costs one scan and nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from veille.model import Match, Post, Span
from veille.normalise.fold import Folded, fold
from veille.normalise.fold_evasion import evasion_view
from veille.rules.anchors import Anchor, node_anchors
from veille.rules.bulk import collector_paused
from veille.rules.query import Prefix, Words
from veille.rules.rule import Rule
from veille.rules.versions import MemoryVersionRegistry, VersionRegistry

from .compile import Context, Literals, Node, compile_query, evasion_literal
from .prefilter import Engine, build_scanner


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    version: int
    node: Node


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sort spans and merge the ones that overlap or touch."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((s, e) for s, e in out)


class Matcher:
    """All enabled rules of a catalogue compiled into one matcher (immutable once built)."""

    def __init__(
        self,
        rules: Sequence[Rule],
        registry: VersionRegistry | None = None,
        engine: Engine = "daachorse",
    ) -> None:
        with collector_paused():
            self._build([r for r in rules if r.enabled], registry, engine)

    def _build(self, enabled: list[Rule], registry: VersionRegistry | None, engine: Engine) -> None:
        versions = (registry or MemoryVersionRegistry()).assign(
            (r.id, r.query.source) for r in enabled
        )
        self.rules: list[_Compiled] = []
        # One automaton over the anchor literals of every rule: a post that contains none
        # costs one scan. Evasion literals live in a second automaton over the evasion view.
        anchors_ = Literals()
        evasion_anchors = Literals()
        by_anchor: list[list[int]] = []
        by_evasion_anchor: list[list[int]] = []
        self._always: list[int] = []
        self._has_evasion = False
        for index, rule in enumerate(enabled):
            node = compile_query(rule.query, rule.query.root, rule.evasion)
            self.rules.append(_Compiled(rule, versions[rule.id], node))
            self._has_evasion = self._has_evasion or rule.evasion
            found = node_anchors(rule.query.root)
            if found is None:
                self._always.append(index)
                continue
            for anchor in found:
                _index(by_anchor, anchors_.id(_anchor_literal(anchor)), index)
                if rule.evasion and anchor.kind in ("words", "prefix"):
                    literal = evasion_literal(_anchor_node(anchor))
                    _index(by_evasion_anchor, evasion_anchors.id(literal), index)
        self._by_anchor = by_anchor
        self._by_evasion_anchor = by_evasion_anchor
        self._scanner = build_scanner(anchors_.patterns, engine)
        self._evasion_scanner = build_scanner(evasion_anchors.patterns, engine)
        self.literal_count = len(anchors_.ids) + len(evasion_anchors.ids)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def unanchored(self) -> list[str]:
        """Ids of the rules evaluated for every post (no required literal)."""
        return [self.rules[i].rule.id for i in self._always]

    def match(self, post: Post, folded: Folded | None = None) -> list[Match]:
        """Every rule the post matches, with merged spans and per-term spans (original text)."""
        f = folded if folded is not None else fold(post.text)
        candidates: set[int] = set()
        by_anchor = self._by_anchor
        for _start, _end, literal in self._scanner.scan(f.scan):
            candidates.update(by_anchor[literal])
        evasion = None
        if self._has_evasion:
            evasion = evasion_view(post.text, f)
            by_anchor = self._by_evasion_anchor
            for _start, _end, literal in self._evasion_scanner.scan(evasion.scan):
                candidates.update(by_anchor[literal])
        if not candidates and not self._always:
            return []
        candidates.update(self._always)
        ctx = Context(post, f, evasion)
        out: list[Match] = []
        for index in sorted(candidates):
            compiled = self.rules[index]
            if compiled.node.test(ctx):
                terms: dict[str, list[Span]] = {}
                compiled.node.explain(ctx, terms)
                out.append(
                    Match(
                        rule=compiled.rule.id,
                        version=compiled.version,
                        spans=merge_spans(s for spans in terms.values() for s in spans),
                        terms={k: tuple(sorted(set(v))) for k, v in terms.items() if v},
                    )
                )
        return out


def _index(table: list[list[int]], literal: int, rule: int) -> None:
    if literal == len(table):
        table.append([])
    table[literal].append(rule)


def _anchor_literal(anchor: Anchor) -> str:
    if anchor.kind == "prefix":
        return " " + anchor.text
    return " " + anchor.text + " "


def _anchor_node(anchor: Anchor) -> Words | Prefix:
    if anchor.kind == "prefix":
        return Prefix(0, 0, anchor.text)
    return Words(0, 0, tuple(anchor.text.split(" ")))


class MatcherHolder:
    """Holds the current matcher; a rebuild happens off the hot path and swaps in whole.

    Readers take one reference per post (``holder.current``), so a post is never matched
    against half of an old and half of a new catalogue.
    """

    def __init__(self, matcher: Matcher) -> None:
        self.current = matcher
        self._lock = threading.Lock()

    def match(self, post: Post, folded: Folded | None = None) -> list[Match]:
        """Match with whichever complete matcher is current when the call starts."""
        return self.current.match(post, folded)

    def rebuild(self, rules: Sequence[Rule], registry: VersionRegistry | None = None) -> Matcher:
        """Build a matcher for ``rules`` (slow) then swap it in (one assignment)."""
        with self._lock:  # two rebuilds racing would otherwise finish in either order
            matcher = Matcher(rules, registry)
            self.current = matcher
        return matcher

    def rebuild_in_background(
        self, rules: Sequence[Rule], registry: VersionRegistry | None = None
    ) -> threading.Thread:
        """Start :meth:`rebuild` in a thread and return it (``join`` to wait)."""
        thread = threading.Thread(target=self.rebuild, args=(rules, registry), daemon=True)
        thread.start()
        return thread
