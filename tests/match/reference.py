"""A deliberately naive reference matcher: brute force over the folded tokens of each post.

No prefilter, no literal tables, no candidate selection: every rule is evaluated against every
post by comparing token lists directly. The compiled matcher must agree with it exactly.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import re2

from veille.model import Match, Post, Span
from veille.normalise.fold import Folded, fold
from veille.normalise.fold_evasion import EvasionView, evasion_view, skeleton
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
    Prefix,
    Query,
    Regex,
    Words,
)
from veille.rules.rule import Rule

Occ = tuple[int, int, int, int]


class Reference:
    def __init__(self, post: Post, rule: Rule) -> None:
        self.post = post
        self.rule = rule
        self.query: Parsed = rule.query
        self.f: Folded = fold(post.text)
        self.ev: EvasionView | None = evasion_view(post.text, self.f) if rule.evasion else None

    def occurrences(self, node: Query) -> list[Occ]:
        toks, spans = self.f.tokens, self.f.spans
        out: list[Occ] = []
        if isinstance(node, Or):
            for child in node.children:
                out += self.occurrences(child)
            return out
        if isinstance(node, Words):
            want: list[str] = list(node.words)
        elif isinstance(node, Hashtag):
            want = [node.tag]
        elif isinstance(node, Mention):
            want = [node.handle]
        else:
            assert isinstance(node, Prefix)
            want = []
        k = max(len(want), 1)
        if isinstance(node, Words) and not want:
            return []
        for i in range(len(toks) - k + 1):
            if isinstance(node, Prefix):
                ok = toks[i].startswith(node.stem)
            else:
                ok = list(toks[i : i + k]) == want
            if isinstance(node, Hashtag):
                ok = ok and i in self.f.hashtags
            if ok:
                out.append((i, i + k - 1, spans[i][0], spans[i + k - 1][1]))
        if self.ev is not None and isinstance(node, Words | Prefix):
            words = self.ev.scan.split()
            for i in range(len(words) - k + 1):
                if isinstance(node, Prefix):
                    ok = words[i].startswith(skeleton(node.stem))
                else:
                    ok = words[i : i + k] == [skeleton(w) for w in want]
                if ok:
                    occ = (
                        self.ev.ranges[i][0],
                        self.ev.ranges[i + k - 1][1],
                        self.ev.spans[i][0],
                        self.ev.spans[i + k - 1][1],
                    )
                    if occ not in out:
                        out.append(occ)
        return out

    def near_pairs(self, node: Near) -> list[tuple[Query, Occ, Query, Occ]]:
        def leaves(n: Query) -> list[Query]:
            return [x for c in n.children for x in leaves(c)] if isinstance(n, Or) else [n]

        pairs = []
        for la in leaves(node.left):
            for lo in self.occurrences(la):
                for ra in leaves(node.right):
                    for ro in self.occurrences(ra):
                        if lo[1] < ro[0]:
                            ok = ro[0] - lo[1] - 1 <= node.distance
                        elif not node.ordered and ro[1] < lo[0]:
                            ok = lo[0] - ro[1] - 1 <= node.distance
                        else:
                            ok = False
                        if ok:
                            pairs.append((la, lo, ra, ro))
        return pairs

    def hosts(self) -> set[str]:
        urls = list(self.post.links)
        urls += [m.group(0) for m in re2.finditer(r"https?://[^\s/?#<>\"']+", self.post.text)]
        out = set()
        for url in urls:
            try:
                host = urlsplit(url).hostname
            except ValueError:
                continue
            if host:
                out.add(host.rstrip("."))
        return out

    def holds(self, node: Query) -> bool:
        post = self.post
        if isinstance(node, And):
            return all(self.holds(c) for c in node.children)
        if isinstance(node, Or):
            return any(self.holds(c) for c in node.children)
        if isinstance(node, Not):
            return not self.holds(node.child)
        if isinstance(node, Near):
            return bool(self.near_pairs(node))
        if isinstance(node, Filter):
            if node.field == "lang":
                lang = (post.lang or post.lang_hint).lower()
                return lang == node.value or lang.startswith(node.value + "-")
            if node.field == "platform":
                return post.platform.lower() == node.value
            if node.field == "author":
                return post.author.handle.lower().lstrip("@") == node.value
            return any(h == node.value or h.endswith("." + node.value) for h in self.hosts())
        if isinstance(node, Regex):
            return re2.compile(node.pattern, regex_options()).search(post.text) is not None
        return bool(self.occurrences(node))

    def explain(self, node: Query, out: dict[str, set[Span]]) -> None:
        if isinstance(node, And):
            for c in node.children:
                self.explain(c, out)
        elif isinstance(node, Or):
            for c in node.children:
                if self.holds(c):
                    self.explain(c, out)
        elif isinstance(node, Not | Filter):
            return
        elif isinstance(node, Near):
            for la, lo, ra, ro in self.near_pairs(node):
                out.setdefault(self.query.text(la), set()).add((lo[2], lo[3]))
                out.setdefault(self.query.text(ra), set()).add((ro[2], ro[3]))
        elif isinstance(node, Regex):
            regex = re2.compile(node.pattern, regex_options())
            spans = [m.span() for m in regex.finditer(self.post.text) if m.end() > m.start()]
            out.setdefault(self.query.text(node), set()).update(spans[:100])
        else:
            found = {(o[2], o[3]) for o in self.occurrences(node)}
            out.setdefault(self.query.text(node), set()).update(found)


def reference_match(post: Post, rules: list[Rule]) -> list[Match]:
    """Every rule ``post`` matches, computed the slow and obvious way."""
    out = []
    for rule in rules:
        if not rule.enabled:
            continue
        ref = Reference(post, rule)
        if ref.holds(rule.query.root):
            terms: dict[str, set[Span]] = {}
            ref.explain(rule.query.root, terms)
            merged: list[list[int]] = []
            for s, e in sorted(x for v in terms.values() for x in v):
                if merged and s <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], e)
                else:
                    merged.append([s, e])
            out.append(
                Match(
                    rule=rule.id,
                    version=1,
                    spans=tuple((s, e) for s, e in merged),
                    terms={k: tuple(sorted(v)) for k, v in terms.items() if v},
                )
            )
    return out
