"""The compiled matcher: literal prefilter, candidate rules, exact boolean check.

``Matcher(rules, registry)`` compiles a catalogue; ``matcher.match(post, folded=None)`` returns
:class:`veille.model.Match` records; :class:`MatcherHolder` swaps rebuilt matchers in atomically.
"""

from veille.match.matcher import Matcher, MatcherHolder, merge_spans

__all__ = ["Matcher", "MatcherHolder", "merge_spans"]
