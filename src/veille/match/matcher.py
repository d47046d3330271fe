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
from veille.rules.query import Prefix, Words
from veille.rules.rule import Rule
from veille.rules.versions import MemoryVersionRegistry, VersionRegistry

from .compile import Compiler, Context, Literals, Node
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
        enabled = [r for r in rules if r.enabled]
        versions = (registry or MemoryVersionRegistry()).assign(
            (r.id, r.query.source) for r in enabled
        )
        compiler = Compiler()
        self.rules: list[_Compiled] = []
        # Anchor literals get their own (small) automaton: the first scan of every post looks
        # only for them, so words that merely take part in a rule cost nothing on a miss.
        anchor_ids = Literals()
        by_anchor: list[list[int]] = []
        self._always: list[int] = []
        for index, rule in enumerate(enabled):
            node = compiler.compile(rule.query, rule.query.root, rule.evasion)
            self.rules.append(_Compiled(rule, versions[rule.id], node))
            anchors = node_anchors(rule.query.root)
            if anchors is None:
                self._always.append(index)
                continue
            for anchor in anchors:
                literals = [_anchor_literal(anchor)]
                if rule.evasion and anchor.kind in ("words", "prefix"):
                    literals.append(compiler.evasion_literal_of(_anchor_node(anchor)))
                for i, literal in enumerate(literals):
                    # The evasion view is scanned with the same anchor automaton; a tab marks
                    # its literals apart (no fold or skeleton ever contains one).
                    key = anchor_ids.id(literal if i == 0 else "\t" + literal)
                    if key == len(by_anchor):
                        by_anchor.append([])
                    by_anchor[key].append(index)
        self._by_anchor = by_anchor
        patterns = anchor_ids.patterns
        self._anchor_scanner = build_scanner([p for p in patterns if p[0] != "\t"], engine)
        self._anchor_ids = [i for i, p in enumerate(patterns) if p[0] != "\t"]
        ev_patterns = [p[1:] for p in patterns if p[0] == "\t"]
        self._evasion_anchor_scanner = build_scanner(ev_patterns, engine) if ev_patterns else None
        self._evasion_anchor_ids = [i for i, p in enumerate(patterns) if p[0] == "\t"]
        self._scanner = build_scanner(compiler.literals.patterns, engine)
        self._evasion_scanner = build_scanner(compiler.evasion_literals.patterns, engine)
        self._has_evasion = bool(compiler.evasion_literals.ids)
        self.literal_count = len(compiler.literals.ids) + len(compiler.evasion_literals.ids)

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
        ids = self._anchor_ids
        for _start, _end, pid in self._anchor_scanner.scan(f.scan):
            candidates.update(by_anchor[ids[pid]])
        evasion = None
        if self._evasion_anchor_scanner is not None:
            evasion = evasion_view(post.text, f)
            ids = self._evasion_anchor_ids
            for _start, _end, pid in self._evasion_anchor_scanner.scan(evasion.scan):
                candidates.update(by_anchor[ids[pid]])
        if not candidates and not self._always:
            return []
        candidates.update(self._always)
        # Second pass, only for posts with candidates: where every literal occurs.
        positions: dict[int, list[int]] = {}
        for start, _end, literal in self._scanner.scan(f.scan):
            positions.setdefault(literal, []).append(f.token_at(start + 1))
        ev_positions: dict[int, list[int]] = {}
        if evasion is None and self._has_evasion:
            evasion = evasion_view(post.text, f)
        if evasion is not None:
            for start, _end, literal in self._evasion_scanner.scan(evasion.scan):
                ev_positions.setdefault(literal, []).append(evasion.token_at(start + 1))
        ctx = Context(post, f, positions, evasion, ev_positions)
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
