"""Watch rules: the query language, rule files, validation and explanation.

Public API: :class:`Rule`, :func:`parse` / :class:`QueryError`, :func:`load_rules` (raises
:class:`RuleFileError` with located diagnostics) and :func:`load` (collects them),
:func:`check` (warnings), :func:`anchors` (presearcher literals), :class:`VersionRegistry`
and :class:`MemoryVersionRegistry`. The language is documented in docs/rules.md.
"""

from veille.rules.anchors import Anchor, anchors
from veille.rules.check import check
from veille.rules.files import Diagnostic, Loaded, RuleFileError, load, load_rules
from veille.rules.parser import QueryError, parse
from veille.rules.rule import Rule
from veille.rules.versions import MemoryVersionRegistry, VersionRegistry

__all__ = [
    "Anchor",
    "Diagnostic",
    "Loaded",
    "MemoryVersionRegistry",
    "QueryError",
    "Rule",
    "RuleFileError",
    "VersionRegistry",
    "anchors",
    "check",
    "load",
    "load_rules",
    "parse",
]
