"""Archive search in the rule language: full-text candidates, verified by the real matcher.

A query's *anchors* (literals at least one of which every matching post contains, see
:mod:`veille.rules.anchors`) become a full-text query over the folded text: FTS5 ``MATCH`` on
SQLite (an index of which posts hold each word, without positions: a phrase becomes all of its
words), ``to_tsvector @@ tsquery`` over the GIN index on PostgreSQL. Each candidate is then
checked with the compiled matcher, so the results are exactly the posts the rule would match
(filters, ``NOT``, ``NEAR``, regexes included). A query without anchors (only ``NOT``, filters,
regexes, or the evasion mode, which matches spellings no index holds) scans the time range
instead, up to a bound that the result reports.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import msgspec
import sqlalchemy as sa

from veille.match import Matcher
from veille.model import Match
from veille.rules import Anchor, Rule, anchors
from veille.store.reads import StoredPost, _with_matches
from veille.store.schema import posts

PAGE: Final = 500
"""Candidates fetched and verified at a time."""
MAX_SCAN: Final = 200_000
"""Most posts a search without anchors reads (the result says when it stopped there)."""
_INDEX_SEPARATORS: Final = re.compile(r"[^0-9A-Za-z@\x80-\U0010ffff]+")
"""Where the SQLite index's ``ascii`` tokenizer (``tokenchars '@'``) cuts words: at every ASCII
character but letters, digits and ``@``; any other character belongs to a word."""


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """A stored post the query matches, with the explanation (spans per term)."""

    post: StoredPost
    match: Match


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    """Matching posts, newest first, and how they were found."""

    hits: list[SearchHit]
    candidates: int
    """Posts read and verified."""
    indexed: bool
    """True when the full-text index chose the candidates; False for a scan."""
    complete: bool
    """False when ``limit`` or the scan bound stopped the search before the end."""


def search(
    engine: sa.Engine,
    query: str | Rule,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    include_deleted: bool = False,
    max_scan: int = MAX_SCAN,
) -> SearchResult:
    """Posts created in ``[since, until)`` that ``query`` matches, newest first.

    ``query`` is rule-language text (raises :class:`veille.rules.QueryError` with the
    position of a mistake) or a :class:`~veille.rules.Rule` (its evasion mode is honoured).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    rule = query if isinstance(query, Rule) else Rule.of("search", query)
    matcher = Matcher([dataclasses.replace(rule, enabled=True)])
    found = None if rule.evasion else anchors(rule.query)
    if found and not all(map(_index_words, found)):
        found = None  # a literal without letters or digits (``_``): no index holds it
    hits: list[SearchHit] = []
    candidates = 0
    complete = True
    for page in _pages(engine, found, since, until, include_deleted):
        for stored in page:
            candidates += 1
            for match in matcher.match(stored.post):
                hits.append(SearchHit(post=stored, match=match))
            if len(hits) >= limit or (found is None and candidates >= max_scan):
                complete = False
                break
        if not complete:
            break
    return SearchResult(
        hits=hits[:limit], candidates=candidates, indexed=found is not None, complete=complete
    )


def _pages(
    engine: sa.Engine,
    found: frozenset[Anchor] | None,
    since: datetime | None,
    until: datetime | None,
    include_deleted: bool,
) -> Iterator[list[StoredPost]]:
    """Candidate posts, newest stored first, a page at a time (keyset on the row id)."""
    if found is not None and not found:
        return  # the query can never match (a term without letters or digits)
    c = posts.c
    last: int | None = None
    while True:
        query = sa.select(posts).order_by(c.id.desc()).limit(PAGE)
        if found is not None:
            query = query.where(_full_text(engine.dialect.name, found))
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        if not include_deleted:
            query = query.where(c.deleted == sa.false())
        if last is not None:
            query = query.where(c.id < last)
        with engine.connect() as conn:
            rows = list(conn.execute(query))
            if not rows:
                return
            page = _with_matches(conn, rows)
        last = rows[-1].id
        yield page
        if len(rows) < PAGE:
            return


def _full_text(dialect: str, found: frozenset[Anchor]) -> Any:
    """The engine's full-text condition: any of the anchors occurs in the folded text."""
    if dialect == "sqlite":
        fts = sa.table("posts_fts", sa.column("rowid"))
        match = " OR ".join(_fts5_term(anchor) for anchor in sorted(found))
        condition = sa.text("posts_fts MATCH :fts_query").bindparams(fts_query=match)
        return posts.c.id.in_(sa.select(fts.c.rowid).where(condition))
    simple: Any = sa.literal_column("'simple'")
    terms: list[Any] = []
    for anchor in sorted(found):
        if anchor.kind == "prefix":
            lexeme = "'" + anchor.text.replace("'", "''") + "':*"
            terms.append(sa.func.to_tsquery(simple, sa.literal(lexeme)))
        else:
            terms.append(sa.func.phraseto_tsquery(simple, sa.literal(anchor.text)))
    tsquery: Any = terms[0]
    for term in terms[1:]:
        tsquery = tsquery.op("||")(term)
    return sa.func.to_tsvector(simple, posts.c.search_text).op("@@")(tsquery)


def _index_words(anchor: Anchor) -> list[str]:
    """The words the SQLite index holds for an anchor's text (its ``ascii`` tokenizer's cut)."""
    return [word for word in _INDEX_SEPARATORS.split(anchor.text) if word]


def _fts5_term(anchor: Anchor) -> str:
    """An anchor as an FTS5 condition: all of its words (the index keeps no positions, so a
    phrase is checked by the matcher), the last one as a prefix for a ``prefix`` anchor."""
    quoted = [f'"{word}"' for word in _index_words(anchor)]  # '"' is a separator: never inside
    if anchor.kind == "prefix":
        quoted[-1] += "*"
    return quoted[0] if len(quoted) == 1 else "(" + " AND ".join(quoted) + ")"
