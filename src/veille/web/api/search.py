"""Search the archive with the rule language, and export results as CSV (with a reason).

Every search is audited (who, the query, how many hits); an export also needs a written
justification, which goes to the audit log with it. Exported cells that a spreadsheet would
run as a formula are neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from veille.rules.parser import QueryError
from veille.store.search import SearchHit
from veille.web.api.common import Cursor, Limit, WebDep, decode_cursor, filtered_page
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.schemas import MatchOut, Page, PostOut, post_view, segments

router = APIRouter(tags=["search"])
Searcher = Annotated[Principal, Depends(Require(Permission.SEARCH))]
Exporter = Annotated[Principal, Depends(Require(Permission.EXPORT))]

FORMULA_STARTS: Final = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
"""First characters that make a spreadsheet evaluate a cell (ASCII and full-width forms)."""
MAX_OFFSET: Final = 5000


def neutralise(cell: str) -> str:
    """A CSV cell that Excel, LibreOffice and Sheets show as text, never run as a formula."""
    stripped = cell.lstrip(" \u00a0")
    if stripped and stripped[0] in FORMULA_STARTS:
        return "'" + cell
    return cell


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralise("" if v is None else str(v)) for v in row])
    return out.getvalue()


class SearchHitOut(BaseModel):
    post: PostOut
    match: MatchOut


class SearchPage(Page[SearchHitOut]):
    candidates: int = Field(0, description="Posts read and verified")
    complete: bool = Field(True, description="False when a bound stopped the search")


class ExportIn(BaseModel):
    q: str = Field(..., min_length=1, max_length=10_000)
    days: float = Field(30, gt=0, le=3660)
    reason: str = Field(..., min_length=10, max_length=2000, description="Why (audited)")


def _visible(web: Web, who: Principal, hit: SearchHit) -> bool:
    """Posts flagged only by rules the caller cannot see stay hidden from them."""
    if who.scope.everything or not hit.post.matches:
        return True
    tags = web.rulebook.tags()
    return who.scope.sees_any((m.match.rule for m in hit.post.matches), tags)


def run_search(
    web: Web, who: Principal, q: str, days: float, offset: int, limit: int
) -> tuple[list[SearchHit], str | None, int, bool]:
    if offset > MAX_OFFSET:
        raise ApiError(400, f"search pages stop after {MAX_OFFSET} results: narrow the query")
    since = web.clock() - timedelta(days=days)
    outcome: dict[str, object] = {}

    def fetch(n: int) -> list[SearchHit]:
        try:
            result = web.store.search(q, since=since, limit=n)
        except QueryError as exc:
            raise ApiError(
                422,
                f"query: {exc.message}",
                code="invalid_query",
                detail={"start": exc.start, "end": exc.end},
            ) from None
        outcome.update(candidates=result.candidates, complete=result.complete)
        return result.hits

    hits, nxt = filtered_page(fetch, lambda h: _visible(web, who, h), offset, limit)
    return hits, nxt, int(outcome.get("candidates", 0)), bool(outcome.get("complete", True))  # type: ignore[call-overload]


def hit_out(web: Web, who: Principal, hit: SearchHit) -> SearchHitOut:
    view = post_view(hit.post, who.scope, web.rulebook.tags(), web.pseudonymise)
    view = view.model_copy(update={"segments": segments(hit.post.post.text, hit.match.spans)})
    m = hit.match
    return SearchHitOut(
        post=view,
        match=MatchOut(
            rule=m.rule,
            version=m.version,
            spans=[(s, e) for s, e in m.spans],
            terms={t: [(s, e) for s, e in v] for t, v in m.terms.items()},
        ),
    )


@router.get("/search", response_model=SearchPage)
def search(
    web: WebDep,
    who: Searcher,
    q: Annotated[str, Query(min_length=1, max_length=10_000, description="Rule-language query")],
    days: Annotated[float, Query(gt=0, le=3660)] = 30,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SearchPage:
    """Posts of the last `days` days the query matches, newest first (audited)."""
    hits, nxt, candidates, complete = run_search(web, who, q, days, decode_cursor(cursor), limit)
    web.record(who, "search", q[:500], query=q, days=days, hits=len(hits))
    return SearchPage(
        items=[hit_out(web, who, h) for h in hits],
        next=nxt,
        candidates=candidates,
        complete=complete,
    )


def export_csv(web: Web, who: Principal, body: ExportIn) -> Response:
    hits, _, _, complete = run_search(
        web, who, body.q, body.days, 0, web.settings.web.export_max_rows
    )
    rows: list[list[object]] = [
        ["platform", "id", "created_at", "author", "text", "url", "lang", "rule", "matched"]
    ]
    for hit in hits:
        view = hit_out(web, who, hit).post
        rows.append(
            [
                view.platform,
                view.native_id,
                view.created_at.isoformat() if view.created_at else "",
                view.author.handle or view.author.id,
                view.text,
                view.url or "",
                view.lang,
                hit.match.rule,
                " | ".join(hit.match.terms),
            ]
        )
    web.record(
        who,
        "export",
        body.q[:500],
        reason=body.reason,
        query=body.q,
        days=body.days,
        rows=len(hits),
        complete=complete,
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Response(
        csv_text(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="veille-search-{stamp}.csv"'},
    )


@router.post(
    "/search/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The results as CSV"}},
)
def export(body: ExportIn, web: WebDep, who: Exporter) -> Response:
    """The results as CSV (at most `[web] export_max_rows`), with a justification (audited)."""
    return export_csv(web, who, body)
