"""Server-side rendering: one Jinja2 environment with autoescaping on for every template.

Nothing a post, an author or a rule brings is ever marked safe: templates print values and
Jinja escapes them; highlighted text is built from (piece, highlighted) segments, each piece
escaped. Links to originals pass :func:`veille.web.schemas.safe_url` (http/https only).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from veille.web.authz import Permission
from veille.web.i18n import LANGUAGES, Translator, choose


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _short(value: datetime | None) -> str:
    return value.strftime("%d/%m %H:%M") if value else ""


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("veille.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["short"] = _short
    env.filters["urlpart"] = lambda v: quote(str(v), safe="")
    env.globals["Permission"] = Permission
    env.globals["LANGUAGES"] = LANGUAGES
    return env


def top_pages(app: Any) -> frozenset[str]:
    from veille.web.app import top_pages as pages

    return pages(app)


def context(request: Request, **values: Any) -> dict[str, Any]:
    """What every template can use: the translator, the user, CSRF token, current path."""
    principal = getattr(request.state, "principal", None)
    web = request.app.state.web
    lang = choose(
        request,
        principal.user.lang if principal else "",
        web.settings.web.default_language,
    )
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return {
        "request_path": path,
        "lang": lang,
        "_": Translator(lang),
        "me": principal,
        "csrf": principal.csrf if principal else "",
        "can": (lambda p: principal is not None and principal.can(p)),
        "routes": top_pages(request.app),
        **values,
    }


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    html = environment().get_template(template).render(context(request, **values))
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(
    request: Request, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    if request.headers.get("hx-request"):
        # A fragment request: answer a fragment, the page around it stays.
        html = (
            environment()
            .get_template("_error.html")
            .render(context(request, status=status, message=message))
        )
        return HTMLResponse(html, status_code=status, headers=headers)
    return render(
        request, "error.html", status=status, headers=headers, status_code=status, message=message
    )
