"""The search page (rule language over the archive) and its CSV export with a justification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from veille.web.api.common import decode_cursor
from veille.web.api.search import ExportIn, export_csv, hit_out, run_search
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.pages.render import render

router = APIRouter(include_in_schema=False)
Searcher = Annotated[Principal, Depends(Require(Permission.SEARCH, page=True))]
Exporter = Annotated[Principal, Depends(Require(Permission.EXPORT, page=True))]


@router.get("/search")
def search_page(
    request: Request,
    who: Searcher,
    q: Annotated[str, Query(max_length=10_000)] = "",
    days: Annotated[float, Query(gt=0, le=3660)] = 30,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    web: Web = request.app.state.web
    hits, nxt, error, complete, candidates = [], None, "", True, 0
    if q.strip():
        try:
            found, nxt, candidates, complete = run_search(
                web, who, q, days, decode_cursor(cursor), limit
            )
            hits = [hit_out(web, who, h) for h in found]
            web.record(who, "search", q[:500], query=q, days=days, hits=len(hits))
        except ApiError as exc:
            error = exc.message
    return render(
        request,
        "search.html",
        title="Search",
        q=q,
        days=days,
        hits=hits,
        next=nxt,
        limit=limit,
        error=error,
        complete=complete,
        candidates=candidates,
    )


@router.post("/search/export")
def export_page(
    request: Request,
    who: Exporter,
    q: Annotated[str, Form(max_length=10_000)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    days: Annotated[float, Form(gt=0, le=3660)] = 30,
) -> Response:
    """Download the results as CSV; refuses without a justification of 10 characters or more."""
    try:
        body = ExportIn(q=q, days=days, reason=reason.strip())
    except ValidationError:
        raise ApiError(422, "say why you export (10 characters at least): it is audited") from None
    return export_csv(request.app.state.web, who, body)
