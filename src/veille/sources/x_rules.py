"""Watch rules as X API v2 filtered-stream rules: ask X for at least what veille would match.

X delivers only the posts its stream rules match; veille's matcher then decides. So a translated
rule must never be *narrower* than the veille rule: what X cannot express is widened, never
dropped on the narrow side.

* terms and phrases become keywords and ``"phrases"`` (also as ``#tag``, since a veille term
  matches hashtags), each in its folded spelling and the spelling written in the rule; ``#tag``,
  ``@user``, ``author:`` (``from:``), ``domain:`` (``url:"…"``), ``lang:``, ``OR``, grouping and
  ``NOT`` (``-``) translate directly;
* ``prefix*``, ``/regex/``, ``NEAR/n`` (becomes AND) and Bluesky/Mastodon-style handles have no
  X operator: they are widened to "anything", and a ``NOT`` over something widened is dropped
  (negating a wider set would narrow);
* ``platform:x`` is always true on X, another platform never: such a rule is not sent;
* a rule that widens to everything, or to nothing X accepts alone (only ``lang:`` or negations),
  is not sent and says why; one longer than X's limit is split on its top-level ``OR`` or loses
  its longest ``AND`` parts.

Known limits, stated in docs/sources.md: X matches accents exactly and knows no leetspeak, so
spellings veille folds together (``gendarmerie``/``gendärmerie``, evasion rules' ``p0lice``) are
asked for only as the rule writes them and in their plain folded form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

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
from veille.sources.x import StreamRule

_WORD: Final = re.compile(r"^\w+$")
_USERNAME: Final = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_DOMAIN: Final = re.compile(r"^[a-z0-9.-]+$")

Op = Literal["true", "false", "leaf", "and", "or", "not"]


@dataclass(frozen=True)
class _X:
    """A translated node. ``exact``: matches exactly the same X posts as the veille node (so it
    may be negated); ``standalone``: X accepts it without another operator beside it."""

    op: Op
    exact: bool
    standalone: bool = False
    text: str = ""
    children: tuple[_X, ...] = ()

    def render(self) -> str:
        if self.op == "leaf":
            return self.text
        if self.op == "not":
            return "-" + _grouped(self.children[0], in_and=False)
        if self.op == "and":
            return " ".join(_grouped(c, in_and=True) for c in self.children)
        if self.op == "or":
            return " OR ".join(_grouped(c, in_and=False) for c in self.children)
        raise ValueError(f"{self.op} has no X syntax")


def _grouped(node: _X, in_and: bool) -> str:
    text = node.render()
    wrap = node.op == "or" or (node.op == "and" and not in_and)
    return f"({text})" if wrap else text


TRUE: Final = _X("true", exact=True)
WIDE: Final = _X("true", exact=False)
FALSE: Final = _X("false", exact=True)


def _leaf(text: str, standalone: bool = True) -> _X:
    return _X("leaf", exact=True, standalone=standalone, text=text)


def _any(variants: Iterable[str]) -> _X:
    leaves = tuple(_leaf(v) for v in dict.fromkeys(variants))
    return leaves[0] if len(leaves) == 1 else _X("or", True, True, children=leaves)


def _and(children: Sequence[_X]) -> _X:
    if any(c.op == "false" for c in children):
        return FALSE
    exact = all(c.exact for c in children)
    kept = tuple(c for c in children if c.op != "true")
    if not kept:
        return TRUE if exact else WIDE
    if len(kept) == 1 and exact:
        return kept[0]
    flat: list[_X] = []
    for child in kept:
        flat += child.children if child.op == "and" else (child,)
    if len(flat) == 1:
        return _X(flat[0].op, exact, flat[0].standalone, flat[0].text, flat[0].children)
    return _X("and", exact, any(c.standalone for c in flat), children=tuple(flat))


def _or(children: Sequence[_X]) -> _X:
    trues = [c for c in children if c.op == "true"]
    if trues:
        return TRUE if any(c.exact for c in trues) else WIDE
    kept = tuple(c for c in children if c.op != "false")
    if not kept:
        return FALSE
    if not all(c.standalone for c in kept):
        return WIDE  # X refuses a branch like ``lang:fr`` alone under OR: widen instead
    exact = all(c.exact for c in kept)
    if len(kept) == 1:
        return kept[0]
    flat: list[_X] = []
    for child in kept:
        flat += child.children if child.op == "or" else (child,)
    return _X("or", exact, True, children=tuple(flat))


def _not(child: _X) -> _X:
    if child.op == "false":
        return TRUE
    if not child.exact:
        return WIDE
    if child.op == "true":
        return FALSE
    return _X("not", True, False, children=(child,))


def _spellings(parsed: Parsed, node: Words | Hashtag, folded: str) -> list[str]:
    """The folded spelling and, when X would see it differently, the one written in the rule."""
    written = parsed.text(node).strip('"').lstrip("#").lower()
    written = " ".join(written.split())
    out = [folded]
    if written != folded and all(_WORD.match(w) for w in written.split()):
        out.append(written)
    return out


def _node(parsed: Parsed, node: Query, notes: list[str]) -> _X:
    if isinstance(node, Words):
        variants = _spellings(parsed, node, " ".join(node.words))
        if len(node.words) == 1:
            return _any([*variants, *(f"#{v}" for v in variants)])
        return _any(f'"{v}"' for v in variants)
    if isinstance(node, Hashtag):
        return _any(f"#{v}" for v in _spellings(parsed, node, node.tag))
    if isinstance(node, Mention):
        handle = node.handle.removeprefix("@")
        if _USERNAME.match(handle):
            return _leaf(f"@{handle}")
        notes.append(f"{parsed.text(node)} is not an X username: widened")
        return WIDE
    if isinstance(node, Prefix):
        notes.append(f"{parsed.text(node)}: X has no prefix operator: widened")
        return WIDE
    if isinstance(node, Regex):
        notes.append("a /regex/ has no X operator: widened")
        return WIDE
    if isinstance(node, Filter):
        return _filter(node, notes)
    if isinstance(node, Near):
        notes.append("NEAR/n is sent as AND")
        near = _and([_node(parsed, node.left, notes), _node(parsed, node.right, notes)])
        return (
            near
            if near.op in ("true", "false")
            else _X(near.op, False, near.standalone, near.text, near.children)
        )
    if isinstance(node, And):
        return _and([_node(parsed, c, notes) for c in node.children])
    if isinstance(node, Or):
        return _or([_node(parsed, c, notes) for c in node.children])
    if isinstance(node, Not):
        return _not(_node(parsed, node.child, notes))
    raise TypeError(f"unknown query node {node!r}")


def _filter(node: Filter, notes: list[str]) -> _X:
    value = node.value
    if node.field == "platform":
        return TRUE if value == "x" else FALSE
    if node.field == "lang":
        if _WORD.match(value):
            return _leaf(f"lang:{value}", standalone=False)
        notes.append(f"lang:{value} is not an X language code: widened")
        return WIDE
    if node.field == "author":
        if _USERNAME.match(value.removeprefix("@")):
            return _leaf(f"from:{value.removeprefix('@')}")
        notes.append(f"author:{value} is not an X username: widened")
        return WIDE
    if _DOMAIN.match(value):
        # url: matches any part of a link: wider than veille's host test, so not exact
        return _X("leaf", exact=False, standalone=True, text=f'url:"{value}"')
    notes.append(f"domain:{value} cannot be sent to X: widened")
    return WIDE


@dataclass(frozen=True)
class Translation:
    """One watch rule as X stream rules: ``values`` empty when it is not sent (``note`` says
    why); ``exact`` when X will deliver no more than what the rule matches."""

    rule_id: str
    values: tuple[str, ...]
    exact: bool
    notes: tuple[str, ...] = field(default=())


def _shorten(node: _X, limit: int) -> _X | None:
    """Drop the longest AND parts until it fits (dropping an AND part only widens)."""
    while len(node.render()) > limit:
        if node.op != "and":
            return None
        parts = sorted(node.children, key=lambda c: len(c.render()), reverse=True)
        kept = None
        for victim in parts:
            rest = [c for c in node.children if c is not victim]
            if any(c.standalone for c in rest):
                kept = rest
                break
        if kept is None:
            return None
        node = _and(kept) if len(kept) > 1 else kept[0]
        node = _X(node.op, False, node.standalone, node.text, node.children)
    return node


def _fit(node: _X, limit: int) -> list[str] | None:
    """X rule values no longer than ``limit`` whose union is ``node`` or wider."""
    if len(node.render()) <= limit:
        return [node.render()]
    if node.op == "or":
        values: list[str] = []
        for child in node.children:
            part = _shorten(child, limit) if len(child.render()) > limit else child
            if part is None:
                return None
            # No parentheses around an OR part: OR is associative, and they could push a part
            # cut to the limit two characters over it.
            text = part.render()
            if values and len(values[-1]) + len(" OR ") + len(text) <= limit:
                values[-1] += " OR " + text
            else:
                values.append(text)
        return values
    shortened = _shorten(node, limit)
    return [shortened.render()] if shortened is not None else None


def translate(rule: Rule, max_length: int = 512) -> Translation:
    """The X stream rules asking for at least every X post ``rule`` matches."""
    notes: list[str] = []
    if rule.evasion:
        notes.append("evasion spellings (leetspeak, spaced letters) are not asked from X")
    node = _node(rule.query, rule.query.root, notes)
    if node.op == "false":
        return Translation(rule.id, (), True, ("never matches an X post",))
    if node.op == "true":
        reason = "nothing X can filter on: it would ask for the whole stream"
        return Translation(rule.id, (), False, (*notes, reason))
    if not node.standalone:
        reason = "X needs a term, #tag, @user, from: or url: that is not negated"
        return Translation(rule.id, (), False, (*notes, reason))
    values = _fit(node, max_length)
    if values is None:
        reason = f"cannot be cut to X's {max_length}-character limit"
        return Translation(rule.id, (), False, (*notes, reason))
    exact = node.exact and len(values) == 1 and values[0] == node.render()
    if len(values) > 1:
        notes.append(f"split into {len(values)} X rules (length limit)")
    return Translation(rule.id, tuple(values), exact and not rule.evasion, tuple(notes))


def stream_rules(
    rules: Sequence[Rule], tag_prefix: str = "veille:", max_length: int = 512, max_rules: int = 25
) -> tuple[list[StreamRule], list[str]]:
    """The stream rules for every enabled watch rule, and what could not be asked from X."""
    out: list[StreamRule] = []
    problems: list[str] = []
    for rule in sorted((r for r in rules if r.enabled), key=lambda r: r.id):
        translation = translate(rule, max_length)
        if not translation.values:
            if translation.notes != ("never matches an X post",):
                problems.append(f"{rule.id}: not sent to X: {'; '.join(translation.notes)}")
            continue
        for index, value in enumerate(translation.values):
            tag = f"{tag_prefix}{rule.id}" + (
                f"#{index + 1}" if len(translation.values) > 1 else ""
            )
            out.append(StreamRule(value=value, tag=tag))
    if len(out) > max_rules:
        dropped = sorted({r.tag for r in out[max_rules:]})
        problems.append(
            f"X allows {max_rules} rules: not sent: {', '.join(dropped)} "
            "(their posts reach veille only through other sources)"
        )
        out = out[:max_rules]
    return out, problems
