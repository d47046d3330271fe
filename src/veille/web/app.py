"""The web application: JSON API under ``/api`` (OpenAPI at ``/api/docs``) and the dashboard."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from veille import __version__
from veille.clock import Clock, utcnow
from veille.config import Settings
from veille.store import Store
from veille.web import errors
from veille.web.api import admin as api_admin
from veille.web.api import alerts as api_alerts
from veille.web.api import conversations as api_conversations
from veille.web.api import draft as api_draft
from veille.web.api import rules as api_rules
from veille.web.api import search as api_search
from veille.web.api import sources as api_sources
from veille.web.api import trends as api_trends
from veille.web.auth import Public
from veille.web.context import Web
from veille.web.oidc import check_teams
from veille.web.pages import auth as pages_auth
from veille.web.pages import draft as pages_draft
from veille.web.pages import inbox as pages_inbox
from veille.web.pages import oidc as pages_oidc
from veille.web.pages import search as pages_search
from veille.web.pages import sources as pages_sources
from veille.web.pages import temperature as pages_temperature
from veille.web.pages import workspace as pages_workspace
from veille.web.pages.render import render
from veille.web.rulebook import Rulebook
from veille.web.schemas import ErrorOut
from veille.web.security import SecurityHeaders

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": description}
    for code, description in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (403, "Not allowed (role, or CSRF)"),
        (404, "Not found, or not visible to you"),
        (409, "Conflict"),
        (422, "Invalid request"),
    )
}

API_DESCRIPTION = """\
The JSON API of veille: everything the dashboard shows and does.

Authenticate with an API token (`Authorization: Bearer vt_…`, created on your account page or
with `veille users token`) or, from the dashboard, with the session cookie plus the
`X-CSRF-Token` header on writes. Every error is `{"error": {"code", "message", "detail"?}}`.
Lists are paged: pass the `next` of a page as `cursor` (or `before` for the audit log).
"""

Extension = Callable[[FastAPI, Web, APIRouter, APIRouter], None]
"""Adds routes for an optional part: ``(app, web, api_router, pages_router)``."""


def create_app(
    settings: Settings,
    store: Store,
    *,
    clock: Clock = utcnow,
    rulebook: Rulebook | None = None,
    extensions: Sequence[Extension] = (),
    ingest: APIRouter | None = None,
) -> FastAPI:
    """Build the application over an open store.

    ``ingest`` is the HTTP ingest source's router (``POST /ingest``), mounted as is: it keeps
    its own bearer token.
    """
    app = FastAPI(
        title="veille",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    web = make_web(settings, store, clock=clock, rulebook=rulebook)
    app.state.web = web
    errors.install(app)
    app.add_middleware(
        SecurityHeaders,
        force_hsts=settings.web.base_url.startswith("https:"),
        csp=lambda: app.state.web.csp,
    )

    api = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
    for module in (
        api_alerts,
        api_conversations,
        api_search,
        api_rules,
        api_trends,
        api_sources,
        api_admin,
        api_draft,
    ):
        api.include_router(module.router)
    pages = APIRouter(include_in_schema=False)
    for page_module in (
        pages_auth,
        pages_oidc,
        pages_inbox,
        pages_search,
        pages_temperature,
        pages_sources,
        pages_workspace,
        pages_draft,
    ):
        pages.include_router(page_module.router)
    for extend in extensions:
        extend(app, web, api, pages)
    _public_routes(app, pages)
    app.include_router(api)
    app.include_router(pages)
    if ingest is not None:
        app.include_router(ingest)
    static = files("veille.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


def make_web(
    settings: Settings, store: Store, *, clock: Clock = utcnow, rulebook: Rulebook | None = None
) -> Web:
    """The services behind the app (``app.state.web``); a ``[web.oidc]`` mapping naming a
    team that does not exist is refused here, at start."""
    web = Web(
        settings=settings,
        store=store,
        rulebook=rulebook or Rulebook(settings.rules.paths, store.versions),
        clock=clock,
    )
    check_teams(web.accounts, settings.web.oidc)
    return web


def _public_routes(app: FastAPI, pages: APIRouter) -> None:
    @pages.get("/", dependencies=[Depends(Public())])
    async def home(request: Request) -> Response:
        return RedirectResponse("/inbox" if "/inbox" in top_pages(app) else "/conversations", 303)

    @pages.get("/healthz", dependencies=[Depends(Public())])
    async def health() -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    @pages.get("/api/docs", dependencies=[Depends(Public())])
    async def api_docs(request: Request) -> Response:
        return render(request, "api_docs.html", title="API")

    del home, health, api_docs


def route_table(app: FastAPI) -> list[tuple[str, frozenset[str], BaseRoute]]:
    """Every route of the app as ``(path, methods, route)``, included routers flattened."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers became lazy
        return [
            (getattr(r, "path", ""), frozenset(getattr(r, "methods", None) or ()), r)
            for r in app.routes
        ]
    return [
        (
            ctx.path or "",
            frozenset(getattr(ctx.original_route, "methods", None) or ()),
            ctx.original_route,
        )
        for ctx in iter_route_contexts(app.routes)
    ]


def top_pages(app: FastAPI) -> frozenset[str]:
    """The dashboard's top-level pages (for the navigation), computed once."""
    pages: frozenset[str] | None = getattr(app.state, "pages", None)
    if pages is None:
        pages = frozenset(path for path, _, _ in route_table(app) if path.count("/") == 1)
        app.state.pages = pages
    return pages
