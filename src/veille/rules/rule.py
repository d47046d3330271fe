"""A watch rule: an id, a parsed query, a severity and the analyst's metadata."""

from __future__ import annotations

from dataclasses import dataclass

from veille.model import SEVERITIES, Severity
from veille.rules.parser import parse
from veille.rules.query import Parsed


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``[[rule]]`` of a rule file (or built in code with :meth:`Rule.of`)."""

    id: str
    query: Parsed
    severity: Severity = "medium"
    name: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: str = ""
    enabled: bool = True
    evasion: bool = False
    """Also match leetspeak (``4tt3nt4t``) and spaced-out letters (``a.t.t.e.n.t.a.t``)."""
    file: str = ""
    line: int = 0
    """Where the rule was defined (its ``[[rule]]`` header), for messages."""

    @classmethod
    def of(cls, id: str, query: str, **fields: object) -> Rule:
        """Build a rule from query text; raises :class:`~veille.rules.parser.QueryError`."""
        severity = fields.get("severity", "medium")
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        return cls(id=id, query=parse(query), **fields)  # type: ignore[arg-type]

    @property
    def where(self) -> str:
        """``file:line`` of the definition, or the id for rules built in code."""
        return f"{self.file}:{self.line}" if self.file else self.id
