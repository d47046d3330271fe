"""The Sources page: each live source's health and, first, what veille is blind to now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from veille.web.api.sources import source_list
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.pages.render import render

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW, page=True))]


@router.get("/sources")
def sources_page(request: Request, who: Viewer) -> Response:
    web: Web = request.app.state.web
    return render(request, "sources.html", title="Sources", sources=source_list(web))


@router.get("/sources/table")
def sources_table(request: Request, who: Viewer) -> Response:
    """The page's body alone, which the page reloads every 30 seconds (htmx)."""
    web: Web = request.app.state.web
    return render(request, "_sources.html", sources=source_list(web))
