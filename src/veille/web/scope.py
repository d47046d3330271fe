"""What a user may see: the rules of their teams' watch lists, and whether authors are masked.

Administrators see everything. Anyone else sees a rule only when one of their teams' watch
lists covers it (by id, by tag, or ``*``) — no team, no rule: deny by default. Alerts,
conversations and posts are visible through the rules that flagged them. A user whose every
watch list asks for pseudonymisation sees authors as keyed-HMAC pseudonyms and no post links.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from veille.store.accounts import User, WatchList


@dataclass(frozen=True, slots=True)
class Scope:
    everything: bool = False
    rules: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    pseudonymous: bool = False

    @classmethod
    def of(cls, user: User, lists: Sequence[WatchList]) -> Scope:
        if user.role == "admin":
            return cls(everything=True)
        return cls(
            everything=any("*" in w.rules for w in lists),
            rules=frozenset(r for w in lists for r in w.rules),
            tags=frozenset(t for w in lists for t in w.tags),
            pseudonymous=bool(lists) and all(w.pseudonymise for w in lists),
        )

    def sees_rule(self, rule: str, tags: Iterable[str] = ()) -> bool:
        return self.everything or rule in self.rules or not self.tags.isdisjoint(tags)

    def visible_rules(
        self, rules: Iterable[str], tags_of: Mapping[str, Sequence[str]]
    ) -> list[str]:
        """The rules of ``rules`` this scope sees (a rule's tags come from ``tags_of``)."""
        return [r for r in rules if self.sees_rule(r, tags_of.get(r, ()))]

    def sees_any(self, rules: Iterable[str], tags_of: Mapping[str, Sequence[str]]) -> bool:
        return any(self.sees_rule(r, tags_of.get(r, ())) for r in rules)


class Pseudonymiser:
    """Replaces an author by a stable pseudonym: HMAC-SHA256 of platform and author under a key.

    The same author gets the same pseudonym everywhere (so trends and threads still read), and
    nobody without the key can go back. Without a key, authors are hidden altogether.
    """

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def __call__(self, platform: str, author: str) -> str:
        if not author:
            return ""
        if not self._key:
            return "—"
        digest = hmac.new(self._key, f"{platform}\0{author}".encode(), hashlib.sha256)
        return "anon-" + digest.hexdigest()[:12]
